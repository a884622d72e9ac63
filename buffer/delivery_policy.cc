#include "buffer/delivery_policy.h"

#include <algorithm>
#include <cctype>

#include "core/units.h"

namespace sluice::buffer {
SinkPolicy DefaultPolicy(std::string_view sink_name) {
  // Firehose's S3 destination: 1-128 MiB (5), 0-900 s (300); retried for up to 24 h.
  return SinkPolicy{1u << 20,         128u << 20,       5u << 20,
                    Millis(0),        Millis(900000),   Millis(300000),
                    Millis(86400000), Millis(86400000), std::string(sink_name) + "-failed"};
}

Status CheckPolicy(const SinkPolicy& p) {
  if (p.size_min == 0) return InvalidArgument("buffer size minimum is 0 (at least 1 byte)");
  if (p.size_min > p.size_default || p.size_default > p.size_max) {
    return InvalidArgument("buffer size range is not min <= default <= max (" +
                           FormatSize(p.size_min) + ", " + FormatSize(p.size_default) + ", " +
                           FormatSize(p.size_max) + ")");
  }
  if (p.interval_min > p.interval_default || p.interval_default > p.interval_max) {
    return InvalidArgument(
        "buffer interval range is not min <= default <= max (" + FormatDuration(p.interval_min) +
        ", " + FormatDuration(p.interval_default) + ", " + FormatDuration(p.interval_max) + ")");
  }
  if (p.retry_default > p.retry_max) {
    return InvalidArgument("retry duration default " + FormatDuration(p.retry_default) +
                           " exceeds its maximum " + FormatDuration(p.retry_max));
  }
  if (p.error_output_type.empty()) return InvalidArgument("the error output type is empty");
  for (char c : p.error_output_type) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-')) {
      return InvalidArgument("the error output type \"" + p.error_output_type +
                             "\" is not [A-Za-z0-9-]+");
    }
  }
  return Status::Ok();
}

std::optional<ResolvedPolicy> ResolvePolicy(const DeliveryOptions& options, const SinkPolicy& p,
                                            std::vector<ConfigIssue>* issues) {
  ResolvedPolicy r{options.buffer_size.value_or(p.size_default),
                   options.buffer_interval.value_or(p.interval_default),
                   options.retry_duration.value_or(p.retry_default),
                   p.error_output_type,
                   options.sink.call_timeout.value_or(p.call_timeout),
                   p.retry_max};
  size_t before = issues->size();
  auto issue = [&](std::string_view key, std::string message) {
    issues->push_back({options.MarkOf(key), options.path + "." + std::string(key),
                       std::move(message) + " for sink type " + options.sink.type});
  };
  if (r.buffer_size < p.size_min || r.buffer_size > p.size_max) {
    issue("buffer.size", FormatSize(r.buffer_size) + " is outside " + FormatSize(p.size_min) +
                             ".." + FormatSize(p.size_max));
  }
  if (r.buffer_interval < p.interval_min || r.buffer_interval > p.interval_max) {
    issue("buffer.interval", FormatDuration(r.buffer_interval) + " is outside " +
                                 FormatDuration(p.interval_min) + ".." +
                                 FormatDuration(p.interval_max));
  }
  if (r.retry_duration.count() < 0 || r.retry_duration > p.retry_max) {
    issue("retry_duration",
          FormatDuration(r.retry_duration) + " is outside 0.." + FormatDuration(p.retry_max));
  }
  if (issues->size() != before) return std::nullopt;
  return r;
}

Millis Backoff::Delay(int attempt, std::mt19937_64* rng) const {
  int64_t ceiling = base.count();
  for (int i = 1; i < attempt && ceiling < cap.count(); ++i) ceiling *= 2;
  ceiling = std::min<int64_t>(ceiling, cap.count());
  if (ceiling <= 0) return Millis(0);
  return Millis(static_cast<int64_t>((*rng)() % static_cast<uint64_t>(ceiling + 1)));
}

}  // namespace sluice::buffer
