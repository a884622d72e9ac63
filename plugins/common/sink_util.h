// Small pure helpers shared by the HTTP sinks (http, opensearch, splunk): list and map options,
// stable GUIDs, the common status-code retry rule and Firehose's back-off schedule.
// THREADING: pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/log.h"
#include "core/status.h"

namespace sluice::sink {

// A SLUICE_OPT_LIST value (JSON text of a YAML sequence, or "[scalar]") as strings. Numbers and
// booleans keep their text.
Result<std::vector<std::string>> ParseListOption(std::string_view text);

// Key/value pairs from a YAML map (JSON object text) or from a list of "key=value" or
// "Key: value" strings.
Result<std::vector<std::pair<std::string, std::string>>> ParseMapOption(std::string_view text);

// An http(s) URL cut into its parts: "https://host:9200/base" -> scheme "https", authority
// "host:9200" (the Host header), path "/base" (no trailing slash; "" for none).
struct UrlParts {
  std::string scheme, authority, path;
};
Result<UrlParts> SplitUrl(std::string_view url);

// A GUID-shaped id (8-4-4-4-12 lower-case hex) derived from `seed`: the same seed, the same id.
std::string StableGuid(std::string_view seed);

// `s` cut to `cap` bytes with "..." appended when it was longer (for error messages).
std::string Truncated(std::string_view s, size_t cap);

// The scalar at `path` ("a.b.c") of a JSON object record, as text: a string as it is, a number or
// a boolean as written. False when the record is not a JSON object, or the field is missing,
// null, an object or an array. For keys taken from a field of a record (kinesis, kafka).
bool JsonFieldText(std::string_view record, std::string_view path, std::string* out);

// A random GUID (version 4) from /dev/urandom.
std::string RandomGuid();

// The verdict shared by the sinks for an HTTP status outside their own protocol rules.
enum class Verdict { kOk, kRetry, kRetryLoud, kReject };

// What a sink makes of one answer of its destination: the one outcome type the sinks classify
// into (each may add what its protocol says more, e.g. HEC's ack id).
struct SinkVerdict {
  enum class Action { kOk, kRetry, kReject };
  Action action = Action::kOk;
  bool loud = false;            // a retry that points at our configuration: log it (LoudAttempt)
  uint32_t retry_after_ms = 0;  // RETRY: the least wait the destination asked for
  std::string error_code;       // RETRY/REJECT: e.g. "Http.503", "S3.SlowDown"
  std::string error_message;    // the destination's message, or the transport's
  // RETRY after a transport failure once the request was sent: the destination may have done it
  // (an object stored, its answer lost).
  bool maybe_done = false;
  bool ok() const { return action == Action::kOk; }
};

// Whether a failure of our own configuration (credentials, permissions, a missing bucket) is
// logged at this attempt of a batch: core/log.h's rule (the first and every tenth), the delivery
// engine's too.
using ::sluice::log::LoudAttempt;

// 2xx ok; 408, 429, 5xx and 0 (no answer) retry; 401 and 403 retry loudly (a misconfiguration
// must not spill data); other 4xx (and 1xx/3xx) reject.
Verdict VerdictForStatus(long status);

// Firehose's HTTP endpoint back-off: 1 s doubling per attempt (1-based), +/-15% jitter, capped at
// 120 s. `unit` is a uniform random number in [0, 1).
uint32_t FirehoseBackoffMs(uint32_t attempt, double unit);

}  // namespace sluice::sink
