#include "buffer/batch_journal.h"

#include <errno.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "buffer/error_output.h"

namespace sluice::buffer {

std::string EncodeJournalEntry(const JournalEntry& e) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("worker");
  w.Int(e.worker);
  w.Key("object_key");
  w.String(e.object_key);
  w.Key("error_key");
  w.String(e.error_key);
  w.Key("oldest_arrival_ms");
  w.Int64(e.oldest_arrival_ms);
  w.Key("records");
  w.Uint64(e.records);
  w.Key("ranges");
  w.StartArray();
  for (const auto& r : e.ranges) {
    w.StartObject();
    w.Key("shard");
    w.Uint(r.shard);
    w.Key("first");
    w.Uint64(r.first);
    w.Key("last");
    w.Uint64(r.last);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

Result<JournalEntry> DecodeJournalEntry(std::string_view json) {
  rapidjson::Document d;
  d.Parse(json.data(), json.size());
  auto bad = [](const char* what) { return Corruption(std::string("batch journal: ") + what); };
  if (d.HasParseError() || !d.IsObject()) return bad("not a JSON object");
  JournalEntry e;
  auto it = d.FindMember("worker");
  if (it == d.MemberEnd() || !it->value.IsInt()) return bad("worker missing");
  e.worker = it->value.GetInt();
  it = d.FindMember("object_key");
  if (it == d.MemberEnd() || !it->value.IsString()) return bad("object_key missing");
  e.object_key = it->value.GetString();
  it = d.FindMember("error_key");
  if (it == d.MemberEnd() || !it->value.IsString()) return bad("error_key missing");
  e.error_key = it->value.GetString();
  it = d.FindMember("oldest_arrival_ms");
  if (it == d.MemberEnd() || !it->value.IsInt64()) return bad("oldest_arrival_ms missing");
  e.oldest_arrival_ms = it->value.GetInt64();
  it = d.FindMember("records");
  if (it == d.MemberEnd() || !it->value.IsUint64()) return bad("records missing");
  e.records = it->value.GetUint64();
  it = d.FindMember("ranges");
  if (it == d.MemberEnd() || !it->value.IsArray()) return bad("ranges missing");
  for (const auto& r : it->value.GetArray()) {
    if (!r.IsObject() || !r.HasMember("shard") || !r.HasMember("first") || !r.HasMember("last") ||
        !r["shard"].IsUint() || !r["first"].IsUint64() || !r["last"].IsUint64()) {
      return bad("bad range");
    }
    e.ranges.push_back({r["shard"].GetUint(), r["first"].GetUint64(), r["last"].GetUint64()});
  }
  return e;
}

std::filesystem::path BatchJournal::PathOf(int worker) const {
  return dir_ / ("batch-" + std::to_string(worker) + ".json");
}

Status BatchJournal::Record(const JournalEntry& entry) {
  return WriteFileAtomically(dir_, PathOf(entry.worker).filename().string(),
                             EncodeJournalEntry(entry));
}

Status BatchJournal::Clear(int worker) {
  std::filesystem::path p = PathOf(worker);
  if (::unlink(p.c_str()) != 0 && errno != ENOENT) return ErrnoError("unlink " + p.string(), errno);
  return Status::Ok();
}

Result<std::vector<JournalEntry>> BatchJournal::Pending() const {
  std::vector<JournalEntry> out;
  std::error_code ec;
  if (!std::filesystem::exists(dir_, ec)) return out;
  for (const auto& ent : std::filesystem::directory_iterator(dir_, ec)) {
    std::string name = ent.path().filename().string();
    if (name.rfind("batch-", 0) != 0 || ent.path().extension() != ".json") continue;
    std::ifstream in(ent.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    auto e = DecodeJournalEntry(ss.str());
    if (!e.ok()) return e.status().Annotate(ent.path().string());
    out.push_back(std::move(*e));
  }
  if (ec) return IoError("list " + dir_.string() + ": " + ec.message());
  return out;
}

}  // namespace sluice::buffer
