#include "buffer/delivery_policy.h"

#include <algorithm>

#include "core/units.h"

namespace sluice::buffer {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kMB = 1000ull * 1000;

// S3: 1-128 MiB (5), 0-900 s (300); Firehose retries S3 for up to 24 h.
const SinkPolicy kS3{1 * kMiB,       128 * kMiB,       5 * kMiB,         Millis(0),  Millis(900000),
                     Millis(300000), Millis(86400000), Millis(86400000), "s3-failed"};
const SinkPolicy kFile{1 * kMiB,         128 * kMiB,       5 * kMiB,
                       Millis(0),        Millis(900000),   Millis(300000),
                       Millis(86400000), Millis(86400000), "file-failed"};
const SinkPolicy kHttp{1 * kMiB,        64 * kMiB,      5 * kMiB,
                       Millis(0),       Millis(900000), Millis(300000),
                       Millis(7200000), Millis(300000), "http-endpoint-failed"};
const SinkPolicy kSplunk{1 * kMB,         5 * kMB,        5 * kMB,
                         Millis(0),       Millis(60000),  Millis(60000),
                         Millis(7200000), Millis(300000), "splunk-failed"};
const SinkPolicy kOpenSearch{1 * kMB,         100 * kMB,      5 * kMB,
                             Millis(0),       Millis(900000), Millis(300000),
                             Millis(7200000), Millis(300000), "AmazonOpenSearchService-failed"};
const SinkPolicy kRedshift{1 * kMiB,        128 * kMiB,      5 * kMiB,
                           Millis(0),       Millis(900000),  Millis(300000),
                           Millis(7200000), Millis(3600000), "redshift-failed"};

}  // namespace

const SinkPolicy& PolicyFor(std::string_view sink_type) {
  static const SinkPolicy kOther = [] {
    SinkPolicy p = kS3;
    p.error_output_type = "";  // <type>-failed
    return p;
  }();
  if (sink_type == "s3") return kS3;
  if (sink_type == "http") return kHttp;
  if (sink_type == "splunk") return kSplunk;
  if (sink_type == "opensearch") return kOpenSearch;
  if (sink_type == "redshift") return kRedshift;
  if (sink_type == "file" || sink_type == "blackhole") return kFile;
  return kOther;
}

std::optional<ResolvedPolicy> ResolvePolicy(const DeliveryOptions& options, const SinkPolicy& p,
                                            std::vector<ConfigIssue>* issues) {
  ResolvedPolicy r{options.buffer_size.value_or(p.size_default),
                   options.buffer_interval.value_or(p.interval_default),
                   options.retry_duration.value_or(p.retry_default),
                   std::string(p.error_output_type)};
  if (r.error_output_type.empty()) r.error_output_type = options.sink.type + "-failed";
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

Result<ResolvedPolicy> ResolvePolicy(const DeliveryOptions& options) {
  std::vector<ConfigIssue> issues;
  auto r = ResolvePolicy(options, PolicyFor(options.sink.type), &issues);
  if (!r) {
    std::string msg;
    for (const ConfigIssue& i : issues) msg += (msg.empty() ? "" : "\n") + i.path + ": " + i.message;
    return InvalidArgument(msg);
  }
  return std::move(*r);
}

Millis Backoff::Delay(int attempt, std::mt19937_64* rng) const {
  int64_t ceiling = base.count();
  for (int i = 1; i < attempt && ceiling < cap.count(); ++i) ceiling *= 2;
  ceiling = std::min<int64_t>(ceiling, cap.count());
  if (ceiling <= 0) return Millis(0);
  return Millis(static_cast<int64_t>((*rng)() % static_cast<uint64_t>(ceiling + 1)));
}

}  // namespace sluice::buffer
