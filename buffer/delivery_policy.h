// Per-sink-type policy: Firehose's buffering hint ranges and defaults, retry durations, error
// output type; and the capped exponential back-off with full jitter used between attempts.
// Pure functions; thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "buffer/delivery_options.h"
#include "core/status.h"

namespace sluice::buffer {

using Millis = std::chrono::milliseconds;

struct SinkPolicy {
  uint64_t size_min, size_max, size_default;
  Millis interval_min, interval_max, interval_default;
  Millis retry_max, retry_default;
  std::string_view error_output_type;  // the !{firehose:error-output-type} value
};

// The policy of a sink type: s3 and file (and unknown object sinks) as S3; http, splunk,
// opensearch and redshift as Firehose's destinations of those names.
const SinkPolicy& PolicyFor(std::string_view sink_type);

// The effective hints and retry duration of a delivery, checked against the ranges.
struct ResolvedPolicy {
  uint64_t buffer_size;
  Millis buffer_interval;
  Millis retry_duration;
  std::string error_output_type;
};
// Problems are appended to `issues` with the position of the key at fault; nullopt then.
std::optional<ResolvedPolicy> ResolvePolicy(const DeliveryOptions& options, const SinkPolicy& policy,
                                            std::vector<ConfigIssue>* issues);
// The same with the sink type's policy (PolicyFor), problems as one message.
Result<ResolvedPolicy> ResolvePolicy(const DeliveryOptions& options);

// Capped exponential back-off with full jitter: attempt n (1-based) waits a uniform random time
// in [0, min(cap, base * 2^(n-1))].
struct Backoff {
  Millis base{1000};
  Millis cap{120000};
  Millis Delay(int attempt, std::mt19937_64* rng) const;
};

}  // namespace sluice::buffer
