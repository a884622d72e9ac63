#include "plugins/common/http_client.h"

#include <curl/curl.h>
#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <mutex>

namespace sluice::sink {
namespace {

std::once_flag g_curl_init;

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* resp = static_cast<HttpResponse*>(user);
  std::string_view line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    resp->headers.clear();  // a new (final or interim) response starts
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name(line.substr(0, colon));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
    value.remove_suffix(1);
  }
  resp->headers.emplace_back(std::move(name), std::string(value));
  return size * n;
}

bool Retryable(CURLcode code) {
  switch (code) {
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_NOT_BUILT_IN:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_UNKNOWN_OPTION:
      return false;
    default:
      return true;  // connect, resolve, timeouts, resets, TLS: the peer may come back
  }
}

}  // namespace

std::string_view HttpResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return {};
}

uint32_t RetryAfterMs(std::string_view value) {
  if (value.empty() || value.size() > 9) return 0;
  uint32_t s = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return 0;
    s = s * 10 + static_cast<uint32_t>(c - '0');
  }
  return std::min<uint32_t>(s, 3600) * 1000;
}

Result<std::unique_ptr<HttpClient>> HttpClient::Create(const HttpOptions& options) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<HttpClient> c(new HttpClient(options));
  c->curl_ = curl_easy_init();
  if (!c->curl_) return Internal("curl_easy_init failed");
  return c;
}

HttpClient::~HttpClient() {
  if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

Result<HttpResponse> HttpClient::Send(const HttpRequest& request) {
  CURL* h = static_cast<CURL*>(curl_);
  // Reset keeps live connections, the TLS session cache and the DNS cache.
  curl_easy_reset(h);
  HttpResponse resp;
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout_ms));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout_ms));
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
                   options_.http2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(h, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, options_.insecure_skip_verify ? 0L : 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, options_.insecure_skip_verify ? 0L : 2L);
  if (!options_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_file.c_str());
  if (!options_.ca_path.empty()) curl_easy_setopt(h, CURLOPT_CAPATH, options_.ca_path.c_str());
  if (!options_.proxy.empty()) {
    curl_easy_setopt(h, CURLOPT_PROXY, options_.proxy.c_str());
  } else if (!options_.use_env_proxy) {
    curl_easy_setopt(h, CURLOPT_PROXY, "");  // an empty proxy disables the environment's
  }
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp.body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &resp);

  std::string_view m = request.method;
  if (m == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (m == "GET" && request.body.empty()) {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else {
    std::string method(m);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
    if (!request.body.empty() || m == "POST" || m == "PUT") {
      // POSTFIELDS does not copy; curl rewinds it itself when a request must be resent.
      // Never NULL: a NULL POSTFIELDS makes curl read the body from its read callback (stdin).
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.empty() ? "" : request.body.data());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size()));
    }
  }
  curl_slist* list = nullptr;
  std::string line;
  bool has_content_type = false;
  for (const auto& [k, v] : request.headers) {
    line.assign(k);
    if (v.empty()) {
      line += ";";  // curl's way of sending an empty header
    } else {
      line += ": ";
      line += v;
    }
    if (k.size() == 12 && strncasecmp(k.c_str(), "content-type", 12) == 0) has_content_type = true;
    list = curl_slist_append(list, line.c_str());
  }
  // No form Content-Type for raw bodies, and no Expect: 100-continue round trip.
  if (!has_content_type) list = curl_slist_append(list, "Content-Type:");
  list = curl_slist_append(list, "Expect:");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
  CURLcode rc = curl_easy_perform(h);
  curl_slist_free_all(list);
  if (rc != CURLE_OK) {
    std::string msg = std::string(curl_easy_strerror(rc));
    if (errbuf[0]) msg += std::string(": ") + errbuf;
    msg = std::string(m) + " " + request.url + ": " + msg;
    return Retryable(rc) ? Unavailable(std::move(msg)) : InvalidArgument(std::move(msg));
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp.status);
  return resp;
}

}  // namespace sluice::sink
