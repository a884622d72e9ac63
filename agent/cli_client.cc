#include "agent/cli_client.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <rapidjson/document.h>

#include <cstdio>
#include <vector>

#include "core/json.h"

namespace sluice::agent {
namespace {

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
};

}  // namespace

Result<HttpAnswer> AdminClient::Post(std::string_view path, const std::string& body,
                                     std::string_view target) const {
  static CurlGlobal global;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return Internal("curl_easy_init failed");
  std::string url = base_ + std::string(path);
  HttpAnswer answer;
  curl_slist* headers = nullptr;
  std::string target_header = "X-Amz-Target: " + std::string(target);
  if (!target.empty()) {
    headers = curl_slist_append(headers, target_header.c_str());
    headers = curl_slist_append(headers, "Content-Type: application/x-amz-json-1.1");
  }
  headers = curl_slist_append(headers, "X-Sluice-Admin: 1");
  std::string bearer;
  if (!auth_.token.empty()) {
    bearer = "Authorization: Bearer " + auth_.token;
    headers = curl_slist_append(headers, bearer.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer.body);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 120000L);
  if (!target.empty() || !body.empty() || path == "/reload") {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  if (headers) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  if (!auth_.unix_socket.empty()) {
    curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, auth_.unix_socket.c_str());
  } else if (tls_.on) {
    // Verified as any https peer (the defaults); a CA file replaces the system's anchors.
    if (!tls_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, tls_.ca_file.c_str());
    if (!tls_.cert_file.empty()) {
      curl_easy_setopt(curl, CURLOPT_SSLCERT, tls_.cert_file.c_str());
      curl_easy_setopt(curl, CURLOPT_SSLKEY, tls_.key_file.c_str());
    }
  }
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &answer.status);
  curl_slist_free_all(headers);
  OPENSSL_cleanse(bearer.data(), bearer.size());
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    return Unavailable("cannot reach the sluice admin endpoint at " +
                       (auth_.unix_socket.empty() ? base_ : "unix:" + auth_.unix_socket) + ": " +
                       curl_easy_strerror(rc) + " (is `sluice run` running? see --admin)");
  }
  return answer;
}

Result<HttpAnswer> AdminClient::Get(std::string_view path) const { return Post(path, "", ""); }

Result<std::string> AdminClient::Kinesis(std::string_view operation,
                                         const std::string& json) const {
  ASSIGN_OR_RETURN(HttpAnswer a, Post("/api", json, "Kinesis_20131202." + std::string(operation)));
  if (a.status / 100 == 2) return std::move(a.body);
  rapidjson::Document d;
  Status d_parsed = ParseJson(a.body, &d);
  std::string type, message = a.body;
  if (d_parsed.ok() && d.IsObject()) {
    if (d.HasMember("__type") && d["__type"].IsString()) type = d["__type"].GetString();
    for (const char* k : {"message", "Message"}) {
      if (d.HasMember(k) && d[k].IsString()) message = d[k].GetString();
    }
  }
  std::string text = std::string(operation) + ": " + (type.empty() ? "" : type + ": ") + message;
  if (a.status == 400 && type.find("ResourceNotFound") != std::string::npos) return NotFound(text);
  return InvalidArgument(text);
}

namespace {

// A left-aligned text table; numbers are right-aligned.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void Row(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string Render() const {
    std::vector<size_t> width;
    for (const auto& r : rows_) {
      for (size_t i = 0; i < r.size(); ++i) {
        if (width.size() <= i) width.push_back(0);
        width[i] = std::max(width[i], r[i].size());
      }
    }
    std::string out;
    for (const auto& r : rows_) {
      for (size_t i = 0; i < r.size(); ++i) {
        bool numeric = !r[i].empty() && (isdigit(static_cast<unsigned char>(r[i][0])) != 0);
        std::string pad(width[i] - r[i].size(), ' ');
        out += numeric && &r != &rows_[0] ? pad + r[i] : r[i] + pad;
        out += i + 1 < r.size() ? "  " : "";
      }
      while (!out.empty() && out.back() == ' ') out.pop_back();
      out += "\n";
    }
    return out;
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

std::string U(const rapidjson::Value& v, const char* key) {
  if (!v.HasMember(key)) return "";
  const rapidjson::Value& x = v[key];
  if (x.IsString()) return x.GetString();
  if (x.IsUint64()) return std::to_string(x.GetUint64());
  if (x.IsInt64()) return std::to_string(x.GetInt64());
  if (x.IsBool()) return x.GetBool() ? "true" : "false";
  if (x.IsNumber()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", x.GetDouble());
    return buf;
  }
  return "";
}

}  // namespace

Result<std::string> RenderStatusTable(const std::string& status_json) {
  rapidjson::Document d;
  Status d_parsed = ParseJson(status_json, &d);
  if (!d_parsed.ok() || !d.IsObject() || !d.HasMember("streams")) {
    return InvalidArgument("the daemon's /status is not the expected JSON");
  }
  std::string out = "sluice " + U(d, "version") + ", up " +
                    std::to_string(d["uptime_ms"].GetInt64() / 1000) + " s, config " +
                    U(d, "config") + " (generation " + U(d, "config_generation") + ")\n\n";
  Table streams({"STREAM", "MODE", "SHARD", "STATE", "RECORDS"});
  Table lag({"STREAM", "CONSUMER", "BEHIND", "ITERATOR_AGE_MS"});
  for (const auto& s : d["streams"].GetArray()) {
    bool first = true;
    for (const auto& sh : s["shards"].GetArray()) {
      streams.Row({first ? U(s, "name") : "", first ? U(s, "mode") : "", U(sh, "id"),
                   sh["open"].GetBool() ? "open" : "closed", U(sh, "end_offset")});
      first = false;
    }
    for (const auto& c : s["consumers"].GetArray()) {
      lag.Row({U(s, "name"), U(c, "name"), U(c, "behind"), U(c, "iterator_age_ms")});
    }
  }
  Table deliveries(
      {"DELIVERY", "STREAM", "SINK", "HEALTH", "DELIVERED", "BYTES", "SPILLED", "FRESHNESS_S"});
  for (const auto& x : d["deliveries"].GetArray()) {
    deliveries.Row({U(x, "name"), U(x, "stream"), U(x, "sink"), U(x, "health"),
                    U(x, "records_delivered"), U(x, "bytes_delivered"), U(x, "records_spilled"),
                    U(x, "data_freshness_s")});
  }
  Table files({"SOURCE", "FILE", "OFFSET", "SIZE", "BEHIND"});
  for (const auto& x : d["sources"].GetArray()) {
    for (const auto& f : x["files"].GetArray()) {
      files.Row({U(x, "name"), U(f, "path"), U(f, "offset"), U(f, "size"), U(f, "behind")});
    }
  }
  out +=
      streams.Render() + "\n" + lag.Render() + "\n" + deliveries.Render() + "\n" + files.Render();
  return out;
}

}  // namespace sluice::agent
