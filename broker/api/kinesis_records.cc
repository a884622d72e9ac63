// Data-plane operations: PutRecord, PutRecords, GetShardIterator, GetRecords.
#include "broker/api/kinesis_call.h"
#include "broker/iterator.h"
#include "core/base64.h"

namespace sluice::broker::api {
namespace {

constexpr int64_t kIteratorTtlMs = 300 * 1000;
constexpr size_t kMaxData = 1 << 20;

// Kinesis counts the partition key in the 1 MiB record limit (data + key). Data over the limit on
// its own fails the model's length constraint (ValidationException); data within it that the key
// pushes over is refused by the service (InvalidArgumentException). Empty when it fits.
std::string RecordTooLarge(size_t data, size_t key, std::string_view which) {
  if (data > kMaxData || data + key <= kMaxData) return {};
  return "The size of " + std::string(which) + " (data " + std::to_string(data) +
         " bytes + partition key " + std::to_string(key) +
         " bytes) exceeds the maximum record size of 1048576 bytes.";
}
constexpr size_t kMaxPutRecordsBytes = 5 << 20;

bool IsDecimalPattern(std::string_view s, size_t max_digits) {
  if (s.empty() || s.size() > max_digits) return false;
  if (s.size() > 1 && s[0] == '0') return false;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return false;
  }
  return true;
}

std::string ThrottleMessage(std::string_view shard, std::string_view stream,
                            std::string_view account) {
  return "Rate exceeded for shard " + std::string(shard) + " in stream " + std::string(stream) +
         " under account " + std::string(account) + ".";
}

// Validates one record's fields; returns false on a type error (already recorded).
struct RecordFields {
  std::optional<std::string_view> data;
  std::optional<std::string_view> key;
  std::optional<std::string_view> explicit_key;
};

// `index` is the record's position in PutRecords' Records (from 1), 0 for PutRecord. The member
// paths are only spelled out when a check fails: a valid record costs no allocation.
RecordFields ReadRecord(KinesisApi::Call& c, const rapidjson::Value* from, size_t index) {
  RecordFields r;
  r.data = c.Str("Data", from);
  r.key = c.Str("PartitionKey", from);
  r.explicit_key = c.Str("ExplicitHashKey", from);
  bool key_ok = r.key && !r.key->empty() && r.key->size() <= 256;  // bytes: at least as many
  bool explicit_ok = !r.explicit_key || IsDecimalPattern(*r.explicit_key, 39);
  if (r.data && key_ok && explicit_ok) return r;
  std::string p = index == 0 ? "" : "records." + std::to_string(index) + ".member.";
  c.NotNull(r.data.has_value(), p + "data");
  c.NotNull(r.key.has_value(), p + "partitionKey");
  c.Length(r.key, p + "partitionKey", 1, 256);
  c.Pattern(r.explicit_key, p + "explicitHashKey", explicit_ok, "0|([1-9]\\d{0,38})");
  return r;
}

}  // namespace

void KinesisApi::PutRecord(Call& c) {
  RecordFields r = ReadRecord(c, nullptr, 0);
  std::optional<std::string_view> ordering = c.Str("SequenceNumberForOrdering");
  c.Pattern(ordering, "sequenceNumberForOrdering", ordering && IsDecimalPattern(*ordering, 129),
            "0|([1-9]\\d{0,128})");
  scratch_.clear();
  if (r.data && !Base64DecodeAppend(*r.data, &scratch_).ok()) {
    c.Fail("SerializationException", "Data is not valid base64");
    return;
  }
  if (scratch_.size() > kMaxData) {
    c.violations.push_back(
        "Value at 'data' failed to satisfy constraint: Member must have length "
        "less than or equal to 1048576");
  }
  Stream* s = ResolveStream(c);
  if (s == nullptr) return;
  if (std::string e = RecordTooLarge(scratch_.size(), r.key->size(), "the record"); !e.empty()) {
    c.Fail("InvalidArgumentException", e);
    return;
  }
  PutRecordIn in{*r.key, scratch_, std::nullopt};
  if (r.explicit_key) {
    Result<uint128> k = ParseHashKey(*r.explicit_key);
    if (!k.ok()) {
      c.Fail("InvalidArgumentException",
             "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. "
             "Specified value was " +
                 std::string(*r.explicit_key));
      return;
    }
    in.explicit_hash_key = *k;
  }
  put_out_.clear();
  Status st = s->PutBatch(std::span<const PutRecordIn>(&in, 1), &put_out_);
  c.put_stream = s;
  c.put_generation = s->WriteGeneration();
  if (st.ok() && put_out_.size() == 1) st = put_out_[0].status;
  if (!st.ok()) {
    if (st.code() == Code::kResourceExhausted) {
      std::string shard = put_out_.empty() ? "?" : ShardIdOf(put_out_[0].shard_index);
      c.Fail("ProvisionedThroughputExceededException",
             ThrottleMessage(shard, s->name(), options_.account_id));
    } else {
      c.Fail("InternalFailure", "PutRecord failed: " + st.message(), 500);
    }
    return;
  }
  const PutRecordOut& out = put_out_[0];
  c.Field("ShardId", ShardIdOf(out.shard_index));
  c.Field("SequenceNumber", SequenceNumber(out.shard_index, out.offset));
  c.Field("EncryptionType", EncryptionTypeOf(s->options().encryption));
}

