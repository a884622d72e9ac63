// The transform hook of a delivery: Firehose's Lambda data-transformation contract. A batch is
// cut into events of at most `transform.buffer.size` bytes of record data (1 MiB by default, so
// each stays under Lambda's 6 MB payload cap), each answered record by record:
//   in:  {"invocationId","deliveryStreamArn","region","records":[{"recordId",
//         "approximateArrivalTimestamp","data"(base64)}]}
//   out: {"records":[{"recordId","result":"Ok"|"Dropped"|"ProcessingFailed","data"(base64)}]}
// Every recordId must come back exactly once, or the whole invocation fails; a failed invocation
// is retried `retries` times, then every record of the chunk is ProcessingFailed.
// The kinds: exec_transform.h (a child process), http_transform.h (a URL), plugin_transform.h
// (an in-process plugin, records without JSON), lua_transform.h (a Lua function per record).
//
// THREADING: one Transform per delivery worker; not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
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

  // The delivery's sink type, named on the transform's log lines beside the delivery.
  void set_sink(std::string sink) { sink_ = std::move(sink); }

 protected:
  Transform() = default;
  // One chunk: appends one outcome per record to *out. By default as a Lambda event through
  // Invoke (with retries); a plugin transform calls its plugin instead.
  virtual void ApplyChunk(std::span<const TransformIn> records, std::vector<TransformOut>* out);
  // One invocation: the event in, the answer out. After a failure Reset() runs before a retry.
  virtual Status Invoke(const std::string& request, std::string* answer) = 0;
  virtual void Reset() {}

  std::string delivery_;
  std::string sink_;
  std::chrono::milliseconds timeout_{60000};
  int retries_ = 3;
  size_t max_event_bytes_ = 1u << 20;

 private:
  uint64_t invocations_ = 0;
};

}  // namespace sluice::buffer
