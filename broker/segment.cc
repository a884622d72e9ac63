#include "broker/segment.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>

#include "broker/format.h"
#include "core/crc32c.h"
#include "core/log.h"

namespace sluice::broker {

namespace fmt = format;

FrameCheck DecodeFrame(const char* p, size_t avail, Frame* out, bool verify) {
  if (avail < fmt::kFrameHeaderSize) return FrameCheck::kIncomplete;
  uint32_t body = fmt::Get32(p + fmt::kFrameBodyLenAt);
  uint16_t key_len = fmt::Get16(p + fmt::kFrameKeyLenAt);
  if (body > fmt::kMaxBodyBytes || key_len > body || key_len > fmt::kMaxKeyBytes) {
    return FrameCheck::kBad;
  }
  size_t total = fmt::kFrameHeaderSize + body;
  if (avail < total) return FrameCheck::kIncomplete;
  uint32_t want = crc32c::Unmask(fmt::Get32(p + fmt::kFrameCrcAt));
  if (verify && crc32c::Value(p + 4, total - 4) != want) return FrameCheck::kBad;
  out->offset = fmt::Get64(p + fmt::kFrameOffsetAt);
  out->arrival_ms = static_cast<int64_t>(fmt::Get64(p + fmt::kFrameArrivalAt));
  out->key = std::string_view(p + fmt::kFrameHeaderSize, key_len);
  size_t data_at = fmt::kFrameHeaderSize + key_len;
  out->event_ms = kNoEventTime;
  if (fmt::Get16(p + fmt::kFrameFlagsAt) & fmt::kFrameFlagEventTime) {
    if (body < key_len + fmt::kEventTimeBytes) return FrameCheck::kBad;
    out->event_ms = static_cast<int64_t>(fmt::Get64(p + data_at));
    data_at += fmt::kEventTimeBytes;
  }
  out->tag = {};
  if (fmt::Get16(p + fmt::kFrameFlagsAt) & fmt::kFrameFlagTag) {
    size_t end = fmt::kFrameHeaderSize + body;
    if (end < data_at + fmt::kTagLenBytes) return FrameCheck::kBad;
    size_t len = fmt::Get16(p + data_at);
    data_at += fmt::kTagLenBytes;
    if (len == 0 || len > fmt::kMaxTagBytes || end - data_at < len) return FrameCheck::kBad;
    out->tag = std::string_view(p + data_at, len);
    data_at += len;
  }
  out->data = std::string_view(p + data_at, fmt::kFrameHeaderSize + body - data_at);
  out->size = total;
  return FrameCheck::kOk;
}

size_t FrameHeadSize(std::string_view key, int64_t event_ms, std::string_view tag) {
  return fmt::kFrameHeaderSize + key.size() +
         (event_ms != kNoEventTime ? fmt::kEventTimeBytes : 0) +
         (tag.empty() ? 0 : fmt::kTagLenBytes + tag.size());
}

// Writes a frame's header and key (and event time, and tag) at p without its CRC; returns their
// size.
static size_t PutFrameHead(char* p, uint64_t offset, int64_t arrival_ms, int64_t event_ms,
                           std::string_view key, size_t data_size, std::string_view tag,
                           bool write_end = false) {
  const size_t head = FrameHeadSize(key, event_ms, tag);
  uint16_t flags = 0;
  if (event_ms != kNoEventTime) flags |= fmt::kFrameFlagEventTime;
  if (!tag.empty()) flags |= fmt::kFrameFlagTag;
  if (write_end) flags |= fmt::kFrameFlagWriteEnd;
  fmt::Put32(p + fmt::kFrameBodyLenAt,
             static_cast<uint32_t>(head - fmt::kFrameHeaderSize + data_size));
  fmt::Put64(p + fmt::kFrameOffsetAt, offset);
  fmt::Put64(p + fmt::kFrameArrivalAt, static_cast<uint64_t>(arrival_ms));
  fmt::Put16(p + fmt::kFrameKeyLenAt, static_cast<uint16_t>(key.size()));
  fmt::Put16(p + fmt::kFrameFlagsAt, flags);
  char* q = p + fmt::kFrameHeaderSize;
  std::memcpy(q, key.data(), key.size());
  q += key.size();
  if (event_ms != kNoEventTime) {
    fmt::Put64(q, static_cast<uint64_t>(event_ms));
    q += fmt::kEventTimeBytes;
  }
  if (!tag.empty()) {
    fmt::Put16(q, static_cast<uint16_t>(tag.size()));
    std::memcpy(q + fmt::kTagLenBytes, tag.data(), tag.size());
  }
  return head;
}

size_t WriteSealedFrameHead(char* p, uint64_t offset, int64_t arrival_ms, int64_t event_ms,
                            std::string_view key, size_t data_size, std::string_view tag) {
  size_t n = PutFrameHead(p, offset, arrival_ms, event_ms, key, data_size, tag);
  fmt::Put32(p + fmt::kFrameCrcAt, 0);
  return n;
}

size_t WriteFrameHead(char* p, uint64_t offset, int64_t arrival_ms, int64_t event_ms,
                      std::string_view key, std::string_view data, std::string_view tag,
                      bool write_end) {
  size_t n = PutFrameHead(p, offset, arrival_ms, event_ms, key, data.size(), tag, write_end);
  uint32_t crc = crc32c::Value(p + 4, n - 4);
  crc = crc32c::Extend(crc, data.data(), data.size());
  fmt::Put32(p + fmt::kFrameCrcAt, crc32c::Mask(crc));
  return n;
}

size_t WriteFrame(char* p, uint64_t offset, int64_t arrival_ms, int64_t event_ms,
                  std::string_view key, std::string_view data, std::string_view tag,
                  bool write_end) {
  // One CRC over the whole frame as it lies in memory, not the head and the data apart.
  size_t n = PutFrameHead(p, offset, arrival_ms, event_ms, key, data.size(), tag, write_end);
  std::memcpy(p + n, data.data(), data.size());
  n += data.size();
  fmt::Put32(p + fmt::kFrameCrcAt, crc32c::Mask(crc32c::Value(p + 4, n - 4)));
  return n;
}

void EncodeFrameHead(uint64_t offset, int64_t arrival_ms, int64_t event_ms, std::string_view key,
                     std::string_view data, std::string* buf) {
  size_t at = buf->size();
  buf->resize(at + FrameHeadSize(key, event_ms));
  WriteFrameHead(buf->data() + at, offset, arrival_ms, event_ms, key, data);
}

void EncodeFrame(uint64_t offset, int64_t arrival_ms, int64_t event_ms, std::string_view key,
                 std::string_view data, std::string* buf) {
  size_t at = buf->size();
  buf->resize(at + FrameHeadSize(key, event_ms) + data.size());
  WriteFrame(buf->data() + at, offset, arrival_ms, event_ms, key, data);
}

FrameCheck DecodeChunk(char* p, size_t avail, Chunk* out, bool verify) {
  if (avail < fmt::kChunkHeaderSize) return FrameCheck::kIncomplete;
  uint32_t sealed = fmt::Get32(p + fmt::kChunkLenAt);
  uint64_t first = fmt::Get64(p + fmt::kChunkFirstAt);
  uint64_t last = fmt::Get64(p + fmt::kChunkLastAt);
  uint32_t records = fmt::Get32(p + fmt::kChunkRecordsAt);
  uint32_t flags = fmt::Get32(p + fmt::kChunkFlagsAt);
  if (sealed > fmt::kMaxChunkSealedBytes ||
      sealed < fmt::kChunkTagBytes + fmt::kFrameHeaderSize * uint64_t{records} || records == 0 ||
      last < first || last - first + 1 < records || (flags & ~fmt::kChunkFlagWriteEnd) != 0) {
    return FrameCheck::kBad;
  }
  size_t total = fmt::kChunkHeaderSize + sealed;
  if (avail < total) return FrameCheck::kIncomplete;
  if (verify &&
      crc32c::Value(p + 4, total - 4) != crc32c::Unmask(fmt::Get32(p + fmt::kChunkCrcAt))) {
    return FrameCheck::kBad;
  }
  out->first = first;
  out->last = last;
  out->records = records;
  out->write_end = (flags & fmt::kChunkFlagWriteEnd) != 0;
  out->arrival_ms = static_cast<int64_t>(fmt::Get64(p + fmt::kChunkArrivalAt));
  out->sealed = p + fmt::kChunkHeaderSize;
  out->sealed_len = sealed;
  out->size = total;
  return FrameCheck::kOk;
}

void ChunkNonce(uint32_t salt, uint64_t first, uint8_t nonce[12]) {
  fmt::Put32(reinterpret_cast<char*>(nonce), salt);
  fmt::Put64(reinterpret_cast<char*>(nonce) + 4, first);
}

size_t SealChunk(GcmContext& gcm, uint32_t salt, uint64_t first, uint64_t last, uint32_t records,
                 int64_t arrival_ms, bool write_end, char* chunk_at, size_t plain_len,
                 std::span<const SealPiece> pieces) {
  const size_t sealed = plain_len + fmt::kChunkTagBytes;
  fmt::Put32(chunk_at + fmt::kChunkLenAt, static_cast<uint32_t>(sealed));
  fmt::Put64(chunk_at + fmt::kChunkFirstAt, first);
  fmt::Put64(chunk_at + fmt::kChunkLastAt, last);
  fmt::Put64(chunk_at + fmt::kChunkArrivalAt, static_cast<uint64_t>(arrival_ms));
  fmt::Put32(chunk_at + fmt::kChunkRecordsAt, records);
  fmt::Put32(chunk_at + fmt::kChunkFlagsAt, write_end ? fmt::kChunkFlagWriteEnd : 0);
  uint8_t nonce[12];
  ChunkNonce(salt, first, nonce);
  auto* u = reinterpret_cast<uint8_t*>(chunk_at);
  uint8_t* body = u + fmt::kChunkHeaderSize;
  if (!gcm.Begin(nonce, u + 4, fmt::kChunkHeaderSize - 4)) return 0;
  for (const SealPiece& p : pieces) {
    const uint8_t* in = p.src ? reinterpret_cast<const uint8_t*>(p.src) : body + p.at;
    if (!gcm.Update(in, body + p.at, p.len)) return 0;
  }
  if (!gcm.Finish(body + plain_len)) return 0;
  const size_t total = fmt::kChunkHeaderSize + sealed;
  fmt::Put32(chunk_at + fmt::kChunkCrcAt, crc32c::Mask(crc32c::Value(chunk_at + 4, total - 4)));
  return total;
}

bool OpenChunk(GcmContext& gcm, uint32_t salt, char* chunk_at, const Chunk& chunk) {
  uint8_t nonce[12];
  ChunkNonce(salt, chunk.first, nonce);
  auto* u = reinterpret_cast<uint8_t*>(chunk_at);
  const size_t plain = chunk.sealed_len - fmt::kChunkTagBytes;
  return gcm.Open(nonce, u + 4, fmt::kChunkHeaderSize - 4, u + fmt::kChunkHeaderSize, plain,
                  u + fmt::kChunkHeaderSize + plain);
}

std::string Segment::LogName(uint64_t base) {
  char name[32];
  std::snprintf(name, sizeof(name), "%020llu.log", static_cast<unsigned long long>(base));
  return name;
}

static std::filesystem::path Sibling(const std::filesystem::path& log, const char* ext) {
  std::filesystem::path p = log;
  p.replace_extension(ext);
  return p;
}

Segment::Segment(std::filesystem::path dir, uint64_t base, UniqueFd fd)
    : dir_(std::move(dir)),
      path_(dir_ / LogName(base)),
      base_(base),
      fd_(std::move(fd)),
      next_offset_(base),
      max_ts_(INT64_MIN) {}

Segment::~Segment() { OPENSSL_cleanse(data_key_.data(), data_key_.size()); }

// `write_ends`: its appends end in kFrameFlagWriteEnd frames (kSegFlagWriteEnds).
static std::string SegmentHeader(uint64_t base, bool write_ends) {
  std::string h(fmt::kSegmentHeaderSize, '\0');
  fmt::Put32(h.data() + fmt::kSegMagicAt, fmt::kSegmentMagic);
  fmt::Put16(h.data() + fmt::kSegVersionAt, fmt::kSegmentVersion);
  fmt::Put16(h.data() + fmt::kSegFlagsAt, write_ends ? fmt::kSegFlagWriteEnds : 0);
  fmt::Put64(h.data() + fmt::kSegBaseAt, base);
  return h;
}

// The bytes of a sealed header up to the wrapped key: what the wrap authenticates.
// Its appends end in kChunkFlagWriteEnd chunks (kSegFlagWriteEnds).
static std::string SealedHeaderPrefix(uint64_t base, std::string_view key_id, uint32_t salt) {
  std::string h(fmt::SealedHeaderSize(key_id.size()) - fmt::kSegWrappedKeyBytes, '\0');
  fmt::Put32(h.data() + fmt::kSegMagicAt, fmt::kSegmentMagic);
  fmt::Put16(h.data() + fmt::kSegVersionAt, fmt::kSealedSegmentVersion);
  fmt::Put16(h.data() + fmt::kSegFlagsAt, fmt::kSegFlagSealed | fmt::kSegFlagWriteEnds);
  fmt::Put64(h.data() + fmt::kSegBaseAt, base);
  fmt::Put16(h.data() + fmt::kSegHeaderLenAt,
             static_cast<uint16_t>(fmt::SealedHeaderSize(key_id.size())));
  h[fmt::kSegKeyIdLenAt] = static_cast<char>(key_id.size());
  std::memcpy(h.data() + fmt::kSegKeyIdAt, key_id.data(), key_id.size());
  fmt::Put32(h.data() + fmt::kSegKeyIdAt + key_id.size(), salt);
  return h;
}

Result<std::shared_ptr<Segment>> Segment::Create(const std::filesystem::path& dir, uint64_t base,
                                                 const Keyring::Key* master) {
  std::filesystem::path path = dir / LogName(base);
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
  if (!fd.valid()) return ErrnoError("create segment " + tmp.string(), errno);
  std::shared_ptr<Segment> seg(new Segment(dir, base, std::move(fd)));
  std::string h;
  if (master != nullptr) {
    uint8_t salt[4];
    if (RAND_bytes(salt, sizeof salt) != 1) return Internal("RAND_bytes failed");
    seg->salt_ = fmt::Get32(reinterpret_cast<const char*>(salt));
    h = SealedHeaderPrefix(base, master->id, seg->salt_);
    const size_t prefix = h.size();
    h.resize(prefix + fmt::kSegWrappedKeyBytes);
    ASSIGN_OR_RETURN(seg->data_key_,
                     NewWrappedDataKey(*master, std::string_view(h.data(), prefix),
                                       reinterpret_cast<uint8_t*>(h.data() + prefix)));
    seg->sealed_ = true;
    seg->master_key_id_ = master->id;
    seg->header_ = h;
  } else {
    h = SegmentHeader(base, true);
  }
  seg->marks_write_ends_ = true;
  Status st = PwriteAll(seg->fd(), h.data(), h.size(), 0, tmp.string());
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    st = ErrnoError("rename " + tmp.string(), errno);
  }
  if (!st.ok()) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    return st;
  }
  seg->header_size_ = h.size();
  seg->size_ = h.size();
  seg->trusted_from_ = seg->size_;
  return seg;
}

