#include "broker/metadata.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>

#include "core/json.h"

namespace sluice::broker {

std::string ShardId(uint32_t index) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "shardId-%012u", index);
  return buf;
}

static const char* FsyncName(FsyncPolicy p) {
  switch (p) {
    case FsyncPolicy::kAlways:
      return "always";
    case FsyncPolicy::kNever:
      return "never";
    default:
      return "interval";
  }
}

std::string EncodeStreamMeta(const StreamMeta& meta) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  const StreamOptions& o = meta.options;
  w.StartObject();
  w.Key("version");
  w.Uint(1);
  w.Key("name");
  w.String(o.name);
  w.Key("retention_hours");
  w.Int64(o.retention_hours);
  w.Key("fsync");
  w.String(FsyncName(o.fsync));
  w.Key("fsync_interval_ms");
  w.Int64(o.fsync_interval.count());
  w.Key("mode");
  w.String(o.mode == CapacityMode::kProvisioned ? "provisioned" : "unlimited");
  if (o.encryption.enabled || !o.encryption.key_id.empty()) {
    w.Key("encryption");
    w.StartObject();
    w.Key("enabled");
    w.Bool(o.encryption.enabled);
    w.Key("key_id");
    w.String(o.encryption.key_id);
    w.EndObject();
  }
  w.Key("shards");
  w.StartArray();
  for (const ShardMeta& s : meta.shards) {
    w.StartObject();
    w.Key("index");
    w.Uint(s.index);
    w.Key("start");
    w.String(HashKeyToString(s.start).c_str());
    w.Key("end");
    w.String(HashKeyToString(s.end).c_str());
    w.Key("parent");
    w.Int64(s.parent);
    w.Key("adjacent");
    w.Int64(s.adjacent);
    w.Key("epoch");
    w.Uint64(s.epoch);
    w.Key("open");
    w.Bool(s.open);
    w.Key("end_offset");
    w.Uint64(s.end_offset);
    w.Key("created_ms");
    w.Int64(s.created_ms);
    w.Key("closed_ms");
    w.Int64(s.closed_ms);
    w.Key("expired");
    w.Bool(s.expired);
    w.EndObject();
  }
  w.EndArray();
  w.Key("consumers");
  w.StartObject();
  for (const auto& [name, cps] : meta.consumers) {
    w.Key(name.c_str(), static_cast<rapidjson::SizeType>(name.size()));
    w.StartObject();
    for (const auto& [shard, off] : cps) {
      std::string k = std::to_string(shard);
      w.Key(k.c_str(), static_cast<rapidjson::SizeType>(k.size()));
      w.Uint64(off);
    }
    w.EndObject();
  }
  w.EndObject();
  w.Key("consumer_created_ms");
  w.StartObject();
  for (const auto& [name, ms] : meta.consumer_created_ms) {
    w.Key(name.c_str(), static_cast<rapidjson::SizeType>(name.size()));
    w.Int64(ms);
  }
  w.EndObject();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