void KinesisApi::PutRecords(Call& c) {
  const rapidjson::Value* records = c.Array("Records");
  c.NotNull(records != nullptr, "records");
  if (records && (records->Size() < 1 || records->Size() > 500)) {
    c.violations.push_back(
        "Value '[...]' at 'records' failed to satisfy constraint: Member must "
        "have length " +
        std::string(records->Size() < 1 ? "greater than or equal to 1"
                                        : "less than or equal to 500"));
  }
  if (c.failed || !c.violations.empty()) {
    c.Check();
    return;
  }
  size_t n = records ? records->Size() : 0;
  // Decode every blob into one buffer; views are taken once it stops growing.
  scratch_.clear();
  std::vector<size_t> ends(n);
  put_in_.assign(n, PutRecordIn{});
  size_t total = 0;
  std::string too_large;  // the first record over data + key > 1 MiB
  for (size_t i = 0; i < n; i++) {
    const rapidjson::Value& rec = (*records)[static_cast<rapidjson::SizeType>(i)];
    if (!rec.IsObject()) {
      c.Fail("SerializationException", "Expected objects in 'Records'");
      return;
    }
    RecordFields r = ReadRecord(c, &rec, i + 1);
    if (c.failed) return;
    size_t before = scratch_.size();
    if (r.data && !Base64DecodeAppend(*r.data, &scratch_).ok()) {
      c.Fail("SerializationException",
             "Data of record " + std::to_string(i) + " is not valid base64");
      return;
    }
    size_t len = scratch_.size() - before;
    if (len > kMaxData) {
      c.violations.push_back("Value at 'records." + std::to_string(i + 1) +
                             ".member.data' failed to satisfy constraint: Member must have "
                             "length less than or equal to 1048576");
    }
    ends[i] = scratch_.size();
    if (too_large.empty() && r.key) {
      // The name is built only for a record over the limit (no allocation per record).
      if (len <= kMaxData && len + r.key->size() > kMaxData) {
        too_large = RecordTooLarge(len, r.key->size(), "record " + std::to_string(i));
      }
    }
    if (r.key) {
      put_in_[i].partition_key = *r.key;
      total += r.key->size();
    }
    total += len;
    if (r.explicit_key && IsDecimalPattern(*r.explicit_key, 39)) {
      Result<uint128> k = ParseHashKey(*r.explicit_key);
      if (!k.ok()) {
        c.Fail("InvalidArgumentException",
               "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. "
               "Specified value was " +
                   std::string(*r.explicit_key));
        return;
      }
      put_in_[i].explicit_hash_key = *k;
    }
  }
  Stream* s = ResolveStream(c);
  if (s == nullptr) return;
  if (!too_large.empty()) {
    c.Fail("InvalidArgumentException", too_large);
    return;
  }
  if (total > kMaxPutRecordsBytes) {
    c.Fail("InvalidArgumentException",
           "Records size exceeds 5 MB limit: the records of this "
           "request total " +
               std::to_string(total) + " bytes.");
    return;
  }
  size_t start = 0;
  for (size_t i = 0; i < n; i++) {
    put_in_[i].data = std::string_view(scratch_).substr(start, ends[i] - start);
    start = ends[i];
  }
  put_out_.clear();
  Status st = s->PutBatch(put_in_, &put_out_);
  c.put_stream = s;
  c.put_generation = s->WriteGeneration();
  if (!st.ok() || put_out_.size() != n) {
    if (st.code() == Code::kResourceExhausted) {
      c.Fail("ProvisionedThroughputExceededException",
             "Rate exceeded for stream " + s->name() + ": " + st.message());
    } else {
      c.Fail("InternalFailure", "PutRecords failed: " + st.message(), 500);
    }
    return;
  }
  int failed = 0;
  for (const PutRecordOut& o : put_out_) failed += o.status.ok() ? 0 : 1;
  JsonWriter& w = c.w;
  c.Key("FailedRecordCount");
  w.Int(failed);
  c.Key("Records");
  w.StartArray();
  // Per shard once: its id text; per record no allocation.
  std::vector<std::string> shards;
  SequenceText seq;
  for (const PutRecordOut& o : put_out_) {
    w.StartObject();
    if (shards.size() <= o.shard_index) shards.resize(o.shard_index + 1);
    std::string& shard = shards[o.shard_index];
    if (shard.empty()) shard = ShardIdOf(o.shard_index);
    if (o.status.ok()) {
      c.Field("SequenceNumber", seq.Format(o.shard_index, o.offset));
      c.Field("ShardId", shard);
    } else if (o.status.code() == Code::kResourceExhausted) {
      c.Field("ErrorCode", "ProvisionedThroughputExceededException");
      c.Field("ErrorMessage", ThrottleMessage(shard, s->name(), options_.account_id));
    } else {
      c.Field("ErrorCode", "InternalFailure");
      c.Field("ErrorMessage", "Internal service failure.");
    }
    w.EndObject();
  }
  w.EndArray();
  c.Field("EncryptionType", EncryptionTypeOf(s->options().encryption));
}

