#include "agent/tail/checkpoint_store.h"

#include <fcntl.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <system_error>

#include "core/crc32c.h"
#include "core/fd.h"
#include "core/json.h"
#include "core/log.h"

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

// The spare's header: magic, the checkpoint's length and its masked CRC32C, then the JSON.
constexpr std::string_view kSpareMagic = "sluice-checkpoint-spare ";
constexpr int64_t kSpareMinBytes = 16 << 10;

// Reads the whole file; absent: ok with `*exists` false.
Status ReadWhole(const std::filesystem::path& path, std::string* text, bool* exists) {
  *exists = false;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::Ok();
    return ErrnoError("open " + path.string(), errno);
  }
  *exists = true;
  char buf[65536];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return ErrnoError("read " + path.string(), err);
    }
    if (n == 0) break;
    text->append(buf, n);
  }
  close(fd);
  return Status::Ok();
}

// The JSON a spare holds, or empty when it holds none whole (never written, or torn).
std::string_view SpareContent(std::string_view spare) {
  if (spare.substr(0, kSpareMagic.size()) != kSpareMagic) return {};
  const size_t eol = spare.find('\n');
  if (eol == std::string_view::npos) return {};
  unsigned long long len = 0;
  unsigned int crc = 0;
  const std::string head(spare.substr(kSpareMagic.size(), eol - kSpareMagic.size()));
  if (sscanf(head.c_str(), "%llu %x", &len, &crc) != 2) return {};
  if (len > spare.size() - eol - 1) return {};
  std::string_view json = spare.substr(eol + 1, len);
  if (crc32c::Mask(crc32c::Value(json.data(), json.size())) != crc) return {};
  return json;
}

}  // namespace

CheckpointStore::CheckpointStore(std::filesystem::path dir, std::string_view flow_name)
    : dir_(std::move(dir)),
      path_(dir_ / (SafeName(flow_name) + ".json")),
      spare_path_(dir_ / (SafeName(flow_name) + ".json.spare")) {}

Result<FlowCheckpoint> CheckpointStore::Load() const {
  std::string text;
  bool exists = false;
  RETURN_IF_ERROR(ReadWhole(path_, &text, &exists));
  FlowCheckpoint out;
  if (exists) {
    ASSIGN_OR_RETURN(out, Parse(text, path_));
  }
  std::string spare;
  bool spare_exists = false;
  if (ReadWhole(spare_path_, &spare, &spare_exists).ok() && spare_exists) {
    std::string_view json = SpareContent(spare);
    if (!json.empty()) {
      auto from_spare = Parse(json, spare_path_);
      if (from_spare.ok() && from_spare->serial > out.serial) out = std::move(*from_spare);
    }
  }
  serial_ = std::max(serial_, out.serial);
  serial_known_ = true;
  return out;
}

Result<FlowCheckpoint> CheckpointStore::Parse(std::string_view text,
                                              const std::filesystem::path& from) const {
  FlowCheckpoint out;
  rapidjson::Document doc;
  Status doc_parsed = ParseJson(text, &doc);
  auto bad = [&](const std::string& what) {
    return Corruption("checkpoint file " + from.string() + ": " + what);
  };
  if (!doc_parsed.ok()) {
    return bad("not JSON " + doc_parsed.message());
  }
  if (!doc.IsObject() || !doc.HasMember("files") || !doc["files"].IsArray()) {
    return bad("expected an object with a \"files\" array");
  }
  if (doc.HasMember("serial")) {
    if (!doc["serial"].IsUint64()) return bad("serial: not an unsigned integer");
    out.serial = doc["serial"].GetUint64();
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
  if (!serial_known_) (void)Load();  // the serial goes on from the files' (unreadable: from 0)
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("version");
  w.Uint(1);
  w.Key("serial");
  w.Uint64(++serial_);
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
  const std::string_view json(sb.GetString(), sb.GetSize());
  Status st = WriteFileAtomically(path_, json);
  if (st.ok()) {
    ++writes_;
    GrowSpare(json.size());
    return st;
  }
  // A full disk, most likely: the spare's reserved blocks take it.
  Status spare = WriteSpare(json);
  if (!spare.ok()) return st;
  ++writes_;
  if (spare_writes_++ == 0) {
    SLUICE_LOG(Warn, "checkpoint written into its spare: the file could not be replaced")
        .With("path", spare_path_.string())
        .With("error", st.message());
  }
  return Status::Ok();
}

void CheckpointStore::GrowSpare(size_t size) {
  const int64_t want = std::max<int64_t>(
      kSpareMinBytes, ((2 * static_cast<int64_t>(size) + 64) + 4095) / 4096 * 4096);
  if (spare_size_ >= want) return;
  int fd = open(spare_path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return;
  struct stat st;
  if (fstat(fd, &st) == 0) {
    if (st.st_size >= want) {
      spare_size_ = st.st_size;
    } else if (posix_fallocate(fd, 0, want) == 0 && fsync(fd) == 0) {
      spare_size_ = want;
      if (st.st_size == 0) (void)FsyncDir(dir_);  // new: its name must survive a power cut
    } else {
      spare_size_ = st.st_size;  // no room now: tried again after the next write
    }
  }
  close(fd);
}

Status CheckpointStore::WriteSpare(std::string_view json) {
  if (spare_size_ < 0) GrowSpare(0);  // a spare from an earlier run: how big it is
  char head[64];
  const int n = snprintf(head, sizeof(head), "%.*s%zu %08x\n", static_cast<int>(kSpareMagic.size()),
                         kSpareMagic.data(), json.size(),
                         crc32c::Mask(crc32c::Value(json.data(), json.size())));
  std::string buf;
  buf.reserve(static_cast<size_t>(n) + json.size());
  buf.append(head, static_cast<size_t>(n));
  buf.append(json);
  if (static_cast<int64_t>(buf.size()) > spare_size_) {
    return ResourceExhausted("checkpoint spare " + spare_path_.string() + " holds " +
                             std::to_string(std::max<int64_t>(spare_size_, 0)) +
                             " bytes, the checkpoint needs " + std::to_string(buf.size()));
  }
  int fd = open(spare_path_.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open " + spare_path_.string(), errno);
  Status st = PwriteAll(fd, buf.data(), buf.size(), 0, spare_path_.string());
  if (st.ok() && fdatasync(fd) != 0) st = ErrnoError("fdatasync " + spare_path_.string(), errno);
  close(fd);
  return st;
}

}  // namespace sluice::agent
