// The AWS JSON protocol (`application/x-amz-json-1.1` with an `X-Amz-Target` header), as the
// kinesis and firehose sinks call it: a signed client, and the reading of batch answers
// (PutRecords, PutRecordBatch) whose records each succeed or fail.
//
// THREADING: AwsJsonClient is used by one sink instance (calls never overlap); the functions are
// pure.
#pragma once

#include <rapidjson/document.h>

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "plugins/common/aws_credentials.h"
#include "plugins/common/http_client.h"

namespace sluice::sink {

// The string member `name` of a JSON object, or "" (absent, not a string, not an object).
std::string JsonStringMember(const rapidjson::Value& v, const char* name);

struct AwsJsonConfig {
  std::string service;   // the signing name: "kinesis", "firehose"
  std::string region;    // signing region
  std::string endpoint;  // base URL; empty: https://<service>.<region>.amazonaws.com
  // The protocol version: 1.1 for Kinesis and Firehose, 1.0 for DynamoDB.
  std::string content_type = "application/x-amz-json-1.1";
  AwsCredentialsConfig credentials;
  HttpOptions http;
};

class AwsJsonClient final {
 public:
  // Errors name what is wrong: an endpoint that is not an http(s) URL without a path,
  // credentials that cannot be found, an HTTP option curl refuses.
  static Result<std::unique_ptr<AwsJsonClient>> Create(const AwsJsonConfig& config);

  // POSTs `body` with `X-Amz-Target: <target>`, signed. An HTTP error status is a response; a
  // transport failure or missing credentials is an error (kUnavailable).
  Result<HttpResponse> Call(std::string_view target, std::string_view body);
  // Calls in flight together (HttpClient::Start and Wait): `body` must stay valid until Wait
  // returns its slot.
  Status Start(size_t slot, std::string_view target, std::string_view body);
  std::pair<size_t, Result<HttpResponse>> Wait() { return http_->Wait(); }

  const std::string& url() const { return url_; }
  // The signed request of one call, for a caller that sends it itself (a streamed answer);
  // `body` must outlive it.
  Result<HttpRequest> Signed(std::string_view target, std::string_view body);

 private:
  AwsJsonClient() = default;
  std::string service_, region_, url_, host_, content_type_;
  std::unique_ptr<AwsCredentialsProvider> creds_;
  std::unique_ptr<HttpClient> http_;
};

// A call's share of a batch: items [first, first + count).
struct CallRange {
  size_t first, count;
};
// Splits `n` items (in order) into calls of at most `max_items` items and `max_bytes` bytes,
// `size_of(i)` being item i's share of the bytes. An item larger than max_bytes gets a call of
// its own (the caller refuses those before).
template <typename SizeOf>
std::vector<CallRange> PlanCalls(size_t n, size_t max_items, size_t max_bytes, SizeOf size_of) {
  std::vector<CallRange> calls;
  size_t first = 0, bytes = 0;
  for (size_t i = 0; i < n; ++i) {
    size_t size = size_of(i);
    size_t count = i - first;
    if (count > 0 && (count == max_items || bytes + size > max_bytes)) {
      calls.push_back({first, count});
      first = i;
      bytes = 0;
    }
    bytes += size;
  }
  if (first < n) calls.push_back({first, n - first});
  return calls;
}

// What a batch call's answer says.
struct AwsBatchAnswer {
  // The call itself: ok (each record's own result follows), or failed as a whole.
  bool call_ok = false;
  bool retry = true;       // when !call_ok: whether to retry (else the records are rejected)
  bool loud = false;       // when !call_ok: a failure of our configuration (credentials, stream)
  std::string error_code;  // when !call_ok: the exception's name, or "<Service>.<status>"
  std::string error_message;
  // When call_ok: one per record of the call, in order; an empty code is a success.
  struct Result {
    std::string error_code;
    std::string error_message;
  };
  std::vector<Result> records;
};

// Reads a batch answer: `status` 0 is no answer (the transport's message in `transport`);
// `results` names the array of per-record results ("Records", "RequestResponses") and `ok_field`
// the member a success has ("SequenceNumber", "RecordId"); `service` prefixes our own codes
// ("Kinesis.Transport", "Firehose.BadAnswer"). A 200 whose results do not add up is not a
// success.
AwsBatchAnswer ParseAwsBatchAnswer(long status, std::string_view body, size_t expected,
                                   std::string_view transport, const char* results,
                                   const char* ok_field, std::string_view service);

// A whole-call error answer: its short exception name ("com.amazonaws...#X" -> "X") and message,
// and whether to retry or say it loud (as AwsBatchAnswer).
AwsBatchAnswer ParseAwsError(long status, std::string_view body, std::string_view service);

// A sink's healthcheck by a describe call (DescribeStreamSummary, DescribeDeliveryStream): true
// on a 200; else false with *error naming the endpoint (`url`) when it did not answer, or `what`
// (e.g. "stream logs") and the service's error code and message.
bool HealthFromDescribe(const Result<HttpResponse>& resp, std::string_view service,
                        std::string_view url, std::string_view what, std::string* error);

}  // namespace sluice::sink