Status Segment::ReadHeader(const Keyring* keyring, bool* torn) {
  *torn = false;
  char head[fmt::SealedHeaderSize(255)];
  size_t got = 0;
  RETURN_IF_ERROR(PreadUpTo(fd_.get(), head, sizeof head, 0, &got, path_.string()));
  uint16_t version = got >= fmt::kSegmentHeaderSize ? fmt::Get16(head + fmt::kSegVersionAt) : 0;
  if (got < fmt::kSegmentHeaderSize || fmt::Get32(head + fmt::kSegMagicAt) != fmt::kSegmentMagic ||
      fmt::Get64(head + fmt::kSegBaseAt) != base_ ||
      (version != fmt::kSegmentVersion && version != fmt::kSealedSegmentVersion)) {
    if (got <= fmt::kSegmentHeaderSize) {
      *torn = true;
      return Status::Ok();
    }
    return Corruption(path_.string() + ": bad segment header");
  }
  if (version == fmt::kSegmentVersion) {
    header_size_ = fmt::kSegmentHeaderSize;
    marks_write_ends_ = (fmt::Get16(head + fmt::kSegFlagsAt) & fmt::kSegFlagWriteEnds) != 0;
    return Status::Ok();
  }
  size_t id_len = got > fmt::kSegKeyIdLenAt ? static_cast<uint8_t>(head[fmt::kSegKeyIdLenAt]) : 0;
  size_t header = fmt::SealedHeaderSize(id_len);
  const uint16_t flags = fmt::Get16(head + fmt::kSegFlagsAt);
  if ((flags & ~fmt::kSegFlagWriteEnds) != fmt::kSegFlagSealed || id_len == 0 || got < header ||
      fmt::Get16(head + fmt::kSegHeaderLenAt) != header) {
    return Corruption(path_.string() + ": bad sealed segment header");
  }
  master_key_id_.assign(head + fmt::kSegKeyIdAt, id_len);
  if (keyring == nullptr) {
    return InvalidArgument(path_.string() + " is encrypted under master key " + master_key_id_ +
                           " and no keyring is configured (broker.encryption.keyring)");
  }
  const Keyring::Key* master = keyring->Find(master_key_id_);
  if (master == nullptr) {
    return NotFound(path_.string() + " is encrypted under master key " + master_key_id_ +
                    ", which the keyring does not hold (keep retired keys in the keyring)");
  }
  const size_t prefix = header - fmt::kSegWrappedKeyBytes;
  auto key = UnwrapDataKey(*master, std::string_view(head, prefix),
                           reinterpret_cast<const uint8_t*>(head + prefix));
  if (!key.ok()) return key.status().Annotate(path_.string());
  data_key_ = *key;
  OPENSSL_cleanse(key->data(), key->size());
  salt_ = fmt::Get32(head + fmt::kSegKeyIdAt + id_len);
  header_.assign(head, header);
  header_size_ = header;
  sealed_ = true;
  marks_write_ends_ = (flags & fmt::kSegFlagWriteEnds) != 0;
  appendable_ = false;  // another process may have used its nonces
  return Status::Ok();
}

