#include "plugins/kinesis/kinesis_protocol.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <cstdio>

#include "core/base64.h"
#include "core/hash_key.h"
#include "core/json.h"
#include "core/utf8.h"
#include "plugins/common/aws_json.h"

namespace sluice::kinesis {

std::vector<CallRange> PlanCalls(const std::vector<PutEntry>& entries, size_t max_records,
                                 size_t max_bytes) {
  return sink::PlanCalls(entries.size(), max_records, max_bytes,
                         [&](size_t i) { return entries[i].data.size() + entries[i].key.size(); });
}

Status CheckRecord(std::string_view data, std::string_view key) {
  if (key.empty()) return InvalidArgument("an empty partition key");
  bool ascii = true;
  for (char c : key) ascii &= static_cast<unsigned char>(c) < 0x80;
  if (!ascii && ValidUtf8(key) != key) return InvalidArgument("a partition key that is not UTF-8");
  size_t chars = ascii ? key.size() : Utf8Chars(key);
  if (chars > kMaxPartitionKeyChars) {
    return InvalidArgument("a partition key of " + std::to_string(chars) + " characters (at most " +
                           std::to_string(kMaxPartitionKeyChars) + ")");
  }
  if (data.size() + key.size() > kMaxRecordBytes) {
    return InvalidArgument(std::to_string(data.size() + key.size()) +
                           " bytes of data and partition key (Kinesis takes at most 1 MiB: "
                           "1048576)");
  }
  return Status::Ok();
}

void AppendPutRecordsBody(std::string_view stream_name, std::string_view stream_arn,
                          const std::vector<PutEntry>& entries, CallRange range, std::string* out) {
  size_t need = 64 + stream_name.size() + stream_arn.size();
  for (size_t i = range.first; i < range.first + range.count; ++i) {
    need += 32 + Base64EncodedSize(entries[i].data.size()) + entries[i].key.size() * 2;
  }
  out->reserve(out->size() + need);
  out->append("{\"Records\":[");
  for (size_t i = range.first; i < range.first + range.count; ++i) {
    if (i != range.first) out->push_back(',');
    out->append("{\"Data\":\"");
    Base64Append(entries[i].data, out);
    out->append("\",\"PartitionKey\":");
    AppendJsonString(entries[i].key, out);
    if (!entries[i].explicit_hash_key.empty()) {
      out->append(",\"ExplicitHashKey\":");
      AppendJsonString(entries[i].explicit_hash_key, out);
    }
    out->push_back('}');
  }
  out->append("],");
  if (!stream_arn.empty()) {
    out->append("\"StreamARN\":");
    AppendJsonString(stream_arn, out);
  } else {
    out->append("\"StreamName\":");
    AppendJsonString(stream_name, out);
  }
  out->push_back('}');
}

PutRecordsAnswer ParsePutRecordsAnswer(long status, std::string_view body, size_t expected,
                                       std::string_view transport) {
  return sink::ParseAwsBatchAnswer(status, body, expected, transport, "Records", "SequenceNumber",
                                   "Kinesis");
}

bool ParseListShards(std::string_view body, std::vector<ShardRange>* shards,
                     std::string* next_token) {
  rapidjson::Document doc;
  if (!ParseJson(body, &doc).ok() || !doc.IsObject()) return false;
  auto list = doc.FindMember("Shards");
  if (list == doc.MemberEnd() || !list->value.IsArray()) return false;
  for (const auto& sh : list->value.GetArray()) {
    if (!sh.IsObject()) return false;
    // A closed shard (a parent after a split or merge) takes no more records.
    auto seq = sh.FindMember("SequenceNumberRange");
    if (seq != sh.MemberEnd() &&
        !sink::JsonStringMember(seq->value, "EndingSequenceNumber").empty()) {
      continue;
    }
    auto range = sh.FindMember("HashKeyRange");
    if (range == sh.MemberEnd()) return false;
    std::string start = sink::JsonStringMember(range->value, "StartingHashKey");
    auto a = ParseHashKey(start);
    auto b = ParseHashKey(sink::JsonStringMember(range->value, "EndingHashKey"));
    if (!a.ok() || !b.ok() || *a > *b) return false;
    shards->push_back({*a, *b, start});
  }
  std::sort(shards->begin(), shards->end(),
            [](const ShardRange& x, const ShardRange& y) { return x.start < y.start; });
  *next_token = sink::JsonStringMember(doc, "NextToken");
  return true;
}

}  // namespace sluice::kinesis
