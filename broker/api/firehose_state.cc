// FirehoseStreamState as JSON (firehose_controller.h).
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "broker/api/firehose_controller.h"
#include "core/json.h"

namespace sluice::broker::api {

std::string SerializeStreamState(const FirehoseStreamState& s) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("name");
  w.String(s.name.c_str(), static_cast<rapidjson::SizeType>(s.name.size()));
  w.Key("api_created");
  w.Bool(s.api_created);
  w.Key("version");
  w.Int64(s.version);
  w.Key("created_ms");
  w.Int64(s.created_ms);
  w.Key("updated_ms");
  w.Int64(s.updated_ms);
  w.Key("encrypted");
  w.Bool(s.encrypted);
  if (!s.key_arn.empty()) {
    w.Key("key_arn");
    w.String(s.key_arn.c_str(), static_cast<rapidjson::SizeType>(s.key_arn.size()));
  }
  w.Key("tags");
  w.StartObject();
  for (const auto& [k, v] : s.tags) {
    w.Key(k.c_str(), static_cast<rapidjson::SizeType>(k.size()));
    w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
  }
  w.EndObject();
  if (!s.destination.empty()) {
    w.Key("destination");
    w.RawValue(s.destination.c_str(), s.destination.size(), rapidjson::kObjectType);
  }
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

Result<FirehoseStreamState> ParseStreamState(std::string_view json) {
  rapidjson::Document d;
  RETURN_IF_ERROR(ParseJson(json, &d));
  if (!d.IsObject() || !d.HasMember("name") || !d["name"].IsString()) {
    return Corruption("firehose stream state: not an object with a name");
  }
  FirehoseStreamState s;
  s.name = d["name"].GetString();
  auto i64 = [&](const char* k, int64_t* out) {
    if (d.HasMember(k) && d[k].IsInt64()) *out = d[k].GetInt64();
  };
  i64("version", &s.version);
  i64("created_ms", &s.created_ms);
  i64("updated_ms", &s.updated_ms);
  if (d.HasMember("api_created") && d["api_created"].IsBool()) {
    s.api_created = d["api_created"].GetBool();
  }
  if (d.HasMember("encrypted") && d["encrypted"].IsBool()) s.encrypted = d["encrypted"].GetBool();
  if (d.HasMember("key_arn") && d["key_arn"].IsString()) s.key_arn = d["key_arn"].GetString();
  if (d.HasMember("tags") && d["tags"].IsObject()) {
    for (const auto& m : d["tags"].GetObject()) {
      if (m.value.IsString()) s.tags[m.name.GetString()] = m.value.GetString();
    }
  }
  if (d.HasMember("destination") && d["destination"].IsObject()) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    d["destination"].Accept(w);
    s.destination.assign(sb.GetString(), sb.GetSize());
  }
  return s;
}

}  // namespace sluice::broker::api
