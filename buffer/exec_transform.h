// The `exec` transform hook: a long-lived child process speaking Firehose's Lambda
// data-transformation contract, one JSON event per line on its stdin and one answer per line on
// its stdout:
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
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

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
};

class ExecTransform final {
 public:
  static Result<std::unique_ptr<ExecTransform>> Create(std::vector<std::string> argv,
                                                       std::string delivery,
                                                       std::chrono::milliseconds timeout,
                                                       int retries);
  ~ExecTransform();
  ExecTransform(const ExecTransform&) = delete;
  ExecTransform& operator=(const ExecTransform&) = delete;

  // One outcome per input, in order. Never fails as a whole: failures become kProcessingFailed.
  std::vector<TransformOut> Apply(std::span<const TransformIn> records);

  // Parses an answer line against the request's ids (exposed for tests).
  static Status ParseAnswer(std::string_view line, std::span<const TransformIn> records,
                            std::vector<TransformOut>* out);

 private:
  ExecTransform() = default;
  Status Spawn();
  void Kill();
  Status Invoke(const std::string& request, std::string* answer);

  std::vector<std::string> argv_;
  std::string delivery_;
  std::chrono::milliseconds timeout_{60000};
  int retries_ = 3;
  pid_t pid_ = -1;
  int in_fd_ = -1;       // child's stdin
  int out_fd_ = -1;      // child's stdout
  std::string pending_;  // bytes read past the last answer line
  uint64_t invocations_ = 0;
};

}  // namespace sluice::buffer