std::string Segment::HeaderBytes() const {
  return sealed_ ? header_ : SegmentHeader(base_, marks_write_ends_);
}

bool Segment::DecodeUnit(char* p, size_t avail, UnitMeta* meta, size_t* size) const {
  if (sealed_) {
    Chunk c;
    if (DecodeChunk(p, avail, &c) != FrameCheck::kOk) return false;
    *meta = {c.first, c.last, c.records, c.arrival_ms, 0, c.write_end};
    *size = c.size;
    return true;
  }
  Frame f;
  if (DecodeFrame(p, avail, &f) != FrameCheck::kOk) return false;
  *meta = {f.offset, f.offset,
           1,        f.arrival_ms,
           0,        (fmt::Get16(p + fmt::kFrameFlagsAt) & fmt::kFrameFlagWriteEnd) != 0};
  *size = f.size;
  return true;
}

Result<std::string> DecryptSegment(const Keyring& keyring, std::string_view file,
                                   uint64_t* torn_bytes) {
  *torn_bytes = 0;
  auto bad = [](const std::string& what) { return Corruption("segment: " + what); };
  if (file.size() < fmt::kSegmentHeaderSize ||
      fmt::Get32(file.data() + fmt::kSegMagicAt) != fmt::kSegmentMagic) {
    return bad("not a segment (no SLSG magic)");
  }
  const uint16_t version = fmt::Get16(file.data() + fmt::kSegVersionAt);
  const uint64_t base = fmt::Get64(file.data() + fmt::kSegBaseAt);
  if (version == fmt::kSegmentVersion) return std::string(file);
  if (version != fmt::kSealedSegmentVersion || file.size() <= fmt::kSegKeyIdLenAt) {
    return bad("unknown version " + std::to_string(version));
  }
  const size_t id_len = static_cast<uint8_t>(file[fmt::kSegKeyIdLenAt]);
  const size_t header = fmt::SealedHeaderSize(id_len);
  if (id_len == 0 || file.size() < header ||
      fmt::Get16(file.data() + fmt::kSegHeaderLenAt) != header) {
    return bad("bad sealed header");
  }
  std::string id(file.substr(fmt::kSegKeyIdAt, id_len));
  const Keyring::Key* master = keyring.Find(id);
  if (master == nullptr) return NotFound("segment: master key " + id + " is not in the keyring");
  const size_t prefix = header - fmt::kSegWrappedKeyBytes;
  ASSIGN_OR_RETURN(auto key, UnwrapDataKey(*master, file.substr(0, prefix),
                                           reinterpret_cast<const uint8_t*>(file.data() + prefix)));
  const uint32_t salt = fmt::Get32(file.data() + fmt::kSegKeyIdAt + id_len);
  GcmContext gcm(key, GcmContext::Mode::kOpen);
  OPENSSL_cleanse(key.data(), key.size());
  // A sealed segment that marks its appends' ends gives a plain one that does: the last frame of
  // a chunk ending an append gets the frame's flag.
  const bool write_ends =
      (fmt::Get16(file.data() + fmt::kSegFlagsAt) & fmt::kSegFlagWriteEnds) != 0;
  std::string out = SegmentHeader(base, write_ends);
  out.reserve(file.size());
  std::string chunk;
  for (size_t pos = header; pos < file.size();) {
    chunk.assign(file.substr(pos, std::min(file.size() - pos, fmt::kMaxChunkBytes)));
    Chunk c;
    FrameCheck got = DecodeChunk(chunk.data(), chunk.size(), &c);
    if (got == FrameCheck::kIncomplete) {
      *torn_bytes = file.size() - pos;
      break;
    }
    if (got != FrameCheck::kOk || !OpenChunk(gcm, salt, chunk.data(), c)) {
      return bad(
          "chunk at position " + std::to_string(pos) +
          (got != FrameCheck::kOk ? " is damaged (header or CRC)" : " does not authenticate"));
    }
    // The frames inside carry no CRC (the tag covered them); a plain segment's frames do.
    const size_t plain = c.sealed_len - fmt::kChunkTagBytes;
    for (size_t at = 0; at < plain;) {
      Frame f;
      if (DecodeFrame(c.sealed + at, plain - at, &f, /*verify=*/false) != FrameCheck::kOk) {
        return bad("chunk at position " + std::to_string(pos) + " holds no frames");
      }
      char* frame = c.sealed + at;
      if (c.write_end && at + f.size == plain) {
        fmt::Put16(frame + fmt::kFrameFlagsAt,
                   fmt::Get16(frame + fmt::kFrameFlagsAt) | fmt::kFrameFlagWriteEnd);
      }
      fmt::Put32(frame + fmt::kFrameCrcAt, crc32c::Mask(crc32c::Value(frame + 4, f.size - 4)));
      at += f.size;
    }
    out.append(c.sealed, plain);
    pos += c.size;
  }
  return out;
}