void KinesisApi::GetShardIterator(Call& c) {
  std::optional<std::string_view> shard = c.Str("ShardId");
  std::optional<std::string_view> type = c.Str("ShardIteratorType");
  std::optional<std::string_view> seq = c.Str("StartingSequenceNumber");
  std::optional<int64_t> ts = c.TimestampMs("Timestamp");
  c.NotNull(shard.has_value(), "shardId");
  c.NotNull(type.has_value(), "shardIteratorType");
  c.ShardIdRules(shard, "shardId");
  c.Enum(type, "shardIteratorType",
         {"AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"});
  c.Pattern(seq, "startingSequenceNumber", seq && IsDecimalPattern(*seq, 129),
            "0|([1-9]\\d{0,128})");
  Stream* s = ResolveStream(c);
  if (s == nullptr) return;
  std::optional<uint32_t> index = ParseShardId(*shard);
  Result<ShardInfo> info = index ? s->GetShard(*index) : Result<ShardInfo>(NotFound("no"));
  if (!info.ok()) {
    c.Fail("ResourceNotFoundException", "Shard " + std::string(*shard) + " in stream " + s->name() +
                                            " under account " + options_.account_id +
                                            " does not exist");
    return;
  }
  bool by_seq = *type == "AT_SEQUENCE_NUMBER" || *type == "AFTER_SEQUENCE_NUMBER";
  if (by_seq && !seq) {
    c.Fail("InvalidArgumentException",
           "Must specify StartingSequenceNumber for " + std::string(*type) + " iterator type.");
    return;
  }
  if (!by_seq && seq) {
    c.Fail("InvalidArgumentException", "Request specified StartingSequenceNumber for " +
                                           std::string(*type) + " iterator type.");
    return;
  }
  if (*type == "AT_TIMESTAMP" && !ts) {
    c.Fail("InvalidArgumentException",
           "Must specify timestampInMillis parameter for iterator of "
           "type AT_TIMESTAMP. Current request has no timestamp "
           "parameter.");
    return;
  }
  if (*type != "AT_TIMESTAMP" && ts) {
    c.Fail("InvalidArgumentException",
           "Request specified timestampInMillis for " + std::string(*type) + " iterator type.");
    return;
  }
  Result<IteratorType> it_type = ParseIteratorType(*type);
  Result<std::string> token = it_type.ok()
                                  ? broker::GetShardIterator(*iterators_, *s, *index, *it_type,
                                                             seq.value_or(""), ts.value_or(0))
                                  : Result<std::string>(it_type.status());
  if (!token.ok()) {
    if (token.status().code() == Code::kInvalidArgument) {
      c.Fail("InvalidArgumentException", token.status().message());
    } else if (token.status().code() == Code::kNotFound) {
      c.Fail("ResourceNotFoundException", "Shard " + info->shard_id + " in stream " + s->name() +
                                              " under account " + options_.account_id +
                                              " does not exist");
    } else {
      c.Fail("InternalFailure", "GetShardIterator: " + token.status().message(), 500);
    }
    return;
  }
  c.Field("ShardIterator", *token);
}

