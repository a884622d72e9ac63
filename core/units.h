// Strict parsing and printing of durations ("250ms", "30s", "5m", "24h"), byte sizes ("512KiB",
// "5MiB", "1GiB", plain integers are bytes) and points in time. Used by the config loader and
// the command line; pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace sluice {

using Millis = std::chrono::milliseconds;

// Accepts <digits><unit> with unit one of ms, s, m, h, d; "0" alone means zero. Rejects signs,
// fractions, spaces, missing units, and values that overflow 64-bit milliseconds.
Result<Millis> ParseDuration(std::string_view text);
// Accepts <digits>[unit] with unit one of B, KiB, MiB, GiB, TiB (binary) or KB, MB, GB (decimal).
Result<uint64_t> ParseSize(std::string_view text);

// A point in time as milliseconds since the epoch: seconds since the epoch (fractions allowed,
// "1767312000.5") or an RFC 3339 UTC time ("2026-01-02T03:04:05Z"). The error names both forms.
Result<int64_t> ParseTimestampMs(std::string_view text);

std::string FormatDuration(Millis d);    // the largest exact unit: "90s", "5m", "250ms"
std::string FormatSize(uint64_t bytes);  // the largest exact binary unit: "5MiB", "1000B"

}  // namespace sluice