Result<StreamMeta> DecodeStreamMeta(std::string_view json, const std::string& where) {
  rapidjson::Document d;
  Status d_parsed = ParseJson(json, &d);
  if (!d_parsed.ok() || !d.IsObject()) return Corruption(where + ": not a JSON object");
  auto bad = [&](const char* key) {
    return Corruption(where + ": bad or missing \"" + key + "\"");
  };
  StreamMeta m;
  StreamOptions& o = m.options;
  if (!d.HasMember("name") || !d["name"].IsString()) return bad("name");
  o.name = d["name"].GetString();
  if (!d.HasMember("retention_hours") || !d["retention_hours"].IsInt64()) {
    return bad("retention_hours");
  }
  o.retention_hours = d["retention_hours"].GetInt64();
  if (!d.HasMember("fsync") || !d["fsync"].IsString()) return bad("fsync");
  std::string_view f = d["fsync"].GetString();
  o.fsync = f == "always"  ? FsyncPolicy::kAlways
            : f == "never" ? FsyncPolicy::kNever
                           : FsyncPolicy::kInterval;
  if (!d.HasMember("fsync_interval_ms") || !d["fsync_interval_ms"].IsInt64()) {
    return bad("fsync_interval_ms");
  }
  o.fsync_interval = std::chrono::milliseconds(d["fsync_interval_ms"].GetInt64());
  if (!d.HasMember("mode") || !d["mode"].IsString()) return bad("mode");
  o.mode = std::string_view(d["mode"].GetString()) == "provisioned" ? CapacityMode::kProvisioned
                                                                    : CapacityMode::kUnlimited;
  if (d.HasMember("encryption")) {
    const auto& e = d["encryption"];
    if (!e.IsObject() || !e.HasMember("enabled") || !e["enabled"].IsBool() ||
        !e.HasMember("key_id") || !e["key_id"].IsString()) {
      return bad("encryption");
    }
    o.encryption.enabled = e["enabled"].GetBool();
    o.encryption.key_id = e["key_id"].GetString();
  }
  if (!d.HasMember("shards") || !d["shards"].IsArray()) return bad("shards");
  for (const auto& v : d["shards"].GetArray()) {
    if (!v.IsObject()) return bad("shards");
    ShardMeta s;
    for (const char* k : {"index", "epoch", "end_offset"}) {
      if (!v.HasMember(k) || !v[k].IsUint64()) return bad(k);
    }
    for (const char* k : {"parent", "adjacent", "created_ms", "closed_ms"}) {
      if (!v.HasMember(k) || !v[k].IsInt64()) return bad(k);
    }
    for (const char* k : {"start", "end"}) {
      if (!v.HasMember(k) || !v[k].IsString()) return bad(k);
    }
    for (const char* k : {"open", "expired"}) {
      if (!v.HasMember(k) || !v[k].IsBool()) return bad(k);
    }
    s.index = static_cast<uint32_t>(v["index"].GetUint64());
    if (s.index != m.shards.size()) return bad("index");
    auto start = ParseHashKey(v["start"].GetString());
    auto end = ParseHashKey(v["end"].GetString());
    if (!start.ok() || !end.ok()) return bad("start");
    s.start = *start;
    s.end = *end;
    s.parent = v["parent"].GetInt64();
    s.adjacent = v["adjacent"].GetInt64();
    s.epoch = v["epoch"].GetUint64();
    s.open = v["open"].GetBool();
    s.end_offset = v["end_offset"].GetUint64();
    s.created_ms = v["created_ms"].GetInt64();
    s.closed_ms = v["closed_ms"].GetInt64();
    s.expired = v["expired"].GetBool();
    m.shards.push_back(s);
  }
  o.shards = static_cast<int>(m.shards.size());
  if (d.HasMember("consumers")) {
    if (!d["consumers"].IsObject()) return bad("consumers");
    for (const auto& c : d["consumers"].GetObject()) {
      if (!c.value.IsObject()) return bad("consumers");
      auto& cps = m.consumers[c.name.GetString()];
      for (const auto& cp : c.value.GetObject()) {
        if (!cp.value.IsUint64()) return bad("consumers");
        cps[static_cast<uint32_t>(std::strtoul(cp.name.GetString(), nullptr, 10))] =
            cp.value.GetUint64();
      }
    }
  }
  if (d.HasMember("consumer_created_ms")) {
    if (!d["consumer_created_ms"].IsObject()) return bad("consumer_created_ms");
    for (const auto& c : d["consumer_created_ms"].GetObject()) {
      if (!c.value.IsInt64()) return bad("consumer_created_ms");
      if (m.consumers.count(c.name.GetString()) == 0) continue;
      m.consumer_created_ms[c.name.GetString()] = c.value.GetInt64();
    }
  }
  return m;
}

}  // namespace sluice::broker
