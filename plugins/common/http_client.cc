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

// The code of a started transfer that never reported done (curl_multi_perform failed).
constexpr int kUnfinished = -1;

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

// One request on an easy handle: what must live while it runs, and its answer.
struct HttpClient::Transfer {
  CURL* h = nullptr;
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_slist* list = nullptr;
  std::string method;
  HttpResponse resp;
  // Of a request started with Start(): its method and URL (for Finish's messages), whether it
  // runs in the multi handle, whether Wait has queued it as done.
  std::string verb, url;
  bool running = false, reported = false;

  Transfer() = default;
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;
  ~Transfer() { curl_slist_free_all(list); }
};

HttpClient::HttpClient(const HttpOptions& options) : options_(options) {}

Result<std::unique_ptr<HttpClient>> HttpClient::Create(const HttpOptions& options) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<HttpClient> c(new HttpClient(options));
  c->curl_ = curl_easy_init();
  if (!c->curl_) return Internal("curl_easy_init failed");
  return c;
}

HttpClient::~HttpClient() {
  if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
  for (auto& t : slots_) {
    if (t->h == nullptr) continue;
    if (t->running) curl_multi_remove_handle(static_cast<CURLM*>(multi_), t->h);
    curl_easy_cleanup(t->h);
  }
  if (multi_) curl_multi_cleanup(static_cast<CURLM*>(multi_));
}

void HttpClient::Prepare(const HttpRequest& request, Transfer* t) {
  CURL* h = t->h;
  // Reset keeps live connections, the TLS session cache and the DNS cache.
  curl_easy_reset(h);
  t->errbuf[0] = 0;
  t->resp = HttpResponse();
  curl_slist_free_all(t->list);
  t->list = nullptr;
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, t->errbuf);
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
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t->resp.body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t->resp);

  std::string_view m = request.method;
  if (m == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (m == "GET" && request.body.empty()) {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else {
    t->method.assign(m);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, t->method.c_str());
    if (!request.body.empty() || m == "POST" || m == "PUT") {
      // POSTFIELDS does not copy; curl rewinds it itself when a request must be resent.
      // Never NULL: a NULL POSTFIELDS makes curl read the body from its read callback (stdin).
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.empty() ? "" : request.body.data());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size()));
    }
  }
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
    t->list = curl_slist_append(t->list, line.c_str());
  }
  // No form Content-Type for raw bodies, and no Expect: 100-continue round trip.
  if (!has_content_type) t->list = curl_slist_append(t->list, "Content-Type:");
  t->list = curl_slist_append(t->list, "Expect:");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, t->list);
}

Result<HttpResponse> HttpClient::Finish(const HttpRequest& request, int code, Transfer* t) {
  if (code == kUnfinished) {
    return Unavailable(std::string(request.method) + " " + request.url +
                       ": the transfer did not finish (curl's multi interface failed)");
  }
  auto rc = static_cast<CURLcode>(code);
  if (rc != CURLE_OK) {
    long request_bytes = 0;  // the request's bytes written to the connection
    last_failure_sent_ =
        curl_easy_getinfo(t->h, CURLINFO_REQUEST_SIZE, &request_bytes) == CURLE_OK &&
        request_bytes > 0;
    std::string msg = std::string(curl_easy_strerror(rc));
    if (t->errbuf[0]) msg += std::string(": ") + t->errbuf;
    msg = std::string(request.method) + " " + request.url + ": " + msg;
    return Retryable(rc) ? Unavailable(std::move(msg)) : InvalidArgument(std::move(msg));
  }
  curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &t->resp.status);
  return std::move(t->resp);
}

Result<HttpResponse> HttpClient::Send(const HttpRequest& request) {
  Transfer t;
  t.h = static_cast<CURL*>(curl_);
  Prepare(request, &t);
  CURLcode rc = curl_easy_perform(t.h);
  return Finish(request, rc, &t);
}

Status HttpClient::Start(size_t slot, const HttpRequest& request) {
  if (!multi_) multi_ = curl_multi_init();
  if (!multi_) return Internal("curl_multi_init failed");
  while (slots_.size() <= slot) slots_.push_back(std::make_unique<Transfer>());
  Transfer& t = *slots_[slot];
  if (t.running) return Internal("HttpClient::Start: slot " + std::to_string(slot) + " is busy");
  if (t.h == nullptr) t.h = curl_easy_init();
  if (t.h == nullptr) return Internal("curl_easy_init failed");
  Prepare(request, &t);
  t.verb.assign(request.method);
  t.url = request.url;
  curl_easy_setopt(t.h, CURLOPT_PRIVATE, reinterpret_cast<void*>(slot));
  if (curl_multi_add_handle(static_cast<CURLM*>(multi_), t.h) != CURLM_OK) {
    return Internal("curl_multi_add_handle failed for " + request.url);
  }
  t.running = true;
  t.reported = false;
  ++running_;
  return Status::Ok();
}

std::pair<size_t, Result<HttpResponse>> HttpClient::Wait() {
  if (running_ == 0) return {SIZE_MAX, Internal("HttpClient::Wait: no request in flight")};
  auto* multi = static_cast<CURLM*>(multi_);
  // Every transfer has its own timeout (CURLOPT_TIMEOUT_MS), so one ends in time.
  while (done_.empty()) {
    int still = 0;
    if (curl_multi_perform(multi, &still) != CURLM_OK) {
      for (size_t i = 0; i < slots_.size(); ++i) {
        if (slots_[i]->running && !slots_[i]->reported) {
          slots_[i]->reported = true;
          done_.emplace_back(i, kUnfinished);
        }
      }
      break;
    }
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      void* priv = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
      auto slot = reinterpret_cast<size_t>(priv);
      if (slot < slots_.size() && !slots_[slot]->reported) {
        slots_[slot]->reported = true;
        done_.emplace_back(slot, msg->data.result);
      }
    }
    if (done_.empty()) curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
  }
  auto [slot, code] = done_.front();
  done_.pop_front();
  Transfer& t = *slots_[slot];
  curl_multi_remove_handle(multi, t.h);
  t.running = false;
  --running_;
  HttpRequest r;
  r.method = t.verb;
  r.url = t.url;
  return {slot, Finish(r, code, &t)};
}

}  // namespace sluice::sink