Result<std::shared_ptr<Segment>> Segment::Open(const std::filesystem::path& dir, uint64_t base,
                                               bool scan, RecoveryReport* report,
                                               const Keyring* keyring) {
  std::filesystem::path path = dir / LogName(base);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open segment " + path.string(), errno);
  std::shared_ptr<Segment> seg(new Segment(dir, base, std::move(fd)));
  bool torn = false;
  RETURN_IF_ERROR(seg->ReadHeader(keyring, &torn));
  if (!torn && !scan && seg->LoadIndexes()) {
    seg->trusted_from_ = seg->size_;
    return seg;
  }
  RETURN_IF_ERROR(seg->ScanAndRebuild(torn, report));
  // Verified by the scan, but on a disk that may damage them again while the process runs.
  seg->trusted_from_ = seg->size_;
  // A sealed segment's rebuilt indexes are written back so the next start can trust them.
  if (!scan) RETURN_IF_ERROR(seg->WriteIndexes());
  return seg;
}

void Segment::Track(const UnitMeta& unit, uint64_t pos, uint64_t unit_size) {
  if (!any_indexed_ || pos - last_indexed_pos_ >= fmt::kIndexIntervalBytes) {
    index_.push_back(
        {static_cast<uint32_t>(unit.first_offset - base_), static_cast<uint32_t>(pos), max_ts_});
    last_indexed_pos_ = pos;
    any_indexed_ = true;
  }
  max_ts_ = std::max(max_ts_, unit.arrival_ms);
  next_offset_ = unit.last_offset + 1;
  records_ += unit.records;
  size_ = pos + unit_size;
}

