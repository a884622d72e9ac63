// Account-wide answers and per-stream settings: DescribeLimits, DescribeAccountSettings,
// UpdateStreamMode, Enable/DisableEnhancedMonitoring, UpdateMaxRecordSize.
#include <mutex>
#include <shared_mutex>

#include "broker/api/kinesis_call.h"

namespace sluice::broker::api {
namespace {

// Kinesis's shard-level metrics; "ALL" in a request stands for every one of them.
constexpr std::string_view kShardMetrics[] = {"IncomingBytes",
                                              "IncomingRecords",
                                              "OutgoingBytes",
                                              "OutgoingRecords",
                                              "WriteProvisionedThroughputExceeded",
                                              "ReadProvisionedThroughputExceeded",
                                              "IteratorAgeMilliseconds"};

// The top of DescribeLimits' valid range: sluice counts on-demand streams but sets no limit.
constexpr int kNoLimit = 1000000;

void WriteMetrics(KinesisApi::Call& c, const char* key, const std::set<std::string>& metrics) {
  c.Key(key);
  c.w.StartArray();
  for (const std::string& m : metrics) c.String(m);
  c.w.EndArray();
}

}  // namespace

void KinesisApi::DescribeLimits(Call& c) {
  int64_t open = 0;
  int on_demand = 0;
  {
    // No other API instance frees a Stream* while it is counted.
    std::shared_lock<std::shared_mutex> lock(StreamRemovalLock());
    for (const std::string& name : broker_->ListStreams()) {
      Result<Stream*> s = broker_->GetStream(name);
      if (Hidden(name) || !s.ok()) continue;
      for (const ShardInfo& info : (*s)->ListShards()) open += info.open ? 1 : 0;
      if ((*s)->options().mode == CapacityMode::kUnlimited) on_demand++;
    }
  }
  c.Key("ShardLimit");
  c.w.Int(options_.max_shards_per_stream);
  c.Key("OpenShardCount");
  c.w.Int64(open);
  c.Key("OnDemandStreamCount");
  c.w.Int(on_demand);
  c.Key("OnDemandStreamCountLimit");
  c.w.Int(kNoLimit);
}

void KinesisApi::DescribeAccountSettings(Call& c) {
  // No billing, so no minimum throughput commitment.
  c.Key("MinimumThroughputBillingCommitment");
  c.w.StartObject();
  c.Field("Status", "DISABLED");
  c.w.EndObject();
}

void KinesisApi::UpdateStreamMode(Call& c) {
  std::optional<std::string_view> arn = c.Str("StreamARN");
  const rapidjson::Value* details = c.Object("StreamModeDetails");
  std::optional<std::string_view> mode;
  if (details) mode = c.Str("StreamMode", details);
  c.NotNull(arn.has_value(), "streamARN");
  c.NotNull(details != nullptr, "streamModeDetails");
  if (details) c.NotNull(mode.has_value(), "streamModeDetails.streamMode");
  c.Enum(mode, "streamModeDetails.streamMode", {"PROVISIONED", "ON_DEMAND"});
  Stream* s = ResolveStream(c);
  if (s == nullptr) return;
  Status st = s->SetCapacityMode(*mode == "PROVISIONED" ? CapacityMode::kProvisioned
                                                        : CapacityMode::kUnlimited);
  if (!st.ok())
    c.Fail("InternalFailure", "UpdateStreamMode " + s->name() + ": " + st.message(), 500);
}

void KinesisApi::EnableEnhancedMonitoring(Call& c) { ChangeMonitoring(c, true); }
void KinesisApi::DisableEnhancedMonitoring(Call& c) { ChangeMonitoring(c, false); }

void KinesisApi::ChangeMonitoring(Call& c, bool enable) {
  const rapidjson::Value* list = c.Array("ShardLevelMetrics");
  c.NotNull(list != nullptr, "shardLevelMetrics");
  std::vector<std::string_view> asked;
  if (list) {
    if (list->Size() < 1 || list->Size() > 7) {
      c.violations.push_back(
          "Value at 'shardLevelMetrics' failed to satisfy constraint: Member must have length " +
          std::string(list->Size() < 1 ? "greater than or equal to 1" : "less than or equal to 7"));
    }
    for (const rapidjson::Value& v : list->GetArray()) {
      if (!v.IsString()) {
        c.Fail("SerializationException", "Expected strings in 'ShardLevelMetrics'");
        return;
      }
      asked.emplace_back(v.GetString(), v.GetStringLength());
      c.Enum(asked.back(), "shardLevelMetrics.member",
             {"IncomingBytes", "IncomingRecords", "OutgoingBytes", "OutgoingRecords",
              "WriteProvisionedThroughputExceeded", "ReadProvisionedThroughputExceeded",
              "IteratorAgeMilliseconds", "ALL"});
    }
  }
  Stream* s = ResolveStream(c);
  if (s == nullptr) return;
  StreamMeta& m = Meta(s->name());
  std::set<std::string> current = m.shard_metrics;
  for (std::string_view name : asked) {
    for (std::string_view metric : kShardMetrics) {
      if (name != "ALL" && name != metric) continue;
      if (enable) {
        m.shard_metrics.emplace(metric);
      } else {
        m.shard_metrics.erase(std::string(metric));
      }
    }
  }
  if (m.shard_metrics != current) SaveMeta();
  c.Field("StreamName", s->name());
  c.Field("StreamARN", StreamArn(s->name()));
  WriteMetrics(c, "CurrentShardLevelMetrics", current);
  WriteMetrics(c, "DesiredShardLevelMetrics", m.shard_metrics);
}

void KinesisApi::UpdateMaxRecordSize(Call& c) {
  std::optional<int64_t> kib = c.Int("MaxRecordSizeInKiB");
  c.NotNull(kib.has_value(), "maxRecordSizeInKiB");
  // Kinesis takes 1024..10240; records above 1 MiB are not supported here yet, so the range is
  // the one value, and anything else is refused as Kinesis refuses a value outside its range.
  c.Range(kib, "maxRecordSizeInKiB", kMaxRecordSizeKiB, kMaxRecordSizeKiB);
  ResolveStream(c);  // the stream must exist; its maximum already is the value asked for
}

}  // namespace sluice::broker::api
