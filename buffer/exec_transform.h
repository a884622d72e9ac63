// Transform hooks speaking Firehose's Lambda data-transformation contract. `exec`: a long-lived
// child process, one JSON event per line on its stdin and one answer per line on its stdout.
// `http`: each event POSTed to a URL in the Lambda invoke shape (a function under the Lambda
// runtime interface emulator works unchanged: .../2015-03-31/functions/function/invocations),
// the answer is the response body. Events carry at most `max_event_bytes` of record data
// (Firehose's transform buffer size, 1 MiB by default), so a batch may take several invocations
// and each stays under Lambda's 6 MB payload cap:
//   in:  {"invocationId","deliveryStreamArn","region","records":[{"recordId",
//         "approximateArrivalTimestamp","data"(base64)}]}
//   out: {"records":[{"recordId","result":"Ok"|"Dropped"|"ProcessingFailed","data"(base64)}]}
// Every recordId must come back exactly once, or the whole invocation fails. A failed or timed
// out invocation kills the child; the next one starts it again. After `retries` failed retries
// every record of the batch is ProcessingFailed.
//
// THREADING: one ExecTransform per delivery worker; not thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "buffer/plugin_host.h"
#include "core/status.h"

namespace sluice::buffer {

struct TransformIn {
  std::string_view record_id;
  int64_t arrival_ms = 0;
  std::string_view data;
};

struct TransformOut {
  enum class Result { kOk, kDropped, kProcessingFailed };
  Result result = Result::kProcessingFailed;
  std::string data;   // kOk: the new record
  std::string error;  // kProcessingFailed: why
  // kOk: metadata.partitionKeys of the answer (the !{partitionKeyFromLambda:k} values).
  std::map<std::string, std::string> partition_keys;
};

class Transform {
 public:
  virtual ~Transform() = default;
  Transform(const Transform&) = delete;
  Transform& operator=(const Transform&) = delete;

  // One outcome per input, in order: one invocation per chunk of at most `transform.buffer.size`
  // bytes of record data (at least one record). Never fails as a whole: failures become
  // kProcessingFailed.
  std::vector<TransformOut> Apply(std::span<const TransformIn> records);

  // Parses an answer against the request's ids (exposed for tests).
  static Status ParseAnswer(std::string_view line, std::span<const TransformIn> records,
                            std::vector<TransformOut>* out);

  static constexpr size_t kMaxPayloadBytes = 6'000'000;  // Lambda's synchronous payload cap

 protected:
  Transform() = default;
  // One chunk: appends one outcome per record to *out. By default as a Lambda event through
  // Invoke (with retries); a plugin transform calls its plugin instead.
  virtual void ApplyChunk(std::span<const TransformIn> records, std::vector<TransformOut>* out);
  // One invocation: the event in, the answer out. After a failure Reset() runs before a retry.
  virtual Status Invoke(const std::string& request, std::string* answer) = 0;
  virtual void Reset() {}

  std::string delivery_;
  std::chrono::milliseconds timeout_{60000};
  int retries_ = 3;
  size_t max_event_bytes_ = 1u << 20;

 private:
  uint64_t invocations_ = 0;
};

class ExecTransform final : public Transform {
 public:
  static Result<std::unique_ptr<ExecTransform>> Create(std::vector<std::string> argv,
                                                       std::string delivery,
                                                       std::chrono::milliseconds timeout,
                                                       int retries,
                                                       size_t max_event_bytes = 1u << 20);
  ~ExecTransform() override;

 private:
  ExecTransform() = default;
  Status Spawn();
  void Kill();
  Status Invoke(const std::string& request, std::string* answer) override;
  void Reset() override { Kill(); }
  // Reads what the child wrote to its standard error (non-blocking) and logs each whole line at
  // warn, in the daemon's format with the delivery named; at most kMaxStderrLines an invocation,
  // the others counted.
  void DrainStderr();

  static constexpr size_t kMaxAnswerBytes = 16u << 20;  // an answer line past it fails
  static constexpr int kMaxStderrLines = 20;

  std::vector<std::string> argv_;
  pid_t pid_ = -1;
  int in_fd_ = -1;           // child's stdin
  int out_fd_ = -1;          // child's stdout
  int err_fd_ = -1;          // child's stderr (non-blocking)
  std::string pending_;      // bytes read past the last answer line
  std::string err_pending_;  // stderr bytes past the last whole line
  int err_lines_ = 0;        // logged in this invocation
  uint64_t err_dropped_ = 0;
};

// POSTs each event (Content-Type: application/json) and takes the 2xx response body as the
// answer; other statuses, timeouts and connection failures are failed invocations.
class HttpTransform final : public Transform {
 public:
  static Result<std::unique_ptr<HttpTransform>> Create(std::string url, std::string delivery,
                                                       std::chrono::milliseconds timeout,
                                                       int retries,
                                                       size_t max_event_bytes = 1u << 20);
  ~HttpTransform() override;

 private:
  HttpTransform() = default;
  Status Invoke(const std::string& request, std::string* answer) override;
  void Reset() override;

  std::string url_;
  void* curl_ = nullptr;  // CURL*, kept for connection reuse
};

// An in-process transform plugin (SLUICE_KIND_TRANSFORM) through the same ABI: on_transform
// gets the records themselves (no JSON, no base64); a non-zero answer fails the invocation, which
// is retried, then every record is ProcessingFailed.
class PluginTransform final : public Transform {
 public:
  // `instance` must be an instance of a transform plugin.
  static Result<std::unique_ptr<PluginTransform>> Create(std::unique_ptr<SinkInstance> instance,
                                                         std::string delivery, int retries,
                                                         size_t max_event_bytes = 1u << 20);

 private:
  PluginTransform() = default;
  void ApplyChunk(std::span<const TransformIn> records, std::vector<TransformOut>* out) override;
  Status Invoke(const std::string&, std::string*) override {
    return Internal("a plugin transform is not invoked with JSON");
  }

  std::unique_ptr<SinkInstance> instance_;
  std::vector<std::string> ids_;
  std::vector<sluice_record> records_;
  std::vector<sluice_transform_output> outputs_;
};

}  // namespace sluice::buffer