Status Segment::ScanAndRebuild(bool torn, RecoveryReport* report) {
  std::string file;
  RETURN_IF_ERROR(ReadFileInto(path_, &file));
  index_.clear();
  any_indexed_ = false;
  records_ = 0;
  max_ts_ = INT64_MIN;
  next_offset_ = base_;
  if (torn) {
    // A segment torn while being created (by a version that did not create by rename): start
    // it afresh, plain.
    report->torn_tail_bytes += file.size();
    std::string h = SegmentHeader(base_, true);
    marks_write_ends_ = true;
    RETURN_IF_ERROR(PwriteAll(fd_.get(), h.data(), h.size(), 0, path_.string()));
    if (::ftruncate(fd_.get(), static_cast<off_t>(h.size())) != 0) {
      return ErrnoError("truncate " + path_.string(), errno);
    }
    header_size_ = h.size();
    size_ = h.size();
    return Status::Ok();
  }
  const size_t head = header_size_;
  const size_t min_unit = sealed_ ? fmt::kChunkHeaderSize : fmt::kFrameHeaderSize;
  // Valid units as [begin, end) ranges of the file; more than one range means corruption was
  // skipped and the file is rewritten without it.
  std::vector<std::pair<size_t, size_t>> keep;
  size_t pos = head;
  size_t run_start = pos;
  bool have_last = false;
  uint64_t last_offset = 0;
  std::vector<UnitMeta> metas;
  auto valid_at = [&](size_t at, UnitMeta* u, size_t* size) {
    if (!DecodeUnit(file.data() + at, file.size() - at, u, size)) return false;
    return u->first_offset >= base_ && (!have_last || u->first_offset > last_offset);
  };
  size_t kept_bytes = 0;
  while (pos < file.size()) {
    UnitMeta u;
    size_t size = 0;
    if (valid_at(pos, &u, &size)) {
      u.pos_in_batch = static_cast<uint32_t>(kept_bytes);
      metas.push_back(u);
      kept_bytes += size;
      have_last = true;
      last_offset = u.last_offset;
      pos += size;
      continue;
    }
    // Look for the next valid unit; none means a torn tail.
    size_t next = pos + 1;
    while (next + min_unit <= file.size() && !valid_at(next, &u, &size)) ++next;
    if (next + min_unit > file.size()) {
      report->torn_tail_bytes += file.size() - pos;
      break;
    }
    report->corrupt_bytes += next - pos;
    ++report->corrupt_regions;
    if (pos > run_start) keep.emplace_back(run_start, pos);
    run_start = next;
    pos = next;
  }
  if (pos > run_start) keep.emplace_back(run_start, std::min(pos, file.size()));
  {
    // Units after the last one that ended a write (kFrameFlagWriteEnd, kChunkFlagWriteEnd) are
    // the first units of a write a kill cut short (maybe at a unit's end, so with no torn bytes
    // at all): cut back to there, when the segment marks writes at all (its header says so, or a
    // frame has the flag: a plain segment an older version made and this one appended to).
    size_t keep_units = metas.size();  // units up to the last write end
    bool marked = marks_write_ends_;
    for (size_t i = metas.size(); i-- > 0;) {
      if (metas[i].write_end) {
        keep_units = i + 1;
        marked = true;
        break;
      }
      if (i == 0 && marks_write_ends_) keep_units = 0;
    }
    if (marked && keep_units < metas.size()) {
      const size_t cut = metas[keep_units].pos_in_batch;  // in kept bytes
      size_t drop = kept_bytes - cut;
      report->torn_tail_bytes += drop;
      kept_bytes = cut;
      metas.resize(keep_units);
      while (drop > 0 && !keep.empty()) {
        auto& [b, e] = keep.back();
        if (e - b <= drop) {
          drop -= e - b;
          keep.pop_back();
        } else {
          e -= drop;
          drop = 0;
        }
      }
    }
  }
  size_t end = head + kept_bytes;
  if (report->corrupt_regions > 0) {
    std::string out = HeaderBytes();
    out.reserve(end);
    for (auto [b, e] : keep) out.append(file, b, e - b);
    RETURN_IF_ERROR(WriteFileAtomically(path_, out));
    UniqueFd fd(::open(path_.c_str(), O_RDWR | O_CLOEXEC));
    if (!fd.valid()) return ErrnoError("reopen segment " + path_.string(), errno);
    fd_ = std::move(fd);
  } else if (end < file.size()) {
    if (::ftruncate(fd_.get(), static_cast<off_t>(end)) != 0) {
      return ErrnoError("truncate " + path_.string(), errno);
    }
  }
  size_ = head;
  for (size_t i = 0; i < metas.size(); ++i) {
    size_t usize =
        (i + 1 < metas.size() ? metas[i + 1].pos_in_batch : kept_bytes) - metas[i].pos_in_batch;
    Track(metas[i], head + metas[i].pos_in_batch, usize);
  }
  size_ = end;
  return Status::Ok();
}

