// AWS Signature Version 4 verification of incoming requests, in the Authorization header or
// presigned in the query string (X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Expires,
// X-Amz-SignedHeaders, X-Amz-Signature), with temporary credentials' x-amz-security-token, and
// the answers Kinesis gives when it fails. The canonical-request and signing steps are exposed
// so tests can check them against AWS's published SigV4 test-suite vectors.
//
// THREADING: SigV4Verifier is immutable after construction; Verify is const and thread-safe.
// Secrets are held in memory only and never appear in messages.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/http/http_server.h"

namespace sluice::broker::api {

struct SigV4Credential {
  std::string access_key_id;
  std::string secret_access_key;
  // Set: temporary credentials; every request must carry this x-amz-security-token (signed).
  std::string session_token;
};

struct AuthFailure {
  std::string type;  // MissingAuthenticationTokenException, IncompleteSignatureException, ...
  std::string message;
};

std::string Sha256Hex(std::string_view data);
// The canonical request: method, canonical URI, canonical query, canonical headers (only those
// named in `signed_headers`, "a;b;c"), signed headers, payload hash. URI and query are as sent.
std::string CanonicalRequest(std::string_view method, std::string_view target,
                             const http::Headers& headers, std::string_view signed_headers,
                             std::string_view payload_hash);
// HMAC chain: kSecret -> date -> region -> service -> "aws4_request", then the signature (hex).
std::string SignatureHex(std::string_view secret, std::string_view date, std::string_view region,
                         std::string_view service, std::string_view string_to_sign);

class SigV4Verifier final {
 public:
  SigV4Verifier(std::vector<SigV4Credential> credentials, std::string service, const Clock* clock,
                int64_t max_skew_ms);
  // nullopt when the request is signed by a known credential and the signature matches; then
  // `*which` (when given) is that credential's index in the constructor's vector.
  std::optional<AuthFailure> Verify(const http::HttpRequest& request,
                                    size_t* which = nullptr) const;

 private:
  // Both forms after their parameters are found: `target` is what the canonical request is made
  // of (a presigned one without X-Amz-Signature), `expires_s` < 0 for the header form.
  std::optional<AuthFailure> Check(const http::HttpRequest& req, std::string_view target,
                                   std::string_view credential, std::string_view date,
                                   int64_t expires_s, std::string_view signed_headers,
                                   std::string_view signature, const std::string* token,
                                   size_t* which) const;
  std::optional<AuthFailure> VerifyPresigned(const http::HttpRequest& req, size_t* which) const;

  std::vector<SigV4Credential> credentials_;
  std::string service_;
  const Clock* clock_;
  int64_t max_skew_ms_;
};

}  // namespace sluice::broker::api
