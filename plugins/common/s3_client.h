// S3Client: the S3 protocol for the s3 and redshift sinks: PutObject, multipart upload (create,
// parts, complete; abort on failure; each part retried on its own), HeadBucket, and the pure
// classification of S3 answers.
//
// Every request carries Content-MD5 and x-amz-content-sha256 and is signed with SigV4 (our own
// signer, plugins/common/sigv4.h). Keys are URI-encoded as S3 requires (RFC 3986 unreserved kept,
// '/' kept, everything else %XY of its UTF-8 bytes).
//
// THREADING: not thread-safe; one S3Client per sink instance. OWNERSHIP: object bytes are views
// of the caller's memory, valid during the call; nothing is copied.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "plugins/common/aws_credentials.h"
#include "plugins/common/http_client.h"
#include "plugins/common/sink_util.h"

namespace sluice::s3 {

struct S3Config {
  std::string bucket;
  std::string region = "us-east-1";
  std::string endpoint;  // "" : https://s3.<region>.amazonaws.com
  bool force_path_style = false;
  sink::AwsCredentialsConfig credentials;
  std::string sse;         // "" | "AES256" | "aws:kms"
  std::string kms_key_id;  // with sse = aws:kms; "" : the bucket's default key
  std::string storage_class;
  std::string tags;  // "k1=v1&k2=v2", raw values (encoded here)
  uint64_t multipart_threshold = 16ull << 20;
  uint64_t part_size = 8ull << 20;  // at least 5 MiB
  int part_attempts = 3;            // tries per part before the upload is aborted
  int64_t part_backoff_ms = 200;    // first back-off between part tries (doubles, full jitter)
  sink::HttpOptions http;
};

// What an S3 answer means for the delivery: plugins/common's SinkVerdict (error_code is
// "S3.SlowDown", "Http.503", "Transport", ...; error_message the server's message or curl's).
using S3Outcome = sink::SinkVerdict;

// Pure: classifies an HTTP status and S3 XML error body. 2xx without an <Error> body is ok;
// SlowDown, InternalError, RequestTimeout, ServiceUnavailable, BadDigest and 408/429/5xx retry;
// AccessDenied, NoSuchBucket, InvalidAccessKeyId, SignatureDoesNotMatch, ExpiredToken and
// 401/403/404 retry loudly; InvalidArgument and other 4xx reject.
S3Outcome ClassifyS3Response(long status, std::string_view body, std::string_view retry_after);

// "Content-Type" and "Content-Encoding" for a host codec ("", gzip, zip, snappy,
// hadoop_snappy) and the configured type of the uncompressed data.
struct ContentHeaders {
  std::string type;
  std::string encoding;  // "" : none
};
ContentHeaders ContentHeadersFor(std::string_view codec, std::string_view base_type);

class S3Client final {
 public:
  // `now` is the signing clock (tests may pass their own); null: time(nullptr).
  static Result<std::unique_ptr<S3Client>> Create(const S3Config& config,
                                                  std::function<std::time_t()> now = nullptr);

  struct PutOptions {
    std::string content_type = "application/octet-stream";
    std::string content_encoding;
    // User metadata: each becomes an x-amz-meta-<name> header. Bytes outside printable ASCII
    // in a value are sent %XX-encoded (S3 keeps metadata as US-ASCII).
    std::vector<std::pair<std::string, std::string>> metadata;
  };
  // Writes `data` under `key`: one PutObject below the threshold, else a multipart upload.
  S3Outcome Put(std::string_view key, std::string_view data, const PutOptions& opts);
  // HEAD the bucket: reachable and allowed.
  S3Outcome HeadBucket();

  // The URL of `key` (encoded) as this client addresses it, and its Host header.
  std::string ObjectUrl(std::string_view key) const;
  const S3Config& config() const { return config_; }
  int requests_sent() const { return requests_; }

 private:
  S3Client() = default;
  S3Outcome PutObject(std::string_view key, std::string_view data, const PutOptions& opts);
  S3Outcome Multipart(std::string_view key, std::string_view data, const PutOptions& opts);
  // Signs and sends one request; `query` raw; body hashed and MD5'd here.
  S3Outcome Send(std::string_view method, std::string_view key,
                 std::vector<std::pair<std::string, std::string>> query,
                 std::vector<sink::HttpHeader> headers, std::string_view body,
                 sink::HttpResponse* response);
  void AddObjectHeaders(const PutOptions& opts, std::vector<sink::HttpHeader>* headers) const;

  S3Config config_;
  std::string scheme_;  // "https://"
  std::string host_;    // host[:port] of the endpoint (without the bucket)
  std::unique_ptr<sink::HttpClient> http_;
  std::unique_ptr<sink::AwsCredentialsProvider> creds_;
  std::function<std::time_t()> now_;
  uint64_t rng_ = 0x9E3779B97F4A7C15ull;
  int requests_ = 0;
};

}  // namespace sluice::s3
