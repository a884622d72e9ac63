#include "core/units.h"

#include <time.h>

#include <charconv>
#include <cstdlib>
#include <limits>

namespace sluice {
namespace {

struct Unit {
  std::string_view suffix;
  uint64_t factor;
};

// Splits "<digits><suffix>"; fails on an empty or non-digit number part or overflow.
bool SplitNumber(std::string_view text, uint64_t* number, std::string_view* suffix) {
  size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  if (i == 0) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, *number);
  if (ec != std::errc() || ptr != text.data() + i) return false;
  *suffix = text.substr(i);
  return true;
}

bool Scale(uint64_t n, uint64_t factor, uint64_t* out) {
  if (factor != 0 && n > std::numeric_limits<uint64_t>::max() / factor) return false;
  *out = n * factor;
  return true;
}

std::string Quoted(std::string_view text) {
  std::string s = "\"";
  s += text;
  s += "\"";
  return s;
}

}  // namespace

Result<Millis> ParseDuration(std::string_view text) {
  static constexpr Unit kUnits[] = {
      {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}};
  uint64_t n = 0;
  std::string_view suffix;
  if (!SplitNumber(text, &n, &suffix)) {
    return InvalidArgument(Quoted(text) + " is not a duration (use e.g. 250ms, 30s, 5m, 24h)");
  }
  if (suffix.empty()) {
    if (n == 0) return Millis(0);
    return InvalidArgument(Quoted(text) +
                           " is not a duration: the unit is missing (ms, s, m, h, d)");
  }
  for (const Unit& u : kUnits) {
    if (suffix == u.suffix) {
      uint64_t ms = 0;
      if (!Scale(n, u.factor, &ms) ||
          ms > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return InvalidArgument(Quoted(text) + " is too long a duration");
      }
      return Millis(static_cast<int64_t>(ms));
    }
  }
  return InvalidArgument(Quoted(text) + " is not a duration (use e.g. 250ms, 30s, 5m, 24h)");
}

Result<uint64_t> ParseSize(std::string_view text) {
  static constexpr Unit kUnits[] = {{"", 1},
                                    {"B", 1},
                                    {"KiB", 1ull << 10},
                                    {"MiB", 1ull << 20},
                                    {"GiB", 1ull << 30},
                                    {"TiB", 1ull << 40},
                                    {"KB", 1000},
                                    {"MB", 1000'000},
                                    {"GB", 1000'000'000}};
  uint64_t n = 0;
  std::string_view suffix;
  if (SplitNumber(text, &n, &suffix)) {
    for (const Unit& u : kUnits) {
      if (suffix == u.suffix) {
        uint64_t bytes = 0;
        if (!Scale(n, u.factor, &bytes)) return InvalidArgument(Quoted(text) + " is too large");
        return bytes;
      }
    }
  }
  return InvalidArgument(Quoted(text) + " is not a size (use e.g. 512KiB, 5MiB, 1GiB)");
}

std::string FormatDuration(Millis d) {
  int64_t ms = d.count();
  if (ms == 0) return "0s";
  static constexpr Unit kUnits[] = {{"h", 3'600'000}, {"m", 60'000}, {"s", 1000}};
  for (const Unit& u : kUnits) {
    if (ms % static_cast<int64_t>(u.factor) == 0) {
      return std::to_string(ms / static_cast<int64_t>(u.factor)) + std::string(u.suffix);
    }
  }
  return std::to_string(ms) + "ms";
}

std::string FormatSize(uint64_t bytes) {
  static constexpr Unit kUnits[] = {
      {"TiB", 1ull << 40}, {"GiB", 1ull << 30}, {"MiB", 1ull << 20}, {"KiB", 1ull << 10}};
  if (bytes == 0) return "0B";
  for (const Unit& u : kUnits) {
    if (bytes % u.factor == 0) return std::to_string(bytes / u.factor) + std::string(u.suffix);
  }
  return std::to_string(bytes) + "B";
}

Result<int64_t> ParseTimestampMs(std::string_view text) {
  std::string t(text);
  char* end = nullptr;
  double seconds = std::strtod(t.c_str(), &end);
  if (end != t.c_str() && *end == '\0' && seconds > 0 && seconds < 1e11) {
    return static_cast<int64_t>(seconds * 1000);
  }
  struct tm tm {};
  const char* rest = strptime(t.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr || std::string_view(rest) != "Z") {
    return InvalidArgument(
        "expected an RFC 3339 UTC time (2026-01-02T03:04:05Z) or seconds since "
        "the epoch");
  }
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

}  // namespace sluice
