// AWS Signature Version 4 verification of incoming requests (Authorization header form), with
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
  std::vector<SigV4Credential> credentials_;
  std::string service_;
  const Clock* clock_;
  int64_t max_skew_ms_;
};

}  // namespace sluice::broker::api
