// AWS Signature Version 4 (header signing) with OpenSSL's HMAC-SHA256 and SHA-256.
//
// The canonical request follows the AWS rules: every path segment URI-encoded (RFC 3986
// unreserved characters kept); for every service but S3 the already-encoded path is encoded a
// second time, for S3 it is not; query parameters encoded and sorted; header names lower-cased,
// values trimmed with inner runs of spaces folded, sorted by name, and multiple values of one
// name joined by commas. The signed header list is exactly the headers given (sorted).
//
// THREADING: pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/sigv4.h"

namespace sluice::sink {

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty for long-term keys
  int64_t expires_at = 0;     // Unix seconds; 0: does not expire
};

// The SigV4 primitives signing and verifying share (core/sigv4.h).
using sigv4::CanonicalQueryString;
using sigv4::HmacSha256;
using sigv4::Sha256Hex;
using sigv4::SigningKey;
using sigv4::StringToSign;
using sigv4::UriEncode;

// Base64 of the raw MD5 of `data` (the Content-MD5 header).
std::string Md5Base64(std::string_view data);
// "20130524T000000Z" for a Unix time.
std::string AmzDate(std::time_t t);

struct SigV4Request {
  std::string_view method;
  // The URI path as sent on the wire: already percent-encoded (for S3 use UriEncode(key, true)).
  std::string path;
  // Query parameters, raw (not encoded); they are encoded for the canonical query string.
  std::vector<std::pair<std::string, std::string>> query;
  // Headers to sign and send; Host must be among them. Sign() appends x-amz-date,
  // x-amz-content-sha256 (when `s3` or not already present), x-amz-security-token and
  // Authorization.
  std::vector<std::pair<std::string, std::string>> headers;
  // Hex SHA-256 of the body, or "UNSIGNED-PAYLOAD".
  std::string payload_hash;
};

struct SigV4Scope {
  std::string region;
  std::string service;  // "s3", "es", "firehose", ...
  std::time_t now = 0;  // signing time
};

// The canonical request of `req`, exposed for tests and debugging (the other pieces of a
// signature are core/sigv4.h's, above).
std::string CanonicalRequest(const SigV4Request& req, bool s3);

// Adds the signing headers to `req` (see SigV4Request::headers) and returns the value of the
// Authorization header it added. `req.headers` must not already hold x-amz-date or
// Authorization.
std::string Sign(SigV4Request* req, const AwsCredentials& creds, const SigV4Scope& scope);

}  // namespace sluice::sink
