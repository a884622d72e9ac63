// The parts of AWS Signature Version 4 that signing a request (plugins/common/sigv4, the sinks'
// client) and verifying one (broker/api/sigv4, the Kinesis/Firehose API) share, so that both
// canonicalise and derive keys the same way: URI encoding, canonical header values and query
// strings, hashing, the string to sign, the signing key and the signature.
//
// THREADING: pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::sigv4 {

// Lower-case hex of `n` bytes.
std::string Hex(const unsigned char* p, size_t n);
// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);
// Raw 32-byte HMAC-SHA256.
std::string HmacSha256(std::string_view key, std::string_view data);
// Percent-encodes `s` as SigV4 and S3 keys require: A-Z a-z 0-9 - . _ ~ are kept, '/' is kept
// when `keep_slash`, everything else becomes %XY (upper-case hex) byte by byte (UTF-8 as is).
std::string UriEncode(std::string_view s, bool keep_slash);
// A header value as the canonical request has it: trimmed, inner runs of spaces folded to one.
std::string CanonicalHeaderValue(std::string_view v);
// The canonical query string of raw (decoded) parameters: each name and value UriEncoded, sorted,
// joined with '&'.
std::string CanonicalQueryString(const std::vector<std::pair<std::string, std::string>>& query);
// "AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256 of the canonical request>".
std::string StringToSign(std::string_view amz_date, std::string_view credential_scope,
                         std::string_view canonical_request);
// The raw signing key of a day (YYYYMMDD), region and service.
std::string SigningKey(std::string_view secret, std::string_view date, std::string_view region,
                       std::string_view service);
// Lower-case hex HMAC-SHA256 of the string to sign under the signing key.
std::string SignatureHex(std::string_view signing_key, std::string_view string_to_sign);

}  // namespace sluice::sigv4
