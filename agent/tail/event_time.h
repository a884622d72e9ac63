// Event time: a log's own timestamp text parsed into milliseconds since the epoch (UTC).
//
// Formats: "rfc3339" (also ISO 8601 with a space for the T, any fraction digits, Z or +hh:mm or
// +hhmm, or no zone: then `utc_offset_s` applies), "epoch" (seconds, a fraction allowed),
// "epoch_ms", "epoch_us", "epoch_ns", "common_log" (nginx and Apache: 10/Oct/2000:13:55:36
// -0700), or a strptime(3) format in which %L stands for a fraction of a second (Fluent Bit's
// Time_Format). Parsing needs the whole text to be consumed (trailing blanks allowed).
//
// THREADING: a parser is immutable once made; Parse may run on any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sluice::agent {

class EventTimeParser final {
 public:
  // Refuses an empty format or a strptime format with no conversion.
  static Result<EventTimeParser> Create(std::string_view format, int32_t utc_offset_s = 0);

  // Milliseconds since the epoch, or nullopt when `text` is not in the format.
  std::optional<int64_t> Parse(std::string_view text) const;

 private:
  enum class Kind { kRfc3339, kEpoch, kEpochMs, kEpochUs, kEpochNs, kCommonLog, kStrptime };
  EventTimeParser() = default;
  std::optional<int64_t> ParseStrptime(std::string_view text) const;

  Kind kind_ = Kind::kRfc3339;
  int32_t utc_offset_s_ = 0;
  std::vector<std::string> parts_;  // kStrptime: the format split at each %L
};

// Days since 1970-01-01 of a proleptic Gregorian date (month 1..12).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d);

}  // namespace sluice::agent
