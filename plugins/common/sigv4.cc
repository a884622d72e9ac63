#include "plugins/common/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/md5.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>

#include "core/base64.h"
#include "core/sigv4.h"

namespace sluice::sink {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string Md5Base64(std::string_view data) {
  unsigned char md[16];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_md5(), nullptr);
  return Base64Encode(std::string_view(reinterpret_cast<char*>(md), len));
}

std::string AmzDate(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

namespace {

// Sorted (name, joined values) pairs.
std::vector<std::pair<std::string, std::string>> CanonicalHeaders(
    const std::vector<std::pair<std::string, std::string>>& headers) {
  std::vector<std::pair<std::string, std::string>> h;
  for (const auto& [k, v] : headers) h.emplace_back(Lower(k), sigv4::CanonicalHeaderValue(v));
  std::stable_sort(h.begin(), h.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& kv : h) {
    if (!out.empty() && out.back().first == kv.first) {
      out.back().second += ",";
      out.back().second += kv.second;
    } else {
      out.push_back(std::move(kv));
    }
  }
  return out;
}

std::string SignedHeaderList(const std::vector<std::pair<std::string, std::string>>& canon) {
  std::string out;
  for (const auto& kv : canon) {
    if (!out.empty()) out.push_back(';');
    out += kv.first;
  }
  return out;
}

}  // namespace

std::string CanonicalRequest(const SigV4Request& req, bool s3) {
  std::string out(req.method);
  out.push_back('\n');
  std::string path = req.path.empty() ? "/" : req.path;
  out += s3 ? path : UriEncode(path, true);
  out.push_back('\n');
  out += CanonicalQueryString(req.query);
  out.push_back('\n');
  auto canon = CanonicalHeaders(req.headers);
  for (const auto& [k, v] : canon) {
    out += k;
    out.push_back(':');
    out += v;
    out.push_back('\n');
  }
  out.push_back('\n');
  out += SignedHeaderList(canon);
  out.push_back('\n');
  out += req.payload_hash;
  return out;
}

std::string Sign(SigV4Request* req, const AwsCredentials& creds, const SigV4Scope& scope) {
  const bool s3 = scope.service == "s3";
  std::string amz_date = AmzDate(scope.now);
  std::string date = amz_date.substr(0, 8);
  req->headers.emplace_back("X-Amz-Date", amz_date);
  bool has_sha = false;
  for (const auto& kv : req->headers) {
    if (Lower(kv.first) == "x-amz-content-sha256") has_sha = true;
  }
  if (s3 && !has_sha) req->headers.emplace_back("x-amz-content-sha256", req->payload_hash);
  if (!creds.session_token.empty()) {
    req->headers.emplace_back("X-Amz-Security-Token", creds.session_token);
  }
  std::string scope_text = date + "/" + scope.region + "/" + scope.service + "/aws4_request";
  std::string canonical = CanonicalRequest(*req, s3);
  std::string to_sign = StringToSign(amz_date, scope_text, canonical);
  std::string key = SigningKey(creds.secret_access_key, date, scope.region, scope.service);
  std::string auth = "AWS4-HMAC-SHA256 Credential=" + creds.access_key_id + "/" + scope_text +
                     ", SignedHeaders=" + SignedHeaderList(CanonicalHeaders(req->headers)) +
                     ", Signature=" + sigv4::SignatureHex(key, to_sign);
  req->headers.emplace_back("Authorization", auth);
  return auth;
}

}  // namespace sluice::sink
