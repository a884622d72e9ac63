// Control-plane operations: streams, shards, resharding, retention, tags.
#include <algorithm>
#include <mutex>

#include "broker/api/kinesis_call.h"

namespace sluice::broker::api {
namespace {

constexpr int64_t kNextTokenTtlMs = 300 * 1000;

std::string_view ModeName(CapacityMode m) {
  return m == CapacityMode::kProvisioned ? "PROVISIONED" : "ON_DEMAND";
}

void FailFrom(KinesisApi::Call& c, const Status& st, const std::string& what) {
  switch (st.code()) {
    case Code::kNotFound:
      c.Fail("ResourceNotFoundException", what + ": " + st.message());
      break;
    case Code::kAlreadyExists:
      c.Fail("ResourceInUseException", what + ": " + st.message());
      break;
    case Code::kInvalidArgument:
      c.Fail("InvalidArgumentException", what + ": " + st.message());
      break;
    case Code::kResourceExhausted:
      c.Fail("LimitExceededException", what + ": " + st.message());
      break;
    default:
      c.Fail("InternalFailure", what + ": " + st.message(), 500);
  }
}

void WriteModeDetails(KinesisApi::Call& c, CapacityMode mode) {
  c.Key("StreamModeDetails");
  c.w.StartObject();
  c.Field("StreamMode", ModeName(mode));
  c.w.EndObject();
}

void WriteMonitoring(KinesisApi::Call& c, const std::set<std::string>& metrics) {
  c.Key("EnhancedMonitoring");
  c.w.StartArray();
  c.w.StartObject();
  c.Key("ShardLevelMetrics");
  c.w.StartArray();
  for (const std::string& m : metrics) c.String(m);
  c.w.EndArray();
  c.w.EndObject();
  c.w.EndArray();
}

}  // namespace

void KinesisApi::CreateStream(Call& c) {
  std::optional<std::string_view> name = c.Str("StreamName");
  std::optional<int64_t> shards = c.Int("ShardCount");
  const rapidjson::Value* mode_details = c.Object("StreamModeDetails");
  std::optional<std::string_view> mode;
  if (mode_details) mode = c.Str("StreamMode", mode_details);
  c.NotNull(name.has_value(), "streamName");
  c.StreamNameRules(name, "streamName");
  c.Range(shards, "shardCount", 1, 100000);
  c.Enum(mode, "streamModeDetails.streamMode", {"PROVISIONED", "ON_DEMAND"});
  if (mode_details) c.NotNull(mode.has_value(), "streamModeDetails.streamMode");
  if (!c.Check()) return;
  if (Hidden(*name)) {
    c.Fail("InvalidArgumentException", "Stream names starting with " +
                                           std::string(kDirectPutStreamPrefix) +
                                           " are reserved for Firehose Direct PUT deliveries.");
    return;
  }
  StreamOptions so;
  so.name = std::string(*name);
  // As Kinesis: a ShardCount without StreamModeDetails makes a PROVISIONED stream; neither
  // makes the default (ON_DEMAND unless the server is set otherwise).
  so.mode = shards ? CapacityMode::kProvisioned : options_.default_mode;
  if (mode)
    so.mode = *mode == "PROVISIONED" ? CapacityMode::kProvisioned : CapacityMode::kUnlimited;
  if (!shards && so.mode == CapacityMode::kProvisioned) {
    c.Fail("InvalidArgumentException", "ShardCount must be provided for a PROVISIONED stream.");
    return;
  }
  so.shards = shards ? static_cast<int>(*shards) : 4;  // ON_DEMAND starts with 4, as Kinesis
  if (so.shards > options_.max_shards_per_stream) {
    c.Fail("LimitExceededException", "This request would exceed the shard limit for the account " +
                                         options_.account_id + " in " + options_.region +
                                         ". Current limit of shards per stream is " +
                                         std::to_string(options_.max_shards_per_stream) +
                                         ". Number of additional shards "
                                         "that would have resulted from this request: " +
                                         std::to_string(so.shards));
    return;
  }
  Result<Stream*> s = broker_->CreateStream(so);
  if (!s.ok()) {
    if (s.status().code() == Code::kAlreadyExists) {
      c.Fail("ResourceInUseException",
             "Stream " + so.name + " under account " + options_.account_id + " already exists.");
    } else {
      FailFrom(c, s.status(), "CreateStream " + so.name);
    }
    return;
  }
  meta_.erase(so.name);
  Meta(so.name);  // saves
}

void KinesisApi::DeleteStream(Call& c) {
  std::optional<bool> enforce;
  if (const rapidjson::Value* v = c.Get("EnforceConsumerDeletion")) {
    if (!v->IsBool()) {
      c.Fail("SerializationException", "Expected a boolean for 'EnforceConsumerDeletion'");
      return;
    }
    enforce = v->GetBool();
  }
  Stream* s = ResolveStream(c);
  if (s == nullptr) return;
  std::string name = s->name();
  if (!enforce.value_or(false) && !s->ListConsumers().empty()) {
    c.Fail("ResourceInUseException",
           "Stream " + name + " under account " + options_.account_id +
               " has registered consumers; set EnforceConsumerDeletion to delete it anyway.");
    return;
  }
  Status st;
  {
    // No worker thread is putting through the Stream* this frees.
    std::unique_lock<std::shared_mutex> lock(StreamRemovalLock());
    st = broker_->DeleteStream(name);
  }
  if (!st.ok()) {
    FailFrom(c, st, "DeleteStream " + name);
    return;
  }
  meta_.erase(name);
  SaveMeta();
}

void KinesisApi::DescribeStream(Call& c) {
  std::optional<int64_t> limit = c.Int("Limit");
  std::optional<std::string_view> start = c.Str("ExclusiveStartShardId");
  c.Range(limit, "limit", 1, 10000);
  c.ShardIdRules(start, "exclusiveStartShardId");
  Stream* s = ResolveStream(c);
  if (s == nullptr) return;
  std::vector<ShardInfo> shards = s->ListShards();
  std::sort(shards.begin(), shards.end(),
            [](const ShardInfo& a, const ShardInfo& b) { return a.index < b.index; });
  std::optional<uint32_t> after = start ? ParseShardId(*start) : std::nullopt;
  StreamOptions so = s->options();
  JsonWriter& w = c.w;
  c.Key("StreamDescription");
  w.StartObject();
  c.Field("StreamName", so.name);
  c.Field("StreamARN", StreamArn(so.name));
  c.Field("StreamStatus", "ACTIVE");
  WriteModeDetails(c, so.mode);
  c.Key("Shards");
  w.StartArray();
  size_t max = static_cast<size_t>(limit.value_or(100));
  size_t written = 0;
  bool more = false;
  for (const ShardInfo& info : shards) {
    if (after && info.index <= *after) continue;
    if (written == max) {
      more = true;
      break;
    }
    WriteShard(c, s, info);
    written++;
  }
  w.EndArray();
  c.Key("HasMoreShards");
  w.Bool(more);
  c.Key("RetentionPeriodHours");
  w.Int64(so.retention_hours);
  c.Key("StreamCreationTimestamp");
  w.Double(static_cast<double>(Meta(so.name).created_ms) / 1000.0);
  WriteMonitoring(c, Meta(so.name).shard_metrics);
  WriteStreamEncryption(c, so.encryption);
  w.EndObject();
}

void KinesisApi::DescribeStreamSummary(Call& c) {
  Stream* s = ResolveStream(c);
  if (s == nullptr) return;
  StreamOptions so = s->options();
  int open = 0;
  for (const ShardInfo& info : s->ListShards()) open += info.open ? 1 : 0;
  JsonWriter& w = c.w;
  c.Key("StreamDescriptionSummary");
  w.StartObject();
  c.Field("StreamName", so.name);
  c.Field("StreamARN", StreamArn(so.name));
  c.Field("StreamStatus", "ACTIVE");
  WriteModeDetails(c, so.mode);
  c.Key("RetentionPeriodHours");
  w.Int64(so.retention_hours);
  c.Key("StreamCreationTimestamp");
  w.Double(static_cast<double>(Meta(so.name).created_ms) / 1000.0);
  WriteMonitoring(c, Meta(so.name).shard_metrics);
  WriteStreamEncryption(c, so.encryption);
  c.Key("OpenShardCount");
  w.Int(open);
  c.Key("ConsumerCount");
  w.Int(static_cast<int>(s->ListConsumers().size()));
  c.Key("MaxRecordSizeInKiB");
  w.Int(kMaxRecordSizeKiB);
  w.EndObject();
}

void KinesisApi::ListStreams(Call& c) {
  std::optional<int64_t> limit = c.Int("Limit");
  std::optional<std::string_view> start = c.Str("ExclusiveStartStreamName");
  std::optional<std::string_view> next = c.Str("NextToken");
  c.Range(limit, "limit", 1, 10000);
  c.StreamNameRules(start, "exclusiveStartStreamName");
  c.Length(next, "nextToken", 1, 1048576);
  if (!c.Check()) return;
  std::string after = start ? std::string(*start) : "";
  if (next) {
    Result<TokenFields> t = tokens_.Decode(*next, kTokenListStreams);
    if (!t.ok()) {
      c.Fail("InvalidArgumentException", "Invalid NextToken.");
      return;
    }
    if (options_.clock->NowMs() - t->issued_ms > kNextTokenTtlMs) {
      c.Fail("ExpiredNextTokenException", "The NextToken has expired.");
      return;
    }
    after = t->name;
  }
  std::vector<std::string> names = broker_->ListStreams();
  std::sort(names.begin(), names.end());
  size_t max = static_cast<size_t>(limit.value_or(100));
  std::vector<std::string> page;
  bool more = false;
  for (const std::string& n : names) {
    if (!after.empty() && n <= after) continue;
    if (Hidden(n)) continue;
    if (page.size() == max) {
      more = true;
      break;
    }
    page.push_back(n);
  }
  JsonWriter& w = c.w;
  c.Key("StreamNames");
  w.StartArray();
  for (const std::string& n : page) c.String(n);
  w.EndArray();
  c.Key("HasMoreStreams");
  w.Bool(more);
  if (more) {
    TokenFields t;
    t.kind = kTokenListStreams;
    t.issued_ms = options_.clock->NowMs();
    t.name = page.back();
    c.Field("NextToken", tokens_.Encode(t));
  }
  c.Key("StreamSummaries");
  w.StartArray();
  for (const std::string& n : page) {
    Result<Stream*> s = broker_->GetStream(n);
    w.StartObject();
    c.Field("StreamName", n);
    c.Field("StreamARN", StreamArn(n));
    c.Field("StreamStatus", "ACTIVE");
    WriteModeDetails(c, s.ok() ? (*s)->options().mode : options_.default_mode);
    c.Key("StreamCreationTimestamp");
    w.Double(static_cast<double>(Meta(n).created_ms) / 1000.0);
    w.EndObject();
  }
  w.EndArray();
}

void KinesisApi::ListShards(Call& c) {
  std::optional<std::string_view> next = c.Str("NextToken");
  std::optional<int64_t> max_results = c.Int("MaxResults");
  std::optional<std::string_view> start = c.Str("ExclusiveStartShardId");
  const rapidjson::Value* filter = c.Object("ShardFilter");
  std::optional<std::string_view> ftype, fshard;
  std::optional<int64_t> fts;
  if (filter) {
    ftype = c.Str("Type", filter);
    fshard = c.Str("ShardId", filter);
    fts = c.TimestampMs("Timestamp", filter);
    c.NotNull(ftype.has_value(), "shardFilter.type");
    c.Enum(ftype, "shardFilter.type",
           {"AFTER_SHARD_ID", "AT_TRIM_HORIZON", "FROM_TRIM_HORIZON", "AT_LATEST", "AT_TIMESTAMP",
            "FROM_TIMESTAMP"});
    c.ShardIdRules(fshard, "shardFilter.shardId");
  }
  c.Length(next, "nextToken", 1, 1048576);
  c.Range(max_results, "maxResults", 1, 10000);
  c.ShardIdRules(start, "exclusiveStartShardId");
  if (!c.Check()) return;
  Stream* s = nullptr;
  std::optional<uint32_t> after;
  if (start) after = ParseShardId(*start);  // an id that cannot exist excludes nothing
  if (next) {
    if (c.Get("StreamName") || c.Get("StreamARN")) {
      c.Fail("InvalidArgumentException",
             "NextToken and StreamName (or StreamARN) cannot be provided together.");
      return;
    }
    Result<TokenFields> t = tokens_.Decode(*next, kTokenListShards);
    if (!t.ok()) {
      c.Fail("InvalidArgumentException",
             "Invalid ShardIterator or NextToken: " + t.status().message() + ".");
      return;
    }
    if (options_.clock->NowMs() - t->issued_ms > kNextTokenTtlMs) {
      c.Fail("ExpiredNextTokenException", "The NextToken has expired.");
      return;
    }
    Result<Stream*> r = broker_->GetStream(t->name);
    if (!r.ok()) {
      c.Fail("ResourceNotFoundException",
             "Stream " + t->name + " under account " + options_.account_id + " not found.");
      return;
    }
    s = *r;
    after = t->shard_index;
    if (!t->extra.empty()) {  // the filter of the first page carries over
      ftype = t->extra;
    }
  } else {
    s = ResolveStream(c);
    if (s == nullptr) return;
  }
  if (ftype == "AFTER_SHARD_ID") {
    if (!next) {
      if (!fshard) {
        c.Fail("InvalidArgumentException", "ShardId must be provided for AFTER_SHARD_ID.");
        return;
      }
      std::optional<uint32_t> f = ParseShardId(*fshard);
      after = std::max(after.value_or(0), f.value_or(0));
      if (!start && f) after = *f;
    }
  } else if ((ftype == "AT_TIMESTAMP" || ftype == "FROM_TIMESTAMP") && !next && !fts) {
    c.Fail("InvalidArgumentException",
           "Timestamp must be provided for " + std::string(*ftype) + ".");
    return;
  }
  std::vector<ShardInfo> shards = s->ListShards();
  std::sort(shards.begin(), shards.end(),
            [](const ShardInfo& a, const ShardInfo& b) { return a.index < b.index; });
  size_t max = static_cast<size_t>(max_results.value_or(1000));
  JsonWriter& w = c.w;
  c.Key("Shards");
  w.StartArray();
  size_t written = 0;
  uint32_t last = 0;
  bool more = false;
  for (const ShardInfo& info : shards) {
    if (after && info.index <= *after) continue;
    if (ftype == "AT_LATEST" && !info.open) continue;
    if (written == max) {
      more = true;
      break;
    }
    WriteShard(c, s, info);
    last = info.index;
    written++;
  }
  w.EndArray();
  if (more) {
    TokenFields t;
    t.kind = kTokenListShards;
    t.issued_ms = options_.clock->NowMs();
    t.name = s->name();
    t.shard_index = last;
    if (ftype == "AT_LATEST") t.extra = "AT_LATEST";
    c.Field("NextToken", tokens_.Encode(t));
  }
}

void KinesisApi::SplitShard(Call& c) {
  std::optional<std::string_view> shard = c.Str("ShardToSplit");
  std::optional<std::string_view> key = c.Str("NewStartingHashKey");
  c.NotNull(shard.has_value(), "shardToSplit");
  c.NotNull(key.has_value(), "newStartingHashKey");
  c.ShardIdRules(shard, "shardToSplit");
  c.Pattern(key, "newStartingHashKey", key && ParseHashKey(*key).ok(), "0|([1-9]\\d{0,38})");
  Stream* s = ResolveStream(c);
  if (s == nullptr) return;
  std::optional<uint32_t> index = ParseShardId(*shard);
  Result<ShardInfo> info = index ? s->GetShard(*index) : Result<ShardInfo>(NotFound("no shard"));
  if (!info.ok()) {
    c.Fail("ResourceNotFoundException", "Could not find shard " + std::string(*shard) +
                                            " in stream " + s->name() + " under account " +
                                            options_.account_id + ".");
    return;
  }
  if (!info->open) {
    c.Fail("ResourceInUseException", "Shard " + info->shard_id + " in stream " + s->name() +
                                         " under account " + options_.account_id +
                                         " has already been merged or split, and thus is not "
                                         "eligible for merging or splitting.");
    return;
  }
  uint128 k = *ParseHashKey(*key);
  if (k <= info->starting_hash_key || k > info->ending_hash_key) {
    c.Fail(
        "InvalidArgumentException",
        "NewStartingHashKey " + std::string(*key) + " used in SplitShard() on shard " +
            info->shard_id + " in stream " + s->name() + " under account " + options_.account_id +
            " is not both greater than one plus the shard's "
            "StartingHashKey " +
            HashKeyToString(info->starting_hash_key) + " and less than the shard's EndingHashKey " +
            HashKeyToString(info->ending_hash_key) + ".");
    return;
  }
  Status st = s->SplitShard(*index, k);
  if (!st.ok()) FailFrom(c, st, "SplitShard " + info->shard_id);
}

void KinesisApi::MergeShards(Call& c) {
  std::optional<std::string_view> a = c.Str("ShardToMerge");
  std::optional<std::string_view> b = c.Str("AdjacentShardToMerge");
  c.NotNull(a.has_value(), "shardToMerge");
  c.NotNull(b.has_value(), "adjacentShardToMerge");
  c.ShardIdRules(a, "shardToMerge");
  c.ShardIdRules(b, "adjacentShardToMerge");
  Stream* s = ResolveStream(c);
  if (s == nullptr) return;
  ShardInfo infos[2];
  std::string_view ids[2] = {*a, *b};
  for (int i = 0; i < 2; i++) {
    std::optional<uint32_t> index = ParseShardId(ids[i]);
    Result<ShardInfo> info = index ? s->GetShard(*index) : Result<ShardInfo>(NotFound("no"));
    if (!info.ok()) {
      c.Fail("ResourceNotFoundException", "Could not find shard " + std::string(ids[i]) +
                                              " in stream " + s->name() + " under account " +
                                              options_.account_id + ".");
      return;
    }
    if (!info->open) {
      c.Fail("ResourceInUseException", "Shard " + info->shard_id + " in stream " + s->name() +
                                           " under account " + options_.account_id +
                                           " has already been merged or split, and thus is not "
                                           "eligible for merging or splitting.");
      return;
    }
    infos[i] = *info;
  }
  bool adjacent = (infos[0].ending_hash_key + 1 == infos[1].starting_hash_key) ||
                  (infos[1].ending_hash_key + 1 == infos[0].starting_hash_key);
  if (!adjacent) {
    c.Fail("InvalidArgumentException", "Shards " + infos[0].shard_id + " and " + infos[1].shard_id +
                                           " in stream " + s->name() + " under account " +
                                           options_.account_id +
                                           " are not an adjacent pair of shards eligible for "
                                           "merging");
    return;
  }
  Status st = s->MergeShards(infos[0].index, infos[1].index);
  if (!st.ok()) FailFrom(c, st, "MergeShards " + infos[0].shard_id + " " + infos[1].shard_id);
}

void KinesisApi::UpdateShardCount(Call& c) {
  std::optional<int64_t> target = c.Int("TargetShardCount");
  std::optional<std::string_view> scaling = c.Str("ScalingType");
  c.NotNull(target.has_value(), "targetShardCount");
  c.NotNull(scaling.has_value(), "scalingType");
  c.Range(target, "targetShardCount", 1, 100000);
  c.Enum(scaling, "scalingType", {"UNIFORM_SCALING"});
  Stream* s = ResolveStream(c);
  if (s == nullptr) return;
  int64_t open = 0;
  for (const ShardInfo& info : s->ListShards()) open += info.open ? 1 : 0;
  if (*target > 2 * open || *target * 2 < open) {
    c.Fail("LimitExceededException",
           "UpdateShardCount cannot scale " +
               std::string(*target > open ? "up over double" : "down below half") +
               " your current open shard count. Current open shard count: " + std::to_string(open) +
               " Target shard count: " + std::to_string(*target));
    return;
  }
  if (*target > options_.max_shards_per_stream) {
    c.Fail("LimitExceededException", "Target shard count " + std::to_string(*target) +
                                         " exceeds the limit of " +
                                         std::to_string(options_.max_shards_per_stream) + ".");
    return;
  }
  Status st = s->UpdateShardCount(static_cast<int>(*target));
  if (!st.ok()) {
    FailFrom(c, st, "UpdateShardCount " + s->name());
    return;
  }
  c.Field("StreamName", s->name());
  c.Field("StreamARN", StreamArn(s->name()));
  c.Key("CurrentShardCount");
  c.w.Int64(open);
  c.Key("TargetShardCount");
  c.w.Int64(*target);
}

void KinesisApi::ChangeRetention(Call& c, bool increase) {
  std::optional<int64_t> hours = c.Int("RetentionPeriodHours");
  c.NotNull(hours.has_value(), "retentionPeriodHours");
  c.Range(hours, "retentionPeriodHours", 1, 8760);
  Stream* s = ResolveStream(c);
  if (s == nullptr) return;
  int64_t current = s->options().retention_hours;
  if (*hours < 24) {
    c.Fail("InvalidArgumentException",
           "Minimum allowed retention period is 24 hours. Requested "
           "retention period (" +
               std::to_string(*hours) + " hours) is too short.");
    return;
  }
  if (increase && *hours < current) {
    c.Fail("InvalidArgumentException",
           "Requested retention period (" + std::to_string(*hours) + " hours) for stream " +
               s->name() + " can not be shorter than existing retention period (" +
               std::to_string(current) + " hours). Use DecreaseRetentionPeriod API.");
    return;
  }
  if (!increase && *hours > current) {
    c.Fail("InvalidArgumentException",
           "Requested retention period (" + std::to_string(*hours) + " hours) for stream " +
               s->name() + " can not be longer than existing retention period (" +
               std::to_string(current) + " hours). Use IncreaseRetentionPeriod API.");
    return;
  }
  Status st = s->SetRetentionHours(*hours);
  if (!st.ok()) FailFrom(c, st, "retention of " + s->name());
}

void KinesisApi::AddTagsToStream(Call& c) {
  const rapidjson::Value* tags = c.Object("Tags");
  c.NotNull(tags != nullptr, "tags");
  if (tags && (tags->MemberCount() < 1 || tags->MemberCount() > 10)) {
    c.violations.push_back(
        "Value at 'tags' failed to satisfy constraint: Member must have length "
        "less than or equal to 10, greater than or equal to 1");
  }
  std::vector<std::pair<std::string, std::string>> add;
  if (tags) {
    for (auto it = tags->MemberBegin(); it != tags->MemberEnd(); ++it) {
      if (!it->value.IsString()) {
        c.Fail("SerializationException", "Expected a string for the value of tag '" +
                                             std::string(it->name.GetString()) + "'");
        return;
      }
      std::string_view k(it->name.GetString(), it->name.GetStringLength());
      std::string_view v(it->value.GetString(), it->value.GetStringLength());
      c.Length(k, "tags.key", 1, 128);
      c.Length(v, "tags.value", 0, 256);
      add.emplace_back(k, v);
    }
  }
  Stream* s = ResolveStream(c);
  if (s == nullptr) return;
  StreamMeta& m = Meta(s->name());
  size_t total = m.tags.size();
  for (const auto& [k, v] : add) total += m.tags.count(k) ? 0 : 1;
  if (total > 50) {
    c.Fail("LimitExceededException", "Failed to add tags to stream " + s->name() +
                                         " under account " + options_.account_id +
                                         " because a given stream cannot have more than 50 tags.");
    return;
  }
  for (auto& [k, v] : add) m.tags[k] = v;
  SaveMeta();
}

void KinesisApi::RemoveTagsFromStream(Call& c) {
  const rapidjson::Value* keys = c.Array("TagKeys");
  c.NotNull(keys != nullptr, "tagKeys");
  std::vector<std::string> remove;
  if (keys) {
    if (keys->Size() < 1 || keys->Size() > 10) {
      c.violations.push_back(
          "Value at 'tagKeys' failed to satisfy constraint: Member must have "
          "length less than or equal to 10, greater than or equal to 1");
    }
    for (const rapidjson::Value& k : keys->GetArray()) {
      if (!k.IsString()) {
        c.Fail("SerializationException", "Expected strings in 'TagKeys'");
        return;
      }
      remove.emplace_back(k.GetString(), k.GetStringLength());
      c.Length(std::string_view(remove.back()), "tagKeys.member", 1, 128);
    }
  }
  Stream* s = ResolveStream(c);
  if (s == nullptr) return;
  StreamMeta& m = Meta(s->name());
  for (const std::string& k : remove) m.tags.erase(k);
  SaveMeta();
}

void KinesisApi::ListTagsForStream(Call& c) {
  std::optional<std::string_view> start = c.Str("ExclusiveStartTagKey");
  std::optional<int64_t> limit = c.Int("Limit");
  c.Length(start, "exclusiveStartTagKey", 1, 128);
  c.Range(limit, "limit", 1, 50);
  Stream* s = ResolveStream(c);
  if (s == nullptr) return;
  StreamMeta& m = Meta(s->name());
  size_t max = static_cast<size_t>(limit.value_or(50));
  JsonWriter& w = c.w;
  c.Key("Tags");
  w.StartArray();
  size_t n = 0;
  bool more = false;
  for (const auto& [k, v] : m.tags) {
    if (start && k <= *start) continue;
    if (n == max) {
      more = true;
      break;
    }
    w.StartObject();
    c.Field("Key", k);
    c.Field("Value", v);
    w.EndObject();
    n++;
  }
  w.EndArray();
  c.Key("HasMoreTags");
  w.Bool(more);
}

}  // namespace sluice::broker::api
