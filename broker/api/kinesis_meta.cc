// The API layer's own metadata (stream creation times, tags, consumer registration times),
// kept in <data_dir>/kinesis_api.json and replaced atomically on every change, so ARNs,
// timestamps and tags survive a restart.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "broker/api/kinesis_api.h"
#include "broker/file_util.h"
#include "core/json.h"
#include "core/log.h"

namespace sluice::broker::api {

namespace {
constexpr char kMetaFile[] = "kinesis_api.json";
}

Status KinesisApi::LoadMeta() {
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
    if (s.value.HasMember("tags") && s.value["tags"].IsObject()) {
      for (auto& t : s.value["tags"].GetObject()) {
        if (t.value.IsString()) m.tags[t.name.GetString()] = t.value.GetString();
      }
    }
    if (s.value.HasMember("consumers") && s.value["consumers"].IsObject()) {
      for (auto& c : s.value["consumers"].GetObject()) {
        if (c.value.IsInt64()) m.consumer_created_ms[c.name.GetString()] = c.value.GetInt64();
      }
    }
    meta_[s.name.GetString()] = std::move(m);
  }
  return Status::Ok();
}

void KinesisApi::SaveMeta() {
  rapidjson::StringBuffer b;
  rapidjson::Writer<rapidjson::StringBuffer> w(b);
  w.StartObject();
  w.Key("streams");
  w.StartObject();
  for (const auto& [name, m] : meta_) {
    w.Key(name.c_str());
    w.StartObject();
    w.Key("created_ms");
    w.Int64(m.created_ms);
    w.Key("tags");
    w.StartObject();
    for (const auto& [k, v] : m.tags) {
      w.Key(k.c_str());
      w.String(v.c_str());
    }
    w.EndObject();
    w.Key("consumers");
    w.StartObject();
    for (const auto& [k, v] : m.consumer_created_ms) {
      w.Key(k.c_str());
      w.Int64(v);
    }
    w.EndObject();
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  Status st = WriteFileAtomically(options_.data_dir / kMetaFile,
                                  std::string_view(b.GetString(), b.GetSize()));
  if (!st.ok()) {
    SLUICE_LOG(Error, "kinesis api: cannot save metadata; tags and ARNs may change on restart")
        .With("error", st.ToString());
  }
}

}  // namespace sluice::broker::api