static std::string IndexHeader(uint16_t kind, uint64_t base, uint64_t covered, uint32_t count,
                               std::string_view entries) {
  std::string h(fmt::kIndexHeaderSize, '\0');
  fmt::Put32(h.data() + fmt::kIdxMagicAt, fmt::kIndexMagic);
  fmt::Put16(h.data() + fmt::kIdxVersionAt, fmt::kIndexVersion);
  fmt::Put16(h.data() + fmt::kIdxKindAt, kind);
  fmt::Put64(h.data() + fmt::kIdxBaseAt, base);
  fmt::Put64(h.data() + fmt::kIdxCoveredAt, covered);
  fmt::Put32(h.data() + fmt::kIdxCountAt, count);
  fmt::Put32(h.data() + fmt::kIdxCrcAt,
             crc32c::Mask(crc32c::Value(entries.data(), entries.size())));
  return h;
}

Status Segment::WriteIndexes(Durability durability) {
  std::string off(fmt::kIndexHeaderSize + index_.size() * fmt::kOffsetEntrySize, '\0');
  std::string tim(fmt::kIndexHeaderSize + index_.size() * fmt::kTimeEntrySize, '\0');
  for (size_t i = 0; i < index_.size(); ++i) {
    char* o = off.data() + fmt::kIndexHeaderSize + i * fmt::kOffsetEntrySize;
    fmt::Put32(o, index_[i].rel_offset);
    fmt::Put32(o + 4, index_[i].pos);
    char* t = tim.data() + fmt::kIndexHeaderSize + i * fmt::kTimeEntrySize;
    fmt::Put64(t, static_cast<uint64_t>(index_[i].max_ts_before));
    fmt::Put32(t + 8, index_[i].rel_offset);
    fmt::Put32(t + 12, 0);
  }
  auto count = static_cast<uint32_t>(index_.size());
  std::string_view oe(off.data() + fmt::kIndexHeaderSize, off.size() - fmt::kIndexHeaderSize);
  std::string_view te(tim.data() + fmt::kIndexHeaderSize, tim.size() - fmt::kIndexHeaderSize);
  std::string oh = IndexHeader(fmt::kIndexKindOffset, base_, size_, count, oe);
  std::string th = IndexHeader(fmt::kIndexKindTime, base_, size_, count, te);
  off.replace(0, oh.size(), oh);
  tim.replace(0, th.size(), th);
  RETURN_IF_ERROR(WriteFileAtomically(Sibling(path_, ".index"), off, durability));
  return WriteFileAtomically(Sibling(path_, ".timeindex"), tim, durability);
}

