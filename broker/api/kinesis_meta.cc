// The API layer's own metadata (stream creation times, tags, consumer registration times,
// enhanced-monitoring metrics, resource policies, consumers' tags and policies), kept in
// <data_dir>/kinesis_api.json and replaced atomically on every change, so ARNs, timestamps, tags
// and policies survive a restart. Members a version does not know are ignored on load.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <atomic>

#include "broker/api/kinesis_api.h"
#include "broker/file_util.h"
#include "core/json.h"
#include "core/log.h"

namespace sluice::broker::api {

namespace {

constexpr char kMetaFile[] = "kinesis_api.json";

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

// Bumped by every save of any instance in this process.
std::atomic<uint64_t>& Generation() {
  static std::atomic<uint64_t> generation{0};
  return generation;
}

void ReadTags(const rapidjson::Value& v, std::map<std::string, std::string>* out) {
  if (!v.IsObject()) return;
  for (auto& t : v.GetObject()) {
    if (t.value.IsString()) (*out)[t.name.GetString()] = t.value.GetString();
  }
}

void WriteString(Writer& w, const std::string& s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void WriteTags(Writer& w, const std::map<std::string, std::string>& tags) {
  w.StartObject();
  for (const auto& [k, v] : tags) {
    w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
    WriteString(w, v);
  }
  w.EndObject();
}

}  // namespace

void KinesisApi::RefreshMeta() {
  uint64_t now = Generation().load(std::memory_order_acquire);
  if (now == meta_generation_) return;
  std::map<std::string, StreamMeta, std::less<>> before;
  before.swap(meta_);
  Status st = LoadMeta();
  if (!st.ok()) {
    meta_.swap(before);  // keep what this instance had
    SLUICE_LOG(Error, "kinesis api: cannot reload metadata").With("error", st.ToString());
  }
  meta_generation_ = now;
}

Status KinesisApi::LoadMeta() {
  meta_generation_ = Generation().load(std::memory_order_acquire);
  std::filesystem::path path = options_.data_dir / kMetaFile;
  std::string text;
  Status st = ReadFileInto(path, &text);
  if (st.code() == Code::kNotFound) return Status::Ok();
  RETURN_IF_ERROR(st);
  rapidjson::Document d;
  Status d_parsed = ParseJson(text, &d);
  auto bad = [&path](const std::string& what) { return Corruption(path.string() + ": " + what); };
  if (!d_parsed.ok() || !d.IsObject() || !d.HasMember("streams") || !d["streams"].IsObject()) {
    return bad("not a JSON object with a \"streams\" object");
  }
  for (auto& s : d["streams"].GetObject()) {
    if (!s.value.IsObject()) return bad("stream " + std::string(s.name.GetString()));
    StreamMeta m;
    if (s.value.HasMember("created_ms") && s.value["created_ms"].IsInt64()) {
      m.created_ms = s.value["created_ms"].GetInt64();
    }
    if (s.value.HasMember("tags")) ReadTags(s.value["tags"], &m.tags);
    if (s.value.HasMember("consumers") && s.value["consumers"].IsObject()) {
      for (auto& c : s.value["consumers"].GetObject()) {
        if (c.value.IsInt64()) m.consumer_created_ms[c.name.GetString()] = c.value.GetInt64();
      }
    }
    if (s.value.HasMember("shard_metrics") && s.value["shard_metrics"].IsArray()) {
      for (auto& v : s.value["shard_metrics"].GetArray()) {
        if (v.IsString()) m.shard_metrics.insert(v.GetString());
      }
    }
    if (s.value.HasMember("policy") && s.value["policy"].IsString()) {
      m.policy = s.value["policy"].GetString();
    }
    if (s.value.HasMember("consumer_tags") && s.value["consumer_tags"].IsObject()) {
      for (auto& c : s.value["consumer_tags"].GetObject()) {
        ReadTags(c.value, &m.consumer_tags[c.name.GetString()]);
      }
    }
    if (s.value.HasMember("consumer_policies") && s.value["consumer_policies"].IsObject()) {
      for (auto& c : s.value["consumer_policies"].GetObject()) {
        if (c.value.IsString()) m.consumer_policies[c.name.GetString()] = c.value.GetString();
      }
    }
    meta_[s.name.GetString()] = std::move(m);
  }
  return Status::Ok();
}

void KinesisApi::SaveMeta() {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  w.Key("streams");
  w.StartObject();
  for (const auto& [name, m] : meta_) {
    w.Key(name.c_str());
    w.StartObject();
    w.Key("created_ms");
    w.Int64(m.created_ms);
    w.Key("tags");
    WriteTags(w, m.tags);
    w.Key("consumers");
    w.StartObject();
    for (const auto& [k, v] : m.consumer_created_ms) {
      w.Key(k.c_str());
      w.Int64(v);
    }
    w.EndObject();
    if (!m.shard_metrics.empty()) {
      w.Key("shard_metrics");
      w.StartArray();
      for (const std::string& metric : m.shard_metrics) WriteString(w, metric);
      w.EndArray();
    }
    if (!m.policy.empty()) {
      w.Key("policy");
      WriteString(w, m.policy);
    }
    if (!m.consumer_tags.empty()) {
      w.Key("consumer_tags");
      w.StartObject();
      for (const auto& [consumer, tags] : m.consumer_tags) {
        w.Key(consumer.c_str());
        WriteTags(w, tags);
      }
      w.EndObject();
    }
    if (!m.consumer_policies.empty()) {
      w.Key("consumer_policies");
      w.StartObject();
      for (const auto& [consumer, policy] : m.consumer_policies) {
        w.Key(consumer.c_str());
        WriteString(w, policy);
      }
      w.EndObject();
    }
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  Status st = WriteFileAtomically(options_.data_dir / kMetaFile,
                                  std::string_view(b.GetString(), b.GetSize()));
  if (!st.ok()) {
    SLUICE_LOG(Error, "kinesis api: cannot save metadata; tags and ARNs may change on restart")
        .With("error", st.ToString());
    return;
  }
  // This instance is current unless another saved since it last loaded (then it reloads).
  uint64_t seen = meta_generation_;
  if (Generation().compare_exchange_strong(seen, seen + 1, std::memory_order_acq_rel)) {
    meta_generation_ = seen + 1;
  } else {
    Generation().fetch_add(1, std::memory_order_acq_rel);
  }
}

}  // namespace sluice::broker::api
