#include "broker/api/sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <map>

#include "core/sigv4.h"

namespace sluice::broker::api {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// Removes "." and ".." segments and empty segments, keeping a trailing slash.
std::string NormalizePath(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string_view::npos) next = path.size();
    std::string_view seg = path.substr(pos, next - pos);
    if (seg == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!seg.empty() && seg != ".") {
      parts.push_back(seg);
    }
    pos = next + 1;
  }
  std::string out;
  for (std::string_view p : parts) out.append("/").append(p);
  bool trailing = path.size() > 1 && path.back() == '/' && !parts.empty();
  if (out.empty() || trailing) out.push_back('/');
  return out;
}

// Parses "key=value, key=value" after the algorithm name.
std::map<std::string, std::string, std::less<>> AuthParams(std::string_view s) {
  std::map<std::string, std::string, std::less<>> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t comma = s.find(',', pos);
    if (comma == std::string_view::npos) comma = s.size();
    std::string_view part = s.substr(pos, comma - pos);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    size_t eq = part.find('=');
    if (eq != std::string_view::npos) out[std::string(part.substr(0, eq))] = part.substr(eq + 1);
    pos = comma + 1;
  }
  return out;
}

// "20150830T123600Z" -> ms since epoch, or -1.
int64_t ParseAmzDate(std::string_view s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return -1;
  for (size_t i = 0; i < 15; i++) {
    if (i != 8 && (s[i] < '0' || s[i] > '9')) return -1;
  }
  auto num = [&](size_t at, size_t n) {
    int v = 0;
    for (size_t i = 0; i < n; i++) v = v * 10 + (s[at + i] - '0');
    return v;
  };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(4, 2) - 1;
  tm.tm_mday = num(6, 2);
  tm.tm_hour = num(9, 2);
  tm.tm_min = num(11, 2);
  tm.tm_sec = num(13, 2);
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

}  // namespace

std::string Sha256Hex(std::string_view data) { return sigv4::Sha256Hex(data); }

std::string CanonicalRequest(std::string_view method, std::string_view target,
                             const http::Headers& headers, std::string_view signed_headers,
                             std::string_view payload_hash) {
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
  std::string out(method);
  out.push_back('\n');
  out += sigv4::UriEncode(NormalizePath(PercentDecode(path)), true);
  out.push_back('\n');
  std::vector<std::pair<std::string, std::string>> params;  // decoded, as the client had them
  size_t pos = 0;
  while (!query.empty() && pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view kv = query.substr(pos, amp - pos);
    if (!kv.empty()) {
      size_t eq = kv.find('=');
      params.emplace_back(PercentDecode(kv.substr(0, eq)),
                          eq == std::string_view::npos ? "" : PercentDecode(kv.substr(eq + 1)));
    }
    pos = amp + 1;
  }
  out += sigv4::CanonicalQueryString(params);
  out.push_back('\n');
  size_t start = 0;
  while (start <= signed_headers.size()) {
    size_t semi = signed_headers.find(';', start);
    if (semi == std::string_view::npos) semi = signed_headers.size();
    std::string_view name = signed_headers.substr(start, semi - start);
    std::string value;
    bool first = true;
    for (const auto& [k, v] : headers) {
      if (k != name) continue;
      if (!first) value.push_back(',');
      value += sigv4::CanonicalHeaderValue(v);
      first = false;
    }
    out.append(name).append(":").append(value).append("\n");
    start = semi + 1;
  }
  out.push_back('\n');
  out.append(signed_headers).append("\n").append(payload_hash);
  return out;
}

std::string SignatureHex(std::string_view secret, std::string_view date, std::string_view region,
                         std::string_view service, std::string_view string_to_sign) {
  return sigv4::SignatureHex(sigv4::SigningKey(secret, date, region, service), string_to_sign);
}

SigV4Verifier::SigV4Verifier(std::vector<SigV4Credential> credentials, std::string service,
                             const Clock* clock, int64_t max_skew_ms)
    : credentials_(std::move(credentials)),
      service_(std::move(service)),
      clock_(clock),
      max_skew_ms_(max_skew_ms) {}

