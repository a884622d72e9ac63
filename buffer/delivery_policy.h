// A sink's delivery policy (declared by its plugin, sluice_delivery_policy): buffering hint
// ranges and defaults, retry durations, error output type; how a delivery's options resolve
// against it; and the capped exponential back-off with full jitter used between attempts.
// Pure functions; thread-safe. No sink is named here: each plugin declares its own.
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
  std::string error_output_type;  // the !{firehose:error-output-type} value
  Millis call_timeout{600000};    // one call's age past which the delivery is degraded
};

// The policy of a sink that declares none: S3's ranges and defaults (Firehose's S3 destination)
// and the error output type "<sink_name>-failed".
SinkPolicy DefaultPolicy(std::string_view sink_name);
// Checks that a declared policy is consistent (min <= default <= max, a buffer size of at least
// one byte, an error output type of [A-Za-z0-9-]+).
Status CheckPolicy(const SinkPolicy& policy);

// The effective hints and retry duration of a delivery, checked against the ranges.
struct ResolvedPolicy {
  uint64_t buffer_size;
  Millis buffer_interval;
  Millis retry_duration;
  std::string error_output_type;
  Millis call_timeout;  // sink.call_timeout, else the policy's
  // The sink type's most retry duration: how long an object batch that may already be in the
  // sink (a replay, an upload whose answer was lost) is retried before it is spilled
  // (BatchSender::Send).
  Millis retry_max;
};
// Problems are appended to `issues` with the position of the key at fault; nullopt then.
std::optional<ResolvedPolicy> ResolvePolicy(const DeliveryOptions& options,
                                            const SinkPolicy& policy,
                                            std::vector<ConfigIssue>* issues);

// Capped exponential back-off with full jitter: attempt n (1-based) waits a uniform random time
// in [0, min(cap, base * 2^(n-1))].
struct Backoff {
  Millis base{1000};
  Millis cap{120000};
  Millis Delay(int attempt, std::mt19937_64* rng) const;
};

}  // namespace sluice::buffer
