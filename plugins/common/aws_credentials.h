// AwsCredentialsProvider: finds AWS credentials the way the AWS SDKs do, in order:
//   1. the sink's configuration (access_key_id + secret_access_key [+ session_token]);
//   2. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN;
//   3. the shared credentials file: AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, profile
//      AWS_PROFILE or "default";
//   4. EC2 instance metadata (IMDSv2: PUT a session token, then GET the role's credentials), at
//      AWS_EC2_METADATA_SERVICE_ENDPOINT or http://169.254.169.254; skipped when
//      AWS_EC2_METADATA_DISABLED=true. These are refreshed 5 minutes before they expire.
// The source is chosen once, at Create; a source that has a key id but no secret is an error.
//
// THREADING: not thread-safe; one provider per sink instance. Never logs secrets.
#pragma once

#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "plugins/common/http_client.h"
#include "plugins/common/sigv4.h"

namespace sluice::sink {

struct AwsCredentialsConfig {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
  std::string profile;  // empty: AWS_PROFILE, else "default"
};

class AwsCredentialsProvider final {
 public:
  enum class Source { kConfig, kEnvironment, kSharedFile, kInstanceMetadata };

  // `now` is the clock used for expiry (tests pass their own); null: time(nullptr).
  static Result<std::unique_ptr<AwsCredentialsProvider>> Create(
      const AwsCredentialsConfig& config, std::function<std::time_t()> now = nullptr);

  // The current credentials, fetching or refreshing them from instance metadata when needed.
  // Errors are kUnavailable (metadata unreachable: retry) with a readable message.
  Result<AwsCredentials> Get();

  Source source() const { return source_; }
  static std::string_view SourceName(Source s);

 private:
  AwsCredentialsProvider() = default;
  Status FetchFromMetadata();

  Source source_ = Source::kConfig;
  AwsCredentials creds_;
  std::string imds_endpoint_;
  std::unique_ptr<HttpClient> http_;
  std::function<std::time_t()> now_;
};

// Parses an INI-style shared credentials file and returns the named profile's keys
// (aws_access_key_id, aws_secret_access_key, aws_session_token). kNotFound when the profile
// or its key id is absent.
Result<AwsCredentials> ParseSharedCredentials(std::string_view text, std::string_view profile);

// Parses "2026-11-22T09:00:00Z" (IMDS Expiration) into Unix seconds; -1 when malformed.
int64_t ParseIso8601(std::string_view text);

}  // namespace sluice::sink