bool Segment::LoadIndexes() {
  off_t log_size = ::lseek(fd_.get(), 0, SEEK_END);
  std::string off_file, tim_file;
  if (log_size < 0 || !ReadFileInto(Sibling(path_, ".index"), &off_file).ok() ||
      !ReadFileInto(Sibling(path_, ".timeindex"), &tim_file).ok()) {
    return false;
  }
  const std::string* off = &off_file;
  const std::string* tim = &tim_file;
  auto check = [&](const std::string& f, uint16_t kind, size_t entry) -> int64_t {
    if (f.size() < fmt::kIndexHeaderSize) return -1;
    const char* h = f.data();
    uint32_t count = fmt::Get32(h + fmt::kIdxCountAt);
    if (fmt::Get32(h + fmt::kIdxMagicAt) != fmt::kIndexMagic ||
        fmt::Get16(h + fmt::kIdxVersionAt) != fmt::kIndexVersion ||
        fmt::Get16(h + fmt::kIdxKindAt) != kind || fmt::Get64(h + fmt::kIdxBaseAt) != base_ ||
        fmt::Get64(h + fmt::kIdxCoveredAt) != static_cast<uint64_t>(log_size) ||
        f.size() != fmt::kIndexHeaderSize + count * entry ||
        crc32c::Unmask(fmt::Get32(h + fmt::kIdxCrcAt)) !=
            crc32c::Value(h + fmt::kIndexHeaderSize, count * entry)) {
      return -1;
    }
    return count;
  };
  int64_t n = check(*off, fmt::kIndexKindOffset, fmt::kOffsetEntrySize);
  if (n < 0 || check(*tim, fmt::kIndexKindTime, fmt::kTimeEntrySize) != n) return false;
  if (n == 0 && static_cast<uint64_t>(log_size) > header_size_) return false;
  index_.clear();
  for (int64_t i = 0; i < n; ++i) {
    const char* o = off->data() + fmt::kIndexHeaderSize + i * fmt::kOffsetEntrySize;
    const char* t = tim->data() + fmt::kIndexHeaderSize + i * fmt::kTimeEntrySize;
    if (fmt::Get32(t + 8) != fmt::Get32(o)) return false;
    index_.push_back({fmt::Get32(o), fmt::Get32(o + 4), static_cast<int64_t>(fmt::Get64(t))});
  }
  size_ = static_cast<uint64_t>(log_size);
  if (index_.empty()) return true;
  // Walk the frames after the last index entry for the segment's end offset and newest time.
  std::string tail(size_ - index_.back().pos, '\0');
  size_t got = 0;
  if (!PreadUpTo(fd_.get(), tail.data(), tail.size(), index_.back().pos, &got, path_.string())
           .ok() ||
      got != tail.size()) {
    return false;
  }
  max_ts_ = index_.back().max_ts_before;
  last_indexed_pos_ = index_.back().pos;
  any_indexed_ = true;
  size_t p = 0;
  while (p < tail.size()) {
    UnitMeta u;
    size_t size = 0;
    if (!DecodeUnit(tail.data() + p, tail.size() - p, &u, &size)) return false;
    max_ts_ = std::max(max_ts_, u.arrival_ms);
    next_offset_ = u.last_offset + 1;
    p += size;
  }
  // Records before the last entry are not counted exactly; an estimate serves retention.
  records_ = next_offset_ - base_;
  // max_ts_before of entries covers earlier records; the indexed tail covers the rest.
  return true;
}