std::optional<AuthFailure> SigV4Verifier::Verify(const http::HttpRequest& req,
                                                 size_t* which) const {
  const std::string* auth = req.Header("authorization");
  if (auth == nullptr) {
    if (req.target.find("X-Amz-Signature=") != std::string::npos ||
        req.target.find("X-Amz-Algorithm=") != std::string::npos) {
      return VerifyPresigned(req, which);
    }
    return AuthFailure{"MissingAuthenticationTokenException", "Missing Authentication Token"};
  }
  constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256 ";
  if (std::string_view(*auth).substr(0, kAlgorithm.size()) != kAlgorithm) {
    return AuthFailure{"IncompleteSignatureException",
                       "Authorization header must start with 'AWS4-HMAC-SHA256 ' (SigV4)."};
  }
  auto params = AuthParams(std::string_view(*auth).substr(kAlgorithm.size()));
  std::string missing;
  for (const char* p : {"Credential", "Signature", "SignedHeaders"}) {
    if (params.find(p) == params.end()) {
      missing += std::string(missing.empty() ? "" : " ") + "Authorization header requires '" + p +
                 "' parameter.";
    }
  }
  const std::string* date = req.Header("x-amz-date");
  if (date == nullptr) date = req.Header("date");
  if (date == nullptr) {
    missing += std::string(missing.empty() ? "" : " ") +
               "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
               "header.";
  }
  if (!missing.empty()) return AuthFailure{"IncompleteSignatureException", missing};
  const std::string* token = req.Header("x-amz-security-token");
  if (token != nullptr) {
    // The token must be part of what was signed.
    std::string_view sh = params["SignedHeaders"];
    bool signed_token = false;
    for (size_t pos = 0; pos <= sh.size();) {
      size_t semi = sh.find(';', pos);
      if (semi == std::string_view::npos) semi = sh.size();
      if (sh.substr(pos, semi - pos) == "x-amz-security-token") signed_token = true;
      pos = semi + 1;
    }
    if (!signed_token) {
      return AuthFailure{"IncompleteSignatureException",
                         "'x-amz-security-token' must be a signed header."};
    }
  }
  return Check(req, req.target, params["Credential"], *date, -1, params["SignedHeaders"],
               params["Signature"], token, which);
}

