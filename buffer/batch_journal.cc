#include "buffer/batch_journal.h"

#include <errno.h>
#include <fcntl.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

#include "core/crc32c.h"
#include "core/fd.h"
#include "core/json.h"
#include "core/log.h"

namespace sluice::buffer {

namespace {

void WriteSpilledPart(const SpilledPart& p, rapidjson::Writer<rapidjson::StringBuffer>* w) {
  w->StartObject();
  w->Key("object_key");
  w->String(p.object_key);
  w->Key("attempts");
  w->Int(p.attempts);
  w->Key("code");
  w->String(p.code);
  w->Key("message");
  w->String(p.message);
  w->EndObject();
}

bool ReadSpilledPart(const rapidjson::Value& p, SpilledPart* out) {
  if (!p.IsObject() || !p.HasMember("object_key") || !p["object_key"].IsString() ||
      !p.HasMember("attempts") || !p["attempts"].IsInt() || !p.HasMember("code") ||
      !p["code"].IsString() || !p.HasMember("message") || !p["message"].IsString()) {
    return false;
  }
  *out = {p["object_key"].GetString(), p["attempts"].GetInt(), p["code"].GetString(),
          p["message"].GetString()};
  return true;
}

}  // namespace

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
  if (!e.source_from.empty()) {
    w.Key("source_from");
    w.String(e.source_from);
  }
  if (!e.spilled.empty()) {
    w.Key("spilled");
    w.StartArray();
    for (const SpilledPart& p : e.spilled) WriteSpilledPart(p, &w);
    w.EndArray();
  }
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

Result<JournalEntry> DecodeJournalEntry(std::string_view json) {
  rapidjson::Document d;
  Status d_parsed = ParseJson(json, &d);
  auto bad = [](const char* what) { return Corruption(std::string("batch journal: ") + what); };
  if (!d_parsed.ok() || !d.IsObject()) return bad("not a JSON object");
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
  it = d.FindMember("source_from");
  if (it != d.MemberEnd() && it->value.IsString()) {
    e.source_from.assign(it->value.GetString(), it->value.GetStringLength());
  }
  it = d.FindMember("spilled");
  if (it != d.MemberEnd()) {
    if (!it->value.IsArray()) return bad("spilled is not an array");
    for (const auto& p : it->value.GetArray()) {
      if (!ReadSpilledPart(p, &e.spilled.emplace_back())) return bad("bad spilled part");
    }
  }
  return e;
}

std::filesystem::path BatchJournal::PathOf(int worker) const {
  return dir_ / ("batch-" + std::to_string(worker) + ".json");
}

namespace {

constexpr std::string_view kMagic = "sluice-journal ";
constexpr std::string_view kSpillMagic = "sluice-spill ";

// "<magic><bytes> <crc32c, 8 hex digits>\n" then the JSON (an entry, or a spilled part).
std::string Frame(std::string_view magic, std::string_view json) {
  char head[64];
  int n = std::snprintf(head, sizeof(head), "%.*s%zu %08x\n", static_cast<int>(magic.size()),
                        magic.data(), json.size(), crc32c::Value(json.data(), json.size()));
  std::string out(head, static_cast<size_t>(n));
  out.append(json);
  return out;
}

// The JSON of the frame `data` starts with, and in `rest` what follows it; nullopt when the frame
// is torn (a crash inside Record or AddSpill).
std::optional<std::string_view> Unframe(std::string_view data, std::string_view magic,
                                        std::string_view* rest) {
  if (data.substr(0, magic.size()) != magic) return std::nullopt;
  size_t nl = data.find('\n');
  if (nl == std::string_view::npos) return std::nullopt;
  std::string head(data.substr(magic.size(), nl - magic.size()));
  size_t bytes = 0;
  unsigned crc = 0;
  if (std::sscanf(head.c_str(), "%zu %8x", &bytes, &crc) != 2) return std::nullopt;
  std::string_view json = data.substr(nl + 1);
  if (json.size() < bytes) return std::nullopt;
  *rest = json.substr(bytes);
  json = json.substr(0, bytes);
  if (crc32c::Value(json.data(), json.size()) != crc) return std::nullopt;
  return json;
}

}  // namespace

Status BatchJournal::Record(const JournalEntry& entry) {
  const std::filesystem::path path = PathOf(entry.worker);
  const std::string data = Frame(kMagic, EncodeJournalEntry(entry));
  // Overwritten in place: one fdatasync per batch. Only the file's creation also syncs the
  // directory.
  bool created = false;
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid() && errno == ENOENT) {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) return IoError("mkdir " + dir_.string() + ": " + ec.message());
    fd = UniqueFd(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0640));
    created = true;
  }
  if (!fd.valid()) return ErrnoError("open " + path.string(), errno);
  RETURN_IF_ERROR(PwriteAll(fd.get(), data.data(), data.size(), 0, path.string()));
  if (::ftruncate(fd.get(), static_cast<off_t>(data.size())) != 0) {
    return ErrnoError("truncate " + path.string(), errno);
  }
  if (::fdatasync(fd.get()) != 0) return ErrnoError("fdatasync " + path.string(), errno);
  return created ? FsyncDir(dir_) : Status::Ok();
}

Status BatchJournal::AddSpill(int worker, const SpilledPart& part) {
  const std::filesystem::path path = PathOf(worker);
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  WriteSpilledPart(part, &w);
  const std::string data = Frame(kSpillMagic, std::string_view(sb.GetString(), sb.GetSize()));
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open " + path.string(), errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoError("stat " + path.string(), errno);
  if (st.st_size == 0) return NotFound(path.string() + ": no batch recorded");
  RETURN_IF_ERROR(PwriteAll(fd.get(), data.data(), data.size(), static_cast<uint64_t>(st.st_size),
                            path.string()));
  if (::fdatasync(fd.get()) != 0) return ErrnoError("fdatasync " + path.string(), errno);
  return Status::Ok();
}

Status BatchJournal::Clear(int worker) {
  // Emptied, not synced: should a crash undo it, recovery finds the entry's checkpoints already
  // past it and does not replay it.
  std::filesystem::path p = PathOf(worker);
  if (::truncate(p.c_str(), 0) != 0 && errno != ENOENT) {
    return ErrnoError("truncate " + p.string(), errno);
  }
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
    const std::string file = ss.str();
    if (file.empty()) continue;  // cleared
    std::string_view json = file;
    std::string_view rest;
    if (file.front() != '{') {  // entries before the framing were bare JSON
      auto unframed = Unframe(file, kMagic, &rest);
      if (!unframed) {
        // Torn by a crash inside Record: that batch was never sent, and the entry before it
        // had been cleared, so there is nothing to replay.
        SLUICE_LOG(Warn, "ignoring a torn batch journal entry").With("path", ent.path().string());
        continue;
      }
      json = *unframed;
    }
    auto e = DecodeJournalEntry(json);
    if (!e.ok()) return e.status().Annotate(ent.path().string());
    // Parts spilled since the entry was recorded; a torn last one (a crash inside AddSpill) was
    // never spilled.
    while (!rest.empty()) {
      auto part_json = Unframe(rest, kSpillMagic, &rest);
      rapidjson::Document d;
      if (!part_json || !ParseJson(*part_json, &d).ok() ||
          !ReadSpilledPart(d, &e->spilled.emplace_back())) {
        if (part_json) e->spilled.pop_back();
        break;
      }
    }
    out.push_back(std::move(*e));
  }
  if (ec) return IoError("list " + dir_.string() + ": " + ec.message());
  return out;
}

}  // namespace sluice::buffer