Status Segment::Append(std::span<const struct iovec> iov, size_t bytes,
                       std::span<const UnitMeta> metas) {
  uint64_t start = size_;
  if (!appendable_) return Internal(path_.string() + ": sealed segment takes no more appends");
  Status st = PwritevAll(fd_.get(), iov, start, path_.string());
  if (!st.ok()) {
    if (sealed_) appendable_ = false;
    if (::ftruncate(fd_.get(), static_cast<off_t>(start)) != 0) {
      // The torn bytes will be cut by recovery.
    }
    return st;
  }
  for (size_t i = 0; i < metas.size(); ++i) {
    size_t end = i + 1 < metas.size() ? metas[i + 1].pos_in_batch : bytes;
    Track(metas[i], start + metas[i].pos_in_batch, end - metas[i].pos_in_batch);
  }
  return Status::Ok();
}

void Segment::ReportSkipped(uint64_t at, uint64_t bytes) {
  if (corruption_logged_.exchange(true)) return;
  SLUICE_LOG(Error, "corrupt bytes skipped while reading a segment")
      .With("path", path_.string())
      .With("position", at)
      .With("bytes_dropped", bytes);
}

Status Segment::Sync() {
  if (::fdatasync(fd_.get()) != 0) return ErrnoError("fdatasync " + path_.string(), errno);
  return Status::Ok();
}

void Segment::Remove() {
  std::error_code ec;
  std::filesystem::remove(path_, ec);
  std::filesystem::remove(Sibling(path_, ".index"), ec);
  std::filesystem::remove(Sibling(path_, ".timeindex"), ec);
}

void Segment::RemoveIndexes() {
  std::error_code ec;
  std::filesystem::remove(Sibling(path_, ".index"), ec);
  std::filesystem::remove(Sibling(path_, ".timeindex"), ec);
}

uint64_t Segment::PositionFor(uint64_t offset) const {
  if (offset <= base_) return header_size_;
  auto rel = offset - base_;
  auto it = std::upper_bound(index_.begin(), index_.end(), rel,
                             [](uint64_t r, const IndexEntry& e) { return r < e.rel_offset; });
  if (it == index_.begin()) return header_size_;
  return std::prev(it)->pos;
}

uint64_t Segment::PositionForTime(int64_t ts_ms) const {
  auto it = std::partition_point(index_.begin(), index_.end(),
                                 [&](const IndexEntry& e) { return e.max_ts_before < ts_ms; });
  if (it == index_.begin()) return header_size_;
  return std::prev(it)->pos;
}

}  // namespace sluice::broker
