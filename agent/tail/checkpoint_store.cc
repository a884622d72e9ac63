#include "agent/tail/checkpoint_store.h"

#include <fcntl.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "core/fd.h"
#include "core/json.h"

namespace sluice::agent {
namespace {

std::string SafeName(std::string_view name) {
  std::string s;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    s += ok ? c : '_';
  }
  if (s.empty() || s[0] == '.') s.insert(s.begin(), '_');
  return s;
}

}  // namespace

CheckpointStore::CheckpointStore(std::filesystem::path dir, std::string_view flow_name)
    : dir_(std::move(dir)), path_(dir_ / (SafeName(flow_name) + ".json")) {}

Result<FlowCheckpoint> CheckpointStore::Load() const {
  FlowCheckpoint out;
  int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return out;
    return ErrnoError("open " + path_.string(), errno);
  }
  std::string text;
  char buf[65536];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return ErrnoError("read " + path_.string(), err);
    }
    if (n == 0) break;
    text.append(buf, n);
  }
  close(fd);
  rapidjson::Document doc;
  Status doc_parsed = ParseJson(text, &doc);
  auto bad = [&](const std::string& what) {
    return Corruption("checkpoint file " + path_.string() + ": " + what);
  };
  if (!doc_parsed.ok()) {
    return bad("not JSON " + doc_parsed.message());
  }
  if (!doc.IsObject() || !doc.HasMember("files") || !doc["files"].IsArray()) {
    return bad("expected an object with a \"files\" array");
  }
  const auto& files = doc["files"];
  for (rapidjson::SizeType i = 0; i < files.Size(); ++i) {
    const auto& f = files[i];
    const char* keys[] = {"dev", "ino", "fp_len", "fp_hash", "offset", "prefix_len", "prefix_hash"};
    for (const char* k : keys) {
      if (!f.IsObject() || !f.HasMember(k) || !f[k].IsUint64()) {
        return bad("files[" + std::to_string(i) + "]." + k +
                   ": missing or not an unsigned integer");
      }
    }
    FileCheckpoint c;
    if (f.HasMember("path") && f["path"].IsString()) {
      c.path.assign(f["path"].GetString(), f["path"].GetStringLength());
    }
    c.id = {f["dev"].GetUint64(), f["ino"].GetUint64()};
    c.fingerprint = {static_cast<uint32_t>(f["fp_len"].GetUint64()), f["fp_hash"].GetUint64()};
    c.offset = f["offset"].GetUint64();
    c.prefix_len = static_cast<uint32_t>(f["prefix_len"].GetUint64());
    c.prefix_hash = f["prefix_hash"].GetUint64();
    if (c.prefix_len > c.offset)
      return bad("files[" + std::to_string(i) + "]: prefix_len > offset");
    out.files.push_back(std::move(c));
  }
  if (doc.HasMember("tags")) {
    const auto& t = doc["tags"];
    if (!t.IsObject() || !t.HasMember("seq") || !t["seq"].IsUint64() || !t.HasMember("shards") ||
        !t["shards"].IsArray()) {
      return bad("tags: expected an object with \"seq\" and a \"shards\" array");
    }
    out.has_tags = true;
    out.tags.seq = t["seq"].GetUint64();
    const auto& shards = t["shards"];
    for (rapidjson::SizeType i = 0; i < shards.Size(); ++i) {
      const auto& e = shards[i];
      if (!e.IsObject() || !e.HasMember("shard") || !e["shard"].IsUint() ||
          !e.HasMember("offset") || !e["offset"].IsUint64()) {
        return bad("tags.shards[" + std::to_string(i) + "]: expected {shard, offset}");
      }
      out.tags.shards.emplace_back(e["shard"].GetUint(), e["offset"].GetUint64());
    }
  }
  return out;
}

Status CheckpointStore::Save(const std::vector<FileCheckpoint>& entries, const TagScan* tags) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return IoError("create " + dir_.string() + ": " + ec.message());
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("version");
  w.Uint(1);
  w.Key("files");
  w.StartArray();
  for (const FileCheckpoint& c : entries) {
    w.StartObject();
    w.Key("path");
    w.String(c.path.data(), static_cast<rapidjson::SizeType>(c.path.size()));
    w.Key("dev");
    w.Uint64(c.id.dev);
    w.Key("ino");
    w.Uint64(c.id.ino);
    w.Key("fp_len");
    w.Uint64(c.fingerprint.len);
    w.Key("fp_hash");
    w.Uint64(c.fingerprint.hash);
    w.Key("offset");
    w.Uint64(c.offset);
    w.Key("prefix_len");
    w.Uint64(c.prefix_len);
    w.Key("prefix_hash");
    w.Uint64(c.prefix_hash);
    w.EndObject();
  }
  w.EndArray();
  if (tags != nullptr) {
    w.Key("tags");
    w.StartObject();
    w.Key("seq");
    w.Uint64(tags->seq);
    w.Key("shards");
    w.StartArray();
    for (const auto& [shard, offset] : tags->shards) {
      w.StartObject();
      w.Key("shard");
      w.Uint(shard);
      w.Key("offset");
      w.Uint64(offset);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndObject();
  RETURN_IF_ERROR(WriteFileAtomically(path_, std::string_view(sb.GetString(), sb.GetSize())));
  ++writes_;
  return Status::Ok();
}

}  // namespace sluice::agent