void KinesisApi::GetRecords(Call& c) {
  std::optional<std::string_view> it = c.Str("ShardIterator");
  std::optional<int64_t> limit = c.Int("Limit");
  c.NotNull(it.has_value(), "shardIterator");
  c.Length(it, "shardIterator", 1, 512);
  c.Range(limit, "limit", 1, 10000);
  c.ArnRules(c.Str("StreamARN"), "streamARN");
  if (!c.Check()) return;
  Result<IteratorPosition> t = iterators_->Decode(*it);
  if (!t.ok()) {
    if (t.status().code() == Code::kExpired) {
      c.Fail("ExpiredIteratorException",
             "Iterator expired: " + t.status().message() + ". The tolerated delay is " +
                 std::to_string(kIteratorTtlMs) + " milliseconds; get a new iterator.");
    } else {
      c.Fail("InvalidArgumentException", "Invalid ShardIterator.");
    }
    return;
  }
  Result<Stream*> sr = broker_->GetStream(t->stream);
  if (!sr.ok()) {
    c.Fail("ResourceNotFoundException",
           "Stream " + t->stream + " under account " + options_.account_id + " not found.");
    return;
  }
  Stream* s = *sr;
  ReadLimits limits;
  limits.max_records = static_cast<size_t>(limit.value_or(10000));
  Status st = s->Read(t->shard_index, t->offset, limits, &read_batch_);
  if (!st.ok()) {
    std::string shard = ShardIdOf(t->shard_index);
    if (st.code() == Code::kResourceExhausted) {
      c.Fail("ProvisionedThroughputExceededException",
             "Rate exceeded for Shard - " + shard + " in stream " + s->name() + " under account " +
                 options_.account_id + ".");
    } else if (st.code() == Code::kNotFound) {
      c.Fail("ResourceNotFoundException", "Shard " + shard + " in stream " + s->name() +
                                              " under account " + options_.account_id +
                                              " does not exist");
    } else {
      c.Fail("InternalFailure", "GetRecords failed: " + st.message(), 500);
    }
    return;
  }
  // Per record, as AWS marks records sealed under a KMS key: by the stream's state now (a
  // record from a segment written before StartStreamEncryption is marked too).
  const bool kms = s->options().encryption.enabled;
  JsonWriter& w = c.w;
  c.Key("Records");
  w.StartArray();
  SequenceText seq;
  for (const RecordView& r : read_batch_.records) {
    w.StartObject();
    c.Field("SequenceNumber", seq.Format(t->shard_index, r.offset));
    c.Key("ApproximateArrivalTimestamp");
    WriteEpochSeconds(w, r.arrival_ms);
    // Base64 needs no escaping: written raw, quotes included, to skip the escape scan.
    scratch_.assign(1, '"');
    Base64Append(r.data, &scratch_);
    scratch_.push_back('"');
    c.Key("Data");
    w.RawValue(scratch_.data(), scratch_.size(), rapidjson::kStringType);
    c.Field("PartitionKey", r.partition_key);
    if (kms) c.Field("EncryptionType", "KMS");
    w.EndObject();
  }
  w.EndArray();
  c.Key("MillisBehindLatest");
  w.Int64(read_batch_.millis_behind_latest);
  if (!read_batch_.shard_end) {
    c.Field("NextShardIterator",
            iterators_->Encode(t->stream, t->shard_index, read_batch_.next_offset));
    return;
  }
  // A closed shard read to its end: no next iterator; name the children (KCL uses them).
  std::string parent = ShardIdOf(t->shard_index);
  c.Key("ChildShards");
  w.StartArray();
  for (const ShardInfo& child : s->ListShards()) {
    bool is_child = child.parent_shard_id == parent || child.adjacent_parent_shard_id == parent;
    if (!is_child) continue;
    w.StartObject();
    c.Field("ShardId", child.shard_id);
    c.Key("ParentShards");
    w.StartArray();
    if (child.parent_shard_id) c.String(*child.parent_shard_id);
    if (child.adjacent_parent_shard_id) c.String(*child.adjacent_parent_shard_id);
    w.EndArray();
    c.Key("HashKeyRange");
    w.StartObject();
    c.Field("StartingHashKey", HashKeyToString(child.starting_hash_key));
    c.Field("EndingHashKey", HashKeyToString(child.ending_hash_key));
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
}

}  // namespace sluice::broker::api
