#include "plugins/common/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/md5.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>

#include "core/base64.h"

namespace sluice::sink {
namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr char kHexUpper[] = "0123456789ABCDEF";

std::string Hex(const unsigned char* p, size_t n) {
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[p[i] >> 4];
    out[2 * i + 1] = kHex[p[i] & 15];
  }
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Trims and folds runs of spaces into one, as the canonical header value requires.
std::string TrimFold(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::string UriEncode(std::string_view s, bool keep_slash) {
  std::string out;
  out.reserve(s.size() + s.size() / 4);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~' || (c == '/' && keep_slash)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHexUpper[c >> 4]);
      out.push_back(kHexUpper[c & 15]);
    }
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  return Hex(md, sizeof(md));
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  return std::string(reinterpret_cast<char*>(md), len);
}

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

std::string CanonicalQueryString(const std::vector<std::pair<std::string, std::string>>& query) {
  std::vector<std::pair<std::string, std::string>> enc;
  enc.reserve(query.size());
  for (const auto& [k, v] : query) enc.emplace_back(UriEncode(k, false), UriEncode(v, false));
  std::sort(enc.begin(), enc.end());
  std::string out;
  for (const auto& [k, v] : enc) {
    if (!out.empty()) out.push_back('&');
    out += k;
    out.push_back('=');
    out += v;
  }
  return out;
}

namespace {

// Sorted (name, joined values) pairs.
std::vector<std::pair<std::string, std::string>> CanonicalHeaders(
    const std::vector<std::pair<std::string, std::string>>& headers) {
  std::vector<std::pair<std::string, std::string>> h;
  for (const auto& [k, v] : headers) h.emplace_back(Lower(k), TrimFold(v));
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

std::string StringToSign(std::string_view amz_date, std::string_view credential_scope,
                         std::string_view canonical_request) {
  std::string out = "AWS4-HMAC-SHA256\n";
  out += amz_date;
  out.push_back('\n');
  out += credential_scope;
  out.push_back('\n');
  out += Sha256Hex(canonical_request);
  return out;
}

std::string SigningKey(std::string_view secret, std::string_view date, std::string_view region,
                       std::string_view service) {
  std::string k = HmacSha256("AWS4" + std::string(secret), date);
  k = HmacSha256(k, region);
  k = HmacSha256(k, service);
  return HmacSha256(k, "aws4_request");
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
  std::string mac = HmacSha256(key, to_sign);
  std::string auth =
      "AWS4-HMAC-SHA256 Credential=" + creds.access_key_id + "/" + scope_text +
      ", SignedHeaders=" + SignedHeaderList(CanonicalHeaders(req->headers)) +
      ", Signature=" + Hex(reinterpret_cast<const unsigned char*>(mac.data()), mac.size());
  req->headers.emplace_back("Authorization", auth);
  return auth;
}

}  // namespace sluice::sink
