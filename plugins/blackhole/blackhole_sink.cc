// The `blackhole` sink: accepts everything and only counts objects, records and bytes. For
// benchmarks of the delivery engine without a destination's cost.
// THREADING: one instance per worker; counters go through the host.
#include <memory>
#include <string>

#include "sluice_sink.hpp"

namespace {

const sluice_option_def kOptions[] = {
    {"prefix", SLUICE_OPT_STRING, "", "Object key prefix (rendered, then discarded).", 0, nullptr},
    {"error_prefix", SLUICE_OPT_STRING, "", "Error output key prefix.", 0, nullptr},
    {nullptr, SLUICE_OPT_STRING, nullptr, nullptr, 0, nullptr},
};

class BlackholeSink final : public sluice::Sink {
 public:
  static sluice::Created<sluice::Sink> Create(const sluice::Options&, sluice::Host host) {
    auto sink = std::make_unique<BlackholeSink>();
    sink->host_ = host;
    return sink;
  }

  sluice::Outcome Send(const sluice::Batch& batch) override {
    host_.Count("objects", 1);
    host_.Count("bytes", batch.object().size());
    return sluice::Outcome::Ok();
  }

 private:
  sluice::Host host_;
};

}  // namespace

// The delivery policy: S3's buffering ranges, so a benchmark measures the engine with the sizes a
// real object sink gets, but down to 1 KiB for tests of small batches; nothing ever fails.
static constexpr sluice_delivery_policy kBlackholePolicy = sluice::MakePolicy(
    {1 << 10, 5 << 20, 128 << 20}, {0, 300000, 900000}, {86400000, 86400000}, "blackhole-failed");

SLUICE_EXPORT_SINK_WITH_POLICY(BlackholeSink, "blackhole", SLUICE_KIND_OBJECT_SINK,
                               SLUICE_FLAG_IDEMPOTENT_KEYS, kOptions, "1.0",
                               "Accepts every object and discards it; counts objects and bytes.",
                               &kBlackholePolicy)