std::optional<AuthFailure> SigV4Verifier::VerifyPresigned(const http::HttpRequest& req,
                                                          size_t* which) const {
  // The query's parameters, decoded; the canonical request is made of the target without
  // X-Amz-Signature, as the signer had it.
  size_t q = req.target.find('?');
  std::string_view query = q == std::string::npos ? "" : std::string_view(req.target).substr(q + 1);
  std::map<std::string, std::string, std::less<>> p;
  std::string unsigned_target =
      req.target.substr(0, q == std::string::npos ? req.target.size() : q);
  bool first = true;
  for (size_t pos = 0; pos <= query.size();) {
    size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view kv = query.substr(pos, amp - pos);
    pos = amp + 1;
    if (kv.empty()) continue;
    size_t eq = kv.find('=');
    std::string key = PercentDecode(kv.substr(0, eq));
    std::string value = eq == std::string_view::npos ? "" : PercentDecode(kv.substr(eq + 1));
    if (key == "X-Amz-Signature") {
      p[key] = value;
      continue;
    }
    if (key.rfind("X-Amz-", 0) == 0) p[key] = value;
    unsigned_target += first ? "?" : "&";
    unsigned_target += kv;
    first = false;
  }
  std::string missing;
  for (const char* k : {"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                        "X-Amz-SignedHeaders", "X-Amz-Signature"}) {
    if (p.find(k) == p.end()) {
      missing += std::string(missing.empty() ? "" : " ") +
                 "AWS query-string parameters must "
                 "include '" +
                 k + "'.";
    }
  }
  if (!missing.empty()) return AuthFailure{"IncompleteSignatureException", missing};
  if (p["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256") {
    return AuthFailure{"IncompleteSignatureException",
                       "X-Amz-Algorithm must be AWS4-HMAC-SHA256 (SigV4)."};
  }
  const std::string& expires = p["X-Amz-Expires"];
  char* end = nullptr;
  long long secs = std::strtoll(expires.c_str(), &end, 10);
  if (expires.empty() || end != expires.c_str() + expires.size() || secs < 1 || secs > 604800) {
    return AuthFailure{"IncompleteSignatureException",
                       "X-Amz-Expires must be a number of seconds from 1 to 604800."};
  }
  auto token_it = p.find("X-Amz-Security-Token");
  const std::string* token = token_it == p.end() ? nullptr : &token_it->second;
  return Check(req, unsigned_target, p["X-Amz-Credential"], p["X-Amz-Date"], secs,
               p["X-Amz-SignedHeaders"], p["X-Amz-Signature"], token, which);
}

std::optional<AuthFailure> SigV4Verifier::Check(const http::HttpRequest& req,
                                                std::string_view target, std::string_view cred,
                                                std::string_view date, int64_t expires_s,
                                                std::string_view signed_headers,
                                                std::string_view given, const std::string* token,
                                                size_t* which) const {
  // Credential=AKID/20150830/us-east-1/service/aws4_request
  std::vector<std::string_view> parts;
  for (size_t pos = 0; pos <= cred.size();) {
    size_t slash = cred.find('/', pos);
    if (slash == std::string_view::npos) slash = cred.size();
    parts.push_back(cred.substr(pos, slash - pos));
    pos = slash + 1;
  }
  if (parts.size() != 5 || parts[4] != "aws4_request") {
    return AuthFailure{"IncompleteSignatureException",
                       "Credential must have exactly 5 slash-delimited elements, e.g. "
                       "keyid/date/region/service/aws4_request."};
  }
  const SigV4Credential* key = nullptr;
  for (const SigV4Credential& c : credentials_) {
    if (c.access_key_id == parts[0]) key = &c;
  }
  if (key == nullptr) {
    return AuthFailure{"UnrecognizedClientException",
                       "The security token included in the request is invalid."};
  }
  // Temporary credentials need their token; long-term keys take none.
  const bool token_ok =
      key->session_token.empty()
          ? token == nullptr
          : token != nullptr && token->size() == key->session_token.size() &&
                CRYPTO_memcmp(token->data(), key->session_token.data(), token->size()) == 0;
  if (!token_ok) {
    return AuthFailure{"UnrecognizedClientException",
                       "The security token included in the request is invalid."};
  }
  if (parts[3] != service_) {
    return AuthFailure{"InvalidSignatureException",
                       "Credential should be scoped to correct service: '" + service_ + "'."};
  }
  int64_t when = ParseAmzDate(date);
  if (when < 0 || date.substr(0, 8) != parts[1]) {
    return AuthFailure{"IncompleteSignatureException",
                       "X-Amz-Date must be YYYYMMDD'T'HHMMSS'Z' and match the credential scope's "
                       "date."};
  }
  int64_t now = clock_->NowMs();
  if (expires_s < 0) {
    if (when < now - max_skew_ms_ || when > now + max_skew_ms_) {
      return AuthFailure{"InvalidSignatureException", "Signature expired: " + std::string(date) +
                                                          " is more than " +
                                                          std::to_string(max_skew_ms_ / 60000) +
                                                          " minutes away from the server's time."};
    }
  } else if (when > now + max_skew_ms_ || now > when + expires_s * 1000) {
    return AuthFailure{"InvalidSignatureException",
                       "Signature expired: the request was presigned at " + std::string(date) +
                           " for " + std::to_string(expires_s) + " seconds."};
  }
  const std::string* content_sha = req.Header("x-amz-content-sha256");
  std::string payload =
      content_sha && *content_sha == "UNSIGNED-PAYLOAD" ? *content_sha : Sha256Hex(req.body);
  std::string creq = CanonicalRequest(req.method, target, req.headers, signed_headers, payload);
  std::string scope = std::string(parts[1]) + "/" + std::string(parts[2]) + "/" +
                      std::string(parts[3]) + "/aws4_request";
  std::string to_sign = sigv4::StringToSign(date, scope, creq);
  std::string expected =
      SignatureHex(key->secret_access_key, parts[1], parts[2], parts[3], to_sign);
  if (given.size() != expected.size() ||
      CRYPTO_memcmp(given.data(), expected.data(), expected.size()) != 0) {
    return AuthFailure{"InvalidSignatureException",
                       "The request signature we calculated does not match the signature you "
                       "provided. Check your AWS Secret Access Key and signing method. Consult "
                       "the service documentation for details."};
  }
  if (which != nullptr) *which = static_cast<size_t>(key - credentials_.data());
  return std::nullopt;
}

}  // namespace sluice::broker::api
