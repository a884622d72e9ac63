#include "buffer/transform.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <unordered_map>

#include "core/base64.h"
#include "core/json.h"
#include "core/log.h"

namespace sluice::buffer {

Status Transform::ParseAnswer(std::string_view line, std::span<const TransformIn> records,
                              std::vector<TransformOut>* out) {
  rapidjson::Document d;
  Status d_parsed = ParseJson(line, &d);
  if (!d_parsed.ok() || !d.IsObject() || !d.HasMember("records") || !d["records"].IsArray()) {
    return InvalidArgument("transform answer is not {\"records\":[...]}");
  }
  std::unordered_map<std::string_view, size_t> index;
  for (size_t i = 0; i < records.size(); ++i) index[records[i].record_id] = i;
  out->assign(records.size(), TransformOut{});
  std::vector<bool> seen(records.size(), false);
  for (const auto& r : d["records"].GetArray()) {
    if (!r.IsObject() || !r.HasMember("recordId") || !r["recordId"].IsString() ||
        !r.HasMember("result") || !r["result"].IsString()) {
      return InvalidArgument("transform answer record lacks recordId or result");
    }
    auto it =
        index.find(std::string_view(r["recordId"].GetString(), r["recordId"].GetStringLength()));
    if (it == index.end()) return InvalidArgument("transform answered an unknown recordId");
    if (seen[it->second]) return InvalidArgument("transform answered a recordId twice");
    seen[it->second] = true;
    TransformOut& o = (*out)[it->second];
    std::string_view result = r["result"].GetString();
    if (result == "Ok") {
      if (!r.HasMember("data") || !r["data"].IsString()) {
        return InvalidArgument("transform answered Ok without data");
      }
      auto data =
          Base64Decode(std::string_view(r["data"].GetString(), r["data"].GetStringLength()));
      if (!data.ok()) return InvalidArgument("transform answered data that is not base64");
      o.result = TransformOut::Result::kOk;
      o.data = std::move(*data);
      // metadata.partitionKeys: the !{partitionKeyFromLambda:k} values (dynamic partitioning).
      auto meta = r.FindMember("metadata");
      if (meta != r.MemberEnd() && meta->value.IsObject()) {
        auto keys = meta->value.FindMember("partitionKeys");
        if (keys != meta->value.MemberEnd() && keys->value.IsObject()) {
          for (const auto& k : keys->value.GetObject()) {
            if (!k.value.IsString()) {
              return InvalidArgument("transform answered a partition key that is not a string");
            }
            o.partition_keys.emplace(std::string(k.name.GetString(), k.name.GetStringLength()),
                                     std::string(k.value.GetString(), k.value.GetStringLength()));
          }
        }
      }
    } else if (result == "Dropped") {
      o.result = TransformOut::Result::kDropped;
    } else if (result == "ProcessingFailed") {
      o.result = TransformOut::Result::kProcessingFailed;
      o.error = "the transform answered ProcessingFailed";
    } else {
      return InvalidArgument("transform answered an unknown result");
    }
  }
  for (bool s : seen) {
    if (!s) return InvalidArgument("transform did not answer every recordId");
  }
  return Status::Ok();
}

std::vector<TransformOut> Transform::Apply(std::span<const TransformIn> records) {
  // Events of at most max_event_bytes_ of record data (at least one record each); base64 makes
  // them 4/3 as large, under Lambda's 6 MB cap at the 1 MiB default and the 3 MiB maximum.
  std::vector<TransformOut> out;
  out.reserve(records.size());
  size_t start = 0;
  while (start < records.size()) {
    size_t end = start, bytes = 0;
    while (end < records.size() &&
           (end == start || bytes + records[end].data.size() <= max_event_bytes_)) {
      bytes += records[end].data.size();
      ++end;
    }
    ApplyChunk(records.subspan(start, end - start), &out);
    start = end;
  }
  return out;
}

void Transform::ApplyChunk(std::span<const TransformIn> records, std::vector<TransformOut>* all) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("invocationId");
  w.String(("invocation-" + std::to_string(++invocations_)).c_str());
  w.Key("deliveryStreamArn");
  w.String(("arn:aws:firehose:local:000000000000:deliverystream/" + delivery_).c_str());
  w.Key("region");
  w.String("local");
  w.Key("records");
  w.StartArray();
  std::string b64;
  for (const auto& r : records) {
    w.StartObject();
    w.Key("recordId");
    w.String(r.record_id.data(), static_cast<rapidjson::SizeType>(r.record_id.size()));
    w.Key("approximateArrivalTimestamp");
    w.Int64(r.arrival_ms);
    w.Key("data");
    b64.clear();
    Base64Append(r.data, &b64);
    w.String(b64.data(), static_cast<rapidjson::SizeType>(b64.size()));
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  std::string request(sb.GetString(), sb.GetSize());
  request.push_back('\n');
  std::vector<TransformOut> out;
  Status last;
  if (request.size() > kMaxPayloadBytes) {
    last = InvalidArgument("the transform event is " + std::to_string(request.size()) +
                           " bytes, over the 6 MB payload cap");
  } else {
    for (int attempt = 0; attempt <= retries_; ++attempt) {
      std::string answer;
      last = Invoke(request, &answer);
      if (last.ok() && answer.size() > kMaxPayloadBytes) {
        last = InvalidArgument("the transform answer is over the 6 MB payload cap");
      }
      if (last.ok()) last = ParseAnswer(answer, records, &out);
      if (last.ok()) {
        for (auto& o : out) all->push_back(std::move(o));
        return;
      }
      SLUICE_LOG(Warn, "transform invocation failed")
          .With("delivery", delivery_)
          .With("sink", sink_)
          .With("attempt", attempt + 1)
          .With("error", last.message());
      Reset();
    }
  }
  for (size_t i = 0; i < records.size(); ++i) {
    TransformOut& o = all->emplace_back();
    o.error = last.message();  // result defaults to kProcessingFailed
  }
}

}  // namespace sluice::buffer
