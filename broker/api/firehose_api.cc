#include "broker/api/firehose_api.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <mutex>
#include <optional>

#include "broker/api/durable_acks.h"
#include "broker/api/firehose_call.h"
#include "core/base64.h"
#include "core/json.h"
#include "core/log.h"
#include "core/utf8.h"

namespace sluice::broker::api {

std::string DirectPutStreamName(std::string_view delivery) {
  return std::string(kDirectPutStreamPrefix) + std::string(delivery);
}

Result<Stream*> OpenDirectPutStream(Broker* broker, std::string_view delivery, int shards,
                                    const StreamEncryption& encryption) {
  if (!IsDeliveryName(delivery)) {
    return InvalidArgument("delivery stream name '" + std::string(delivery) +
                           "' must be 1..64 of [a-zA-Z0-9_.-]");
  }
  std::string name = DirectPutStreamName(delivery);
  auto found = broker->GetStream(name);
  if (found.ok()) return *found;
  StreamOptions so;
  so.name = name;
  so.shards = std::max(1, shards);
  so.retention_hours = 24;
  so.encryption = encryption;
  return broker->CreateStream(so);
}

Result<std::unique_ptr<FirehoseApi>> FirehoseApi::Create(Broker* broker,
                                                         const ApiOptions& options) {
  if (broker == nullptr) return InvalidArgument("firehose api: no broker");
  return std::unique_ptr<FirehoseApi>(new FirehoseApi(broker, options));
}

FirehoseApi::FirehoseApi(Broker* broker, const ApiOptions& options)
    : broker_(broker), options_(options), out_(std::make_unique<rapidjson::StringBuffer>()) {}

bool FirehoseApi::Authorize(Call& c, std::string_view operation, const ApiCaller* caller,
                            std::string* resource) {
  std::string name, arn;
  if (const auto* v = c.doc.IsObject() && c.doc.HasMember("DeliveryStreamName")
                          ? &c.doc["DeliveryStreamName"]
                          : nullptr;
      v != nullptr && v->IsString()) {
    name.assign(v->GetString(), v->GetStringLength());
    arn = Arn(name);
  }
  *resource = arn;
  if (caller == nullptr || caller->policy == nullptr) return true;
  if (arn.empty()) {
    arn = "arn:aws:firehose:" + options_.region + ":" + options_.account_id + ":deliverystream/*";
  }
  std::string action = "firehose:" + std::string(operation);
  if (auto denied = DeniedMessage(*caller, options_.account_id, action, arn, name)) {
    c.Fail("AccessDeniedException", *denied);
    return false;
  }
  return true;
}

void FirehoseApi::Handle(std::string_view operation, std::string& body, ApiReply* reply,
                         const ApiCaller* caller) {
  using Op = void (FirehoseApi::*)(Call&);
  struct Entry {
    std::string_view name;
    Op op;
  };
  static constexpr Entry kOps[] = {
      {"PutRecordBatch", &FirehoseApi::PutRecordBatch},
      {"PutRecord", &FirehoseApi::PutRecord},
      {"CreateDeliveryStream", &FirehoseApi::CreateDeliveryStream},
      {"DeleteDeliveryStream", &FirehoseApi::DeleteDeliveryStream},
      {"DescribeDeliveryStream", &FirehoseApi::DescribeDeliveryStream},
      {"ListDeliveryStreams", &FirehoseApi::ListDeliveryStreams},
      {"UpdateDestination", &FirehoseApi::UpdateDestination},
      {"TagDeliveryStream", &FirehoseApi::TagDeliveryStream},
      {"UntagDeliveryStream", &FirehoseApi::UntagDeliveryStream},
      {"ListTagsForDeliveryStream", &FirehoseApi::ListTagsForDeliveryStream},
      {"StartDeliveryStreamEncryption", &FirehoseApi::StartDeliveryStreamEncryption},
      {"StopDeliveryStreamEncryption", &FirehoseApi::StopDeliveryStreamEncryption},
  };
  Call c(*out_);
  std::string resource;
  int64_t records = -1;
  Op op = nullptr;
  for (const Entry& e : kOps) {
    if (e.name == operation) op = e.op;
  }
  if (op == nullptr) {
    c.Fail("UnknownOperationException", "Unknown operation: '" + std::string(operation) + "'");
  } else {
    Status parsed = ParseRequestObject(body, &c.doc);
    if (!parsed.ok()) {
      c.Fail("SerializationException", parsed.message());
    } else if (Authorize(c, operation, caller, &resource)) {
      records = RecordsIn(operation, c.doc);
      c.w.StartObject();
      (this->*op)(c);
      if (!c.failed) c.w.EndObject();
    }
  }
  if (c.failed) {
    SetErrorReply(c.status, c.error_type, c.error_message, reply);
  } else {
    SetOkReply(*out_, reply);
  }
  reply->resource = std::move(resource);
  reply->records = records;
  if (!c.failed && c.put_stream != nullptr) {
    DurableWait wait = WaitFor(*c.put_stream, c.put_generation);
    reply->durable_stream = std::move(wait.stream);
    reply->durable_generation = wait.generation;
  }
}

std::string FirehoseApi::Arn(std::string_view name) const {
  return "arn:aws:firehose:" + options_.region + ":" + options_.account_id + ":deliverystream/" +
         std::string(name);
}

const FirehoseDelivery* FirehoseApi::Configured(std::string_view name) const {
  for (const FirehoseDelivery& d : options_.firehose_deliveries) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

Stream* FirehoseApi::ResolveDirectPut(Call& c, std::string_view name) {
  const FirehoseDelivery* d = Configured(name);
  if (d != nullptr && !d->source_stream.empty()) {
    c.Fail("InvalidArgumentException",
           "This operation is not permitted on KinesisStreamAsSource delivery stream type.");
    return nullptr;
  }
  auto s = broker_->GetStream(DirectPutStreamName(name));
  if (!s.ok()) {
    c.Fail("ResourceNotFoundException", "Firehose " + std::string(name) + " under account " +
                                            options_.account_id + " not found.");
    return nullptr;
  }
  return *s;
}

void FirehoseApi::ListDeliveryStreams(Call& c) {
  std::optional<int64_t> limit = c.Int("Limit");
  std::optional<std::string_view> type = c.Str("DeliveryStreamType");
  std::optional<std::string_view> start = c.Str("ExclusiveStartDeliveryStreamName");
  if (limit && (*limit < 1 || *limit > 10000)) {
    c.violations.push_back(
        "Value '" + std::to_string(*limit) +
        "' at 'limit' failed to satisfy constraint: Member must have value " +
        (*limit < 1 ? "greater than or equal to 1" : "less than or equal to 10000"));
  }
  if (!c.Check()) return;
  // name -> is DirectPut
  std::vector<std::pair<std::string, bool>> all;
  for (const std::string& s : broker_->ListStreams()) {
    if (s.compare(0, kDirectPutStreamPrefix.size(), kDirectPutStreamPrefix) == 0) {
      all.emplace_back(s.substr(kDirectPutStreamPrefix.size()), true);
    }
  }
  for (const FirehoseDelivery& d : options_.firehose_deliveries) {
    if (!d.source_stream.empty()) all.emplace_back(d.name, false);
  }
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  size_t max = static_cast<size_t>(limit.value_or(10));
  size_t n = 0;
  bool more = false;
  c.w.Key("DeliveryStreamNames");
  c.w.StartArray();
  for (const auto& [name, direct] : all) {
    if (start && name <= *start) continue;
    if (type && *type != (direct ? "DirectPut" : "KinesisStreamAsSource")) continue;
    if (n == max) {
      more = true;
      break;
    }
    c.w.String(name.data(), static_cast<rapidjson::SizeType>(name.size()));
    ++n;
  }
  c.w.EndArray();
  c.w.Key("HasMoreDeliveryStreams");
  c.w.Bool(more);
}

void FirehoseApi::PutRecord(Call& c) {
  std::optional<std::string_view> name = c.Name();
  const rapidjson::Value* record = c.Get("Record");
  std::optional<std::string_view> data;
  if (record == nullptr) {
    c.violations.push_back(
        "Value null at 'record' failed to satisfy constraint: Member must not be null");
  } else {
    data = c.Str("Data", record);
    if (!data) {
      c.violations.push_back(
          "Value null at 'record.data' failed to satisfy constraint: Member must not be null");
    }
  }
  if (c.failed) return;
  scratch_.clear();
  put_in_.clear();
  if (data) {
    if (!Base64DecodeAppend(*data, &scratch_).ok()) {
      c.Fail("SerializationException", "Record.Data is not valid base64");
      return;
    }
    if (scratch_.size() > kFirehoseMaxRecordBytes) {
      c.violations.push_back(
          "Value at 'record.data' failed to satisfy constraint: Member must "
          "have length less than or equal to 1024000");
    }
    put_in_.push_back({{}, scratch_, std::nullopt});
  }
  if (!c.Check()) return;
  Stream* s = ResolveDirectPut(c, *name);
  if (s == nullptr) return;
  Append(c, s, false);
}

void FirehoseApi::PutRecordBatch(Call& c) {
  std::optional<std::string_view> name = c.Name();
  const rapidjson::Value* records = c.Get("Records");
  if (records == nullptr) {
    c.violations.push_back(
        "Value null at 'records' failed to satisfy constraint: Member must not be null");
  } else if (!records->IsArray()) {
    c.Fail("SerializationException", "Expected a list for Records");
    return;
  } else if (records->Empty() || records->Size() > kFirehoseMaxBatchRecords) {
    c.violations.push_back(
        std::string("Value at 'records' failed to satisfy constraint: Member must have length ") +
        (records->Empty() ? "greater than or equal to 1" : "less than or equal to 500"));
  }
  if (c.failed) return;
  scratch_.clear();
  put_in_.clear();
  if (records != nullptr && c.violations.empty()) {
    // Decode everything first (scratch_ may grow), then point the views into it.
    std::vector<size_t>& ends = ends_;
    ends.clear();
    uint32_t i = 0;
    for (const auto& r : records->GetArray()) {
      std::optional<std::string_view> data = c.Str("Data", &r);
      if (c.failed) return;
      size_t before = scratch_.size();
      if (!data) {
        c.violations.push_back("Value null at 'records." + std::to_string(i + 1) +
                               ".member.data' failed to satisfy constraint: Member must not be "
                               "null");
      } else if (!Base64DecodeAppend(*data, &scratch_).ok()) {
        c.Fail("SerializationException",
               "Records[" + std::to_string(i) + "].Data is not valid base64");
        return;
      } else if (scratch_.size() - before > kFirehoseMaxRecordBytes) {
        c.violations.push_back("Value at 'records." + std::to_string(i + 1) +
                               ".member.data' failed to satisfy constraint: Member must have "
                               "length less than or equal to 1024000");
      }
      ends.push_back(scratch_.size());
      ++i;
    }
    size_t start = 0;
    for (size_t end : ends) {
      put_in_.push_back({{}, std::string_view(scratch_).substr(start, end - start), std::nullopt});
      start = end;
    }
  }
  if (!c.Check()) return;
  if (scratch_.size() > kFirehoseMaxBatchBytes) {
    c.Fail("InvalidArgumentException", "Records size exceeds 4 MB limit");
    return;
  }
  Stream* s = ResolveDirectPut(c, *name);
  if (s == nullptr) return;
  Append(c, s, true);
}

void FirehoseApi::Append(Call& c, Stream* stream, bool batch) {
  // Partition keys spread records over the internal stream's shards; fixed-width slots so the
  // views stay valid while keys_ is filled.
  constexpr size_t kKeyWidth = 20;
  keys_.assign(put_in_.size() * kKeyWidth, '0');
  for (size_t i = 0; i < put_in_.size(); ++i) {
    char* p = keys_.data() + i * kKeyWidth;
    std::to_chars(p, p + kKeyWidth, key_counter_++);
    put_in_[i].partition_key = std::string_view(p, kKeyWidth);
  }
  // As AWS answers: whether SSE applied to the records put (the stream seals its next segments).
  const bool encrypted = stream->options().encryption.enabled;
  Status st = stream->PutBatch(put_in_, &put_out_);
  c.put_stream = stream;
  c.put_generation = stream->WriteGeneration();
  if (!st.ok()) {
    c.Fail(st.code() == Code::kInvalidArgument ? "InvalidArgumentException"
                                               : "ServiceUnavailableException",
           st.message(), st.code() == Code::kInvalidArgument ? 400 : 503);
    return;
  }
  char id[48];
  auto record_id = [&](const PutRecordOut& o) {
    // "<shard>-<offset>": the recordId a transform sees for the same record.
    int n = std::snprintf(id, sizeof(id), "%" PRIu32 "-%" PRIu64, o.shard_index, o.offset);
    return std::string_view(id, static_cast<size_t>(n));
  };
  auto error_of = [](const PutRecordOut& o) -> std::pair<std::string_view, std::string_view> {
    if (o.status.code() == Code::kResourceExhausted || o.status.code() == Code::kUnavailable) {
      return {"ServiceUnavailableException", "Slow down."};
    }
    return {"InternalFailure", "Internal service failure."};
  };
  if (!batch) {
    const PutRecordOut& o = put_out_[0];
    if (!o.status.ok()) {
      auto [type, message] = error_of(o);
      c.Fail(std::string(type), std::string(message), 503);
      return;
    }
    c.Field("RecordId", record_id(o));
    c.w.Key("Encrypted");
    c.w.Bool(encrypted);
    return;
  }
  int64_t failed = 0;
  for (const PutRecordOut& o : put_out_) failed += o.status.ok() ? 0 : 1;
  c.w.Key("FailedPutCount");
  c.w.Int64(failed);
  c.w.Key("Encrypted");
  c.w.Bool(encrypted);
  c.w.Key("RequestResponses");
  c.w.StartArray();
  for (const PutRecordOut& o : put_out_) {
    c.w.StartObject();
    if (o.status.ok()) {
      c.Field("RecordId", record_id(o));
    } else {
      auto [type, message] = error_of(o);
      c.Field("ErrorCode", type);
      c.Field("ErrorMessage", message);
    }
    c.w.EndObject();
  }
  c.w.EndArray();
}

}  // namespace sluice::broker::api
