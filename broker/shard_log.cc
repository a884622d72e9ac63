#include "broker/shard_log.h"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "broker/format.h"
#include "core/log.h"

namespace sluice::broker {

namespace fmt = format;

namespace {
constexpr size_t kReadChunk = 256 << 10;
// Records at least this big are written from the caller's memory instead of being copied.
constexpr size_t kZeroCopyBytes = 2048;
}  // namespace

ShardLog::ShardLog(std::filesystem::path dir, const ShardLogOptions& options)
    : dir_(std::move(dir)), opt_(options) {}

ShardLog::~ShardLog() {
  std::lock_guard<std::mutex> lock(mu_);
  // Leaves fresh indexes behind so the next start need not scan sealed segments.
  if (!segments_.empty()) (void)segments_.back()->WriteIndexes();
}

Result<std::unique_ptr<ShardLog>> ShardLog::Open(const std::filesystem::path& dir,
                                                 const ShardLogOptions& options,
                                                 uint64_t min_next_offset) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError("create " + dir.string() + ": " + ec.message());
  std::vector<uint64_t> bases;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.size() == 28 && name.ends_with(".log.tmp")) {
      // A segment whose creation a crash cut short: it never held a record.
      std::error_code rm;
      std::filesystem::remove(entry.path(), rm);
      continue;
    }
    if (name.size() != 24 || name.substr(20) != ".log") continue;
    char* end = nullptr;
    uint64_t base = std::strtoull(name.c_str(), &end, 10);
    if (end != name.c_str() + 20) continue;
    bases.push_back(base);
  }
  if (ec) return IoError("list " + dir.string() + ": " + ec.message());
  std::sort(bases.begin(), bases.end());
  std::unique_ptr<ShardLog> log(new ShardLog(dir, options));
  RecoveryReport report;
  for (size_t i = 0; i < bases.size(); ++i) {
    bool last = i + 1 == bases.size();
    ASSIGN_OR_RETURN(auto seg, Segment::Open(dir, bases[i], last, &report, options.keyring.get()));
    log->bytes_ += seg->size();
    log->next_offset_ = std::max(log->next_offset_, seg->next_offset());
    log->segments_.push_back(std::move(seg));
  }
  if (report.torn_tail_bytes > 0 || report.corrupt_regions > 0) {
    SLUICE_LOG(Warn, "shard recovered")
        .With("dir", dir.string())
        .With("torn_tail_bytes", report.torn_tail_bytes)
        .With("corrupt_regions", report.corrupt_regions)
        .With("corrupt_bytes_dropped", report.corrupt_bytes);
  }
  log->next_offset_ = std::max(log->next_offset_, min_next_offset);
  if (log->segments_.empty()) {
    ASSIGN_OR_RETURN(auto seg, Segment::Create(dir, log->next_offset_, log->MasterLocked()));
    // The new file and directory entries must survive a power cut before any fdatasync of the
    // segment counts.
    if (options.sync_on_roll) {
      RETURN_IF_ERROR(FsyncDir(dir));
      RETURN_IF_ERROR(FsyncDir(dir.parent_path()));
    }
    log->bytes_ += seg->size();
    log->segments_.push_back(std::move(seg));
  }
  if (options.disk_usage) *options.disk_usage += static_cast<int64_t>(log->bytes_);
  return log;
}

const Keyring::Key* ShardLog::MasterLocked() const {
  if (!opt_.encryption.enabled || !opt_.keyring) return nullptr;
  return opt_.keyring->FindOrPrimary(opt_.encryption.key_id);
}

bool ShardLog::NeedsResealLocked() const {
  const Segment& active = *segments_.back();
  const Keyring::Key* master = MasterLocked();
  if (master == nullptr) return active.sealed();
  return !active.sealed() || !active.appendable() || active.master_key_id() != master->id;
}

Status ShardLog::RollLocked() {
  auto& active = segments_.back();
  const Keyring::Key* master = MasterLocked();
  if (active->records() == 0 && next_offset_ == active->base()) {
    // Nothing in it to keep: a segment of the same base replaces it (Create renames over it).
    ASSIGN_OR_RETURN(auto seg, Segment::Create(dir_, active->base(), master));
    active->RemoveIndexes();
    int64_t delta = static_cast<int64_t>(seg->size()) - static_cast<int64_t>(active->size());
    bytes_ = static_cast<uint64_t>(static_cast<int64_t>(bytes_) + delta);
    if (opt_.disk_usage) *opt_.disk_usage += delta;
    if (opt_.sync_on_roll) dir_unsynced_ = true;
    active = std::move(seg);
    return Status::Ok();
  }
  RETURN_IF_ERROR(active->WriteIndexes(Durability::kUnsynced));
  ASSIGN_OR_RETURN(auto seg, Segment::Create(dir_, next_offset_, master));
  if (opt_.sync_on_roll) {
    // Durable at the next group commit; DurableGeneration waits for it.
    unsynced_sealed_.push_back(active);
    dir_unsynced_ = true;
  }
  bytes_ += seg->size();
  if (opt_.disk_usage) *opt_.disk_usage += static_cast<int64_t>(seg->size());
  segments_.push_back(std::move(seg));
  return Status::Ok();
}

std::vector<std::string> ShardLog::MasterKeysInUse() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> ids;
  for (const auto& seg : segments_) {
    if (seg->sealed() && std::find(ids.begin(), ids.end(), seg->master_key_id()) == ids.end()) {
      ids.push_back(seg->master_key_id());
    }
  }
  return ids;
}

void ShardLog::SetSealing(std::shared_ptr<const Keyring> keyring,
                          const StreamEncryption& encryption) {
  std::lock_guard<std::mutex> lock(mu_);
  opt_.keyring = std::move(keyring);
  opt_.encryption = encryption;
}

void ShardLog::Append(std::span<const PutRecordIn> records, std::span<const uint32_t> which,
                      int64_t arrival_ms, uint32_t shard_index, std::vector<PutRecordOut>* out,
                      std::string_view tag) {
  std::unique_lock<std::mutex> lock(mu_);
  if (closed_) {
    // Resharding closed this shard between routing and locking: the caller retries.
    for (uint32_t i : which) (*out)[i].status = Unavailable("shard closed by resharding; retry");
    return;
  }
  if (opt_.encryption.enabled && MasterLocked() == nullptr) {
    // Checked by the broker before it gets here; never fall back to writing plain records.
    Status st = Internal("stream encryption names master key \"" + opt_.encryption.key_id +
                         "\", which the keyring does not hold");
    for (uint32_t i : which) (*out)[i].status = st;
    return;
  }
  if (segments_.back()->size() >= std::min(opt_.segment_bytes, fmt::kMaxSegmentBytes) ||
      next_offset_ - segments_.back()->base() >= fmt::kMaxSegmentRecords || NeedsResealLocked()) {
    Status st = RollLocked();
    if (!st.ok()) {
      for (uint32_t i : which) (*out)[i].status = st;
      return;
    }
  }
  const bool sealed = segments_.back()->sealed();
  if (sealed && seal_seg_ != segments_.back()) {
    seal_seg_ = segments_.back();
    seal_gcm_ = std::make_unique<GcmContext>(seal_seg_->data_key(), GcmContext::Mode::kSeal);
  }
  pieces_.clear();
  metas_.clear();
  // Room for every frame head, and the data of records copied rather than written from the
  // caller's memory; at most this much is written below. Sealed: every record is copied (the
  // cipher writes it), and a chunk header and tag per record at most.
  size_t room = 0;
  for (uint32_t i : which) {
    const PutRecordIn& r = records[i];
    room += FrameHeadSize(r.partition_key, r.event_ms);
    if (sealed || r.data.size() < kZeroCopyBytes) room += r.data.size();
    if (sealed) room += fmt::kChunkHeaderSize + fmt::kChunkTagBytes;
  }
  if (!tag.empty()) room += fmt::kTagLenBytes + tag.size();
  if (room > wbuf_cap_) {
    wbuf_cap_ = std::max(room, 2 * wbuf_cap_);
    wbuf_.reset(new char[wbuf_cap_]);  // default-initialized: no fill
  }
  size_t used = 0;
  auto add_wbuf = [&](size_t off, size_t len) {
    if (!pieces_.empty() && pieces_.back().ext == nullptr &&
        pieces_.back().off + pieces_.back().len == off) {
      pieces_.back().len += len;
    } else {
      pieces_.push_back({nullptr, off, len});
    }
  };
  int64_t now_mono = opt_.provisioned ? opt_.clock->MonotonicMs() : 0;
  uint64_t offset = next_offset_;
  size_t stream_pos = 0;  // bytes of this batch so far
  // The chunk being filled (sealed segments): where it starts in wbuf_, its frames' bytes.
  bool chunk_open = false;
  size_t chunk_at = 0, chunk_plain = 0;
  uint64_t chunk_first = 0;
  uint32_t chunk_records = 0;
  bool seal_failed = false;
  seal_pieces_.clear();
  // A piece of the open chunk's frames: in place in wbuf_ (src null) or still at src.
  auto add_seal = [&](const char* src, size_t len) {
    const size_t at = chunk_plain;
    if (src == nullptr && !seal_pieces_.empty() && seal_pieces_.back().src == nullptr) {
      seal_pieces_.back().len += len;
    } else {
      seal_pieces_.push_back({src, at, len});
    }
    chunk_plain += len;
  };
  // `last`: the append's last chunk, which ends the write (kChunkFlagWriteEnd).
  auto close_chunk = [&](bool last) {
    size_t total = SealChunk(*seal_gcm_, seal_seg_->salt(), chunk_first, offset - 1, chunk_records,
                             arrival_ms, last, wbuf_.get() + chunk_at, chunk_plain, seal_pieces_);
    seal_pieces_.clear();
    if (total == 0) seal_failed = true;
    metas_.push_back({chunk_first, offset - 1, chunk_records, arrival_ms,
                      static_cast<uint32_t>(chunk_at), last});
    used = chunk_at + fmt::kChunkHeaderSize + chunk_plain + fmt::kChunkTagBytes;
    add_wbuf(chunk_at, used - chunk_at);
    stream_pos = used;
    chunk_open = false;
  };
  bool refused = false;  // a record of this batch was refused: the tag is not written
  // The last frame written (plain segments): it ends the write (kFrameFlagWriteEnd), set as it is
  // made when it is `which`'s last, else put on it after the loop.
  bool ended = false;
  size_t last_at = 0;
  uint32_t last_i = 0;
  for (uint32_t i : which) {
    const PutRecordIn& r = records[i];
    PutRecordOut& o = (*out)[i];  // ok as PutBatch made it; set when refused
    if (opt_.provisioned) {
      double bytes = static_cast<double>(r.data.size() + r.partition_key.size());
      write_bytes_.Refill(now_mono);
      write_records_.Refill(now_mono);
      if (!write_records_.TryTake(1, now_mono)) {
        o.status = ResourceExhausted("ProvisionedThroughputExceeded: records per second");
        refused = true;
        continue;
      }
      if (!write_bytes_.TryTake(bytes, now_mono)) {
        write_records_.Charge(-1);
        o.status = ResourceExhausted("ProvisionedThroughputExceeded: bytes per second");
        refused = true;
        continue;
      }
    }
    const std::string_view t = !refused && i == which.back() ? tag : std::string_view();
    size_t n;
    if (sealed) {
      size_t frame = FrameHeadSize(r.partition_key, r.event_ms, t) + r.data.size();
      if (chunk_open && chunk_plain + frame > fmt::kChunkTargetBytes) close_chunk(false);
      if (!chunk_open) {
        chunk_open = true;
        chunk_at = used;
        chunk_plain = 0;
        chunk_first = offset;
        chunk_records = 0;
        used += fmt::kChunkHeaderSize;
      }
      // The frame's head goes into wbuf_; its data is encrypted from the caller's memory
      // straight into the room after it (one pass, no copy first) when large, copied when small.
      size_t head = WriteSealedFrameHead(wbuf_.get() + used, offset, arrival_ms, r.event_ms,
                                         r.partition_key, r.data.size(), t);
      if (r.data.size() >= kZeroCopyBytes) {
        add_seal(nullptr, head);
        add_seal(r.data.data(), r.data.size());
      } else {
        std::memcpy(wbuf_.get() + used + head, r.data.data(), r.data.size());
        add_seal(nullptr, head + r.data.size());
      }
      n = head + r.data.size();
      ++chunk_records;
    } else {
      metas_.push_back({offset, offset, 1, arrival_ms, static_cast<uint32_t>(stream_pos)});
      ended = i == which.back();
      last_at = used;
      last_i = i;
      if (r.data.size() >= kZeroCopyBytes) {
        n = WriteFrameHead(wbuf_.get() + used, offset, arrival_ms, r.event_ms, r.partition_key,
                           r.data, t, ended);
        add_wbuf(used, n);
        pieces_.push_back({r.data.data(), 0, r.data.size()});
        stream_pos += n + r.data.size();
      } else {
        n = WriteFrame(wbuf_.get() + used, offset, arrival_ms, r.event_ms, r.partition_key, r.data,
                       t, ended);
        add_wbuf(used, n);
        stream_pos += n;
      }
    }
    used += n;
    o.shard_index = shard_index;
    o.offset = offset++;
  }
  if (chunk_open) close_chunk(true);
  if (!sealed && !metas_.empty() && !ended) {
    // The batch's last record was refused (provisioned throughput): the last one written ends
    // the write; its frame is made again with the flag (no tag: a refused batch carries none).
    const PutRecordIn& r = records[last_i];
    const uint64_t at_offset = metas_.back().first_offset;
    if (r.data.size() >= kZeroCopyBytes) {
      (void)WriteFrameHead(wbuf_.get() + last_at, at_offset, arrival_ms, r.event_ms,
                           r.partition_key, r.data, {}, true);
    } else {
      (void)WriteFrame(wbuf_.get() + last_at, at_offset, arrival_ms, r.event_ms, r.partition_key,
                       r.data, {}, true);
    }
  }
  if (seal_failed) {
    Status st = Internal("AES-GCM sealing failed");
    for (uint32_t i : which) {
      if ((*out)[i].status.ok()) (*out)[i].status = st;
    }
    return;
  }
  if (metas_.empty()) return;
  uint64_t before = segments_.back()->size();
  iov_.clear();
  for (const Piece& p : pieces_) {
    const char* base = p.ext ? p.ext : wbuf_.get() + p.off;
    iov_.push_back({const_cast<char*>(base), p.len});
  }
  Status st = segments_.back()->Append(iov_, stream_pos, metas_);
  if (!st.ok()) {
    for (uint32_t i : which) {
      if ((*out)[i].status.ok()) (*out)[i].status = st;
    }
    return;
  }
  uint64_t added = segments_.back()->size() - before;
  bytes_ += added;
  if (opt_.disk_usage) *opt_.disk_usage += static_cast<int64_t>(added);
  next_offset_ = offset;
  dirty_ = true;
  lock.unlock();
  cv_.notify_all();
}

std::shared_ptr<Segment> ShardLog::SegmentForLocked(uint64_t offset, size_t* index) const {
  auto it = std::upper_bound(segments_.begin(), segments_.end(), offset,
                             [](uint64_t o, const auto& s) { return o < s->base(); });
  size_t i = it == segments_.begin() ? 0 : static_cast<size_t>(it - segments_.begin()) - 1;
  *index = i;
  return segments_[i];
}

Status ShardLog::Read(uint64_t from, const ReadLimits& limits, ReadBatch* out) {
  out->records.clear();
  out->shard_end = false;
  out->millis_behind_latest = 0;
  size_t cap = std::max(limits.max_bytes, fmt::kMaxFrameBytes) + fmt::kMaxFrameBytes + kReadChunk;
  size_t max_records = std::max<size_t>(1, limits.max_records);

  std::unique_lock<std::mutex> lock(mu_);
  const bool provisioned = opt_.provisioned;  // read under the lock (SetProvisioned)
  if (provisioned) {
    int64_t now = opt_.clock->MonotonicMs();
    if (!read_calls_.Positive(now) || !read_bytes_.Positive(now)) {
      return ResourceExhausted("ProvisionedThroughputExceeded: reads of this shard");
    }
    read_calls_.Charge(1);
  }
  from = std::max(from, segments_.front()->base());
  uint64_t end_offset = next_offset_;
  bool closed = closed_;
  size_t seg_index = 0;
  std::shared_ptr<Segment> seg = SegmentForLocked(from, &seg_index);
  uint64_t file_pos = seg->PositionFor(from);
  uint64_t seg_end = seg->size();
  // The buffer grows to what there is to read (bounded by cap), not to cap itself: a reader of
  // a quiet shard keeps a small buffer.
  uint64_t avail = seg_end - file_pos;
  for (size_t i = seg_index + 1; i < segments_.size() && avail < cap; ++i) {
    avail += segments_[i]->size() - segments_[i]->data_start();
  }
  lock.unlock();
  size_t want = static_cast<size_t>(std::min<uint64_t>(cap, avail));
  if (out->buffer.size() < want) out->buffer.resize(std::max(want, out->buffer.size() * 2));
  cap = out->buffer.size();
  char* buf = out->buffer.data();

  size_t used = 0;      // bytes of buf filled
  size_t parse_at = 0;  // next frame to decode in buf
  size_t bytes = 0;
  bool full = false;
  bool have_prev = false;
  uint64_t prev_offset = 0;
  uint64_t skipped = 0;  // corrupt bytes being skipped, from file position skip_at
  uint64_t skip_at = 0;
  // Takes a record into the batch; false once the batch is full (a record that would pass the
  // byte limit is not taken, unless it is the first).
  auto take = [&](const Frame& f) {
    size_t sz = f.key.size() + f.data.size();
    if (!out->records.empty() && bytes + sz > limits.max_bytes) return false;
    out->records.push_back({f.offset, f.arrival_ms, f.key, f.data, f.event_ms, f.tag});
    bytes += sz;
    return out->records.size() < max_records;
  };
  // Opens chunks of the sealed segment open_seg.
  std::shared_ptr<Segment> open_seg;
  std::unique_ptr<GcmContext> open_gcm;
  while (!full) {
    if (file_pos >= seg_end) {
      if (opt_.on_read_at_segment_end) opt_.on_read_at_segment_end();
      lock.lock();
      if (seg->size() > seg_end) {
        // Appended to since its size was taken: read the rest of it first. Once it has a
        // successor it no longer grows, so leaving it below is safe.
        seg_end = seg->size();
        lock.unlock();
        continue;
      }
      // Next segment, if any.
      seg_index = 0;
      auto it = std::upper_bound(segments_.begin(), segments_.end(), seg->base(),
                                 [](uint64_t o, const auto& s) { return o < s->base(); });
      if (it == segments_.end()) {
        lock.unlock();
        break;
      }
      seg = *it;
      seg_end = seg->size();
      have_prev = false;
      lock.unlock();
      file_pos = seg->data_start();
      parse_at = used;
      continue;
    }
    size_t n = std::min<uint64_t>({kReadChunk, seg_end - file_pos, cap - used});
    if (n == 0) break;
    size_t got = 0;
    RETURN_IF_ERROR(PreadUpTo(seg->fd(), buf + used, n, file_pos, &got, seg->path().string()));
    if (got == 0) {
      file_pos = seg_end;  // the segment was cut by recovery or removed; move on
      continue;
    }
    used += got;
    file_pos += got;
    while (parse_at < used) {
      const uint64_t unit_pos = file_pos - (used - parse_at);
      if (seg->sealed()) {
        // A chunk: its header, then its frames once opened in place. The GCM tag checks every
        // byte, so the CRC is not summed again here.
        Chunk ch;
        FrameCheck c = DecodeChunk(buf + parse_at, used - parse_at, &ch, /*verify=*/false);
        if (c == FrameCheck::kIncomplete && file_pos < seg_end) break;  // read more
        bool ok = c == FrameCheck::kOk && (!have_prev || ch.first > prev_offset) &&
                  ch.first >= seg->base();
        if (ok) {
          if (open_seg != seg) {
            open_seg = seg;
            open_gcm = std::make_unique<GcmContext>(seg->data_key(), GcmContext::Mode::kOpen);
          }
          ok = OpenChunk(*open_gcm, seg->salt(), buf + parse_at, ch);
        }
        if (!ok) {
          // Corruption (or tampering) inside the log: skip byte by byte to the next valid chunk.
          if (skipped == 0) skip_at = unit_pos;
          ++skipped;
          ++parse_at;
          continue;
        }
        if (skipped > 0) {
          seg->ReportSkipped(skip_at, skipped);
          skipped = 0;
        }
        have_prev = true;
        prev_offset = ch.last;
        const size_t plain = ch.sealed_len - fmt::kChunkTagBytes;
        size_t at = 0;
        while (at < plain && !full) {
          Frame f;
          if (DecodeFrame(ch.sealed + at, plain - at, &f, /*verify=*/false) != FrameCheck::kOk) {
            // Authenticated yet not frames: written so by no version of this broker.
            seg->ReportSkipped(unit_pos, ch.size);
            break;
          }
          at += f.size;
          if (f.offset >= from && !take(f)) full = true;
        }
        if (full) break;
        parse_at += ch.size;
        continue;
      }
      Frame f;
      const uint64_t frame_pos = unit_pos;
      FrameCheck c =
          DecodeFrame(buf + parse_at, used - parse_at, &f, frame_pos < seg->trusted_from());
      if (c == FrameCheck::kIncomplete && file_pos < seg_end) break;  // read more
      if (c != FrameCheck::kOk || (have_prev && f.offset <= prev_offset) ||
          f.offset < seg->base()) {
        // Corruption inside the log: skip byte by byte to the next valid frame.
        if (skipped == 0) skip_at = file_pos - (used - parse_at);
        ++skipped;
        ++parse_at;
        continue;
      }
      if (skipped > 0) {
        seg->ReportSkipped(skip_at, skipped);
        skipped = 0;
      }
      have_prev = true;
      prev_offset = f.offset;
      if (f.offset >= from && !take(f)) {
        full = true;
        break;
      }
      parse_at += f.size;
    }
    if (file_pos >= seg_end && skipped > 0) {
      seg->ReportSkipped(skip_at, skipped);
      skipped = 0;
    }
  }
  if (out->records.empty()) {
    out->next_offset = std::max(from, end_offset);
  } else {
    out->next_offset = out->records.back().offset + 1;
  }
  out->shard_end = closed && out->next_offset >= end_offset;
  if (out->next_offset < end_offset && !out->records.empty()) {
    int64_t now = opt_.clock ? opt_.clock->NowMs() : 0;
    out->millis_behind_latest = std::max<int64_t>(0, now - out->records.back().arrival_ms);
  }
  if (provisioned) {
    lock.lock();
    read_bytes_.Charge(static_cast<double>(bytes));
  }
  return Status::Ok();
}

uint64_t ShardLog::EndOffset() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_offset_;
}

uint64_t ShardLog::StartOffset() const {
  std::lock_guard<std::mutex> lock(mu_);
  return std::min(segments_.front()->base(), next_offset_);
}

uint64_t ShardLog::OffsetAtTimestamp(int64_t ts_ms) const {
  std::unique_lock<std::mutex> lock(mu_);
  std::shared_ptr<Segment> seg;
  for (const auto& s : segments_) {
    if (s->records() > 0 && s->max_arrival_ms() >= ts_ms) {
      seg = s;
      break;
    }
  }
  if (!seg) return next_offset_;
  uint64_t pos = seg->PositionForTime(ts_ms);
  uint64_t end = seg->size();
  lock.unlock();
  std::string buf;
  uint64_t result = seg->next_offset();
  size_t parse_at = 0;
  while (pos < end || parse_at < buf.size()) {
    size_t n = std::min<uint64_t>(kReadChunk, end - pos);
    size_t old = buf.size();
    buf.resize(old + n);
    size_t got = 0;
    if (!PreadUpTo(seg->fd(), buf.data() + old, n, pos, &got, seg->path().string()).ok() ||
        got == 0) {
      break;
    }
    buf.resize(old + got);
    pos += got;
    while (parse_at < buf.size()) {
      if (seg->sealed()) {
        // Every record of a chunk arrived with its batch: the chunk's time is theirs.
        Chunk ch;
        if (DecodeChunk(buf.data() + parse_at, buf.size() - parse_at, &ch) != FrameCheck::kOk) {
          break;
        }
        if (ch.arrival_ms >= ts_ms) return ch.first;
        parse_at += ch.size;
        continue;
      }
      Frame f;
      FrameCheck c = DecodeFrame(buf.data() + parse_at, buf.size() - parse_at, &f);
      if (c != FrameCheck::kOk) break;
      if (f.arrival_ms >= ts_ms) return f.offset;
      parse_at += f.size;
    }
    buf.erase(0, parse_at);
    parse_at = 0;
    if (pos >= end) break;
  }
  return result;
}

bool ShardLog::WaitForData(uint64_t offset, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return next_offset_ > offset || closed_; }) &&
         (next_offset_ > offset || closed_);
}

uint64_t ShardLog::Close() {
  std::unique_lock<std::mutex> lock(mu_);
  closed_ = true;
  uint64_t end = next_offset_;
  lock.unlock();
  cv_.notify_all();
  return end;
}

void ShardLog::SetProvisioned(bool provisioned) {
  std::lock_guard<std::mutex> lock(mu_);
  opt_.provisioned = provisioned;
}

bool ShardLog::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

Status ShardLog::Sync() {
  std::unique_lock<std::mutex> lock(mu_);
  if (!dirty_ && unsynced_sealed_.empty() && !dir_unsynced_) return Status::Ok();
  std::vector<std::shared_ptr<Segment>> sealed;
  sealed.swap(unsynced_sealed_);
  bool dir = dir_unsynced_;
  bool active_dirty = dirty_;
  dir_unsynced_ = false;
  dirty_ = false;
  std::shared_ptr<Segment> seg = segments_.back();
  lock.unlock();
  // A segment sealed after `seg` was taken is synced here and again by the next call: harmless.
  Status st;
  for (const auto& s : sealed) {
    st = s->Sync();
    if (!st.ok()) break;
  }
  if (st.ok() && dir) st = FsyncDir(dir_);
  if (st.ok() && active_dirty) st = seg->Sync();
  if (!st.ok()) {
    lock.lock();
    unsynced_sealed_.insert(unsynced_sealed_.begin(), sealed.begin(), sealed.end());
    dir_unsynced_ = dir_unsynced_ || dir;
    dirty_ = dirty_ || active_dirty;
  }
  return st;
}

uint64_t ShardLog::DropExpired(int64_t cutoff_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t freed = 0;
  auto expired = [&](const Segment& s) {
    return s.records() == 0 || s.max_arrival_ms() < cutoff_ms;
  };
  if (!closed_ && segments_.back()->records() > 0 && expired(*segments_.back())) {
    if (!RollLocked().ok()) return 0;
  }
  while (!segments_.empty() && expired(*segments_.front()) && (segments_.size() > 1 || closed_)) {
    freed += segments_.front()->size();
    segments_.front()->Remove();
    segments_.pop_front();
  }
  if (segments_.empty()) {
    // A closed shard keeps an empty segment so reads stay well defined until it expires.
    auto seg = Segment::Create(dir_, next_offset_);
    if (seg.ok()) {
      freed -= std::min(freed, (*seg)->size());
      segments_.push_back(std::move(*seg));
    }
  }
  bytes_ -= std::min(bytes_, freed);
  if (opt_.disk_usage) *opt_.disk_usage -= static_cast<int64_t>(freed);
  return freed;
}

bool ShardLog::Empty() const {
  std::lock_guard<std::mutex> lock(mu_);
  return segments_.size() == 1 && segments_.front()->records() == 0;
}

uint64_t ShardLog::DiskBytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

void ShardLog::RemoveAll() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& s : segments_) s->Remove();
  if (opt_.disk_usage) *opt_.disk_usage -= static_cast<int64_t>(bytes_);
  bytes_ = 0;
  segments_.clear();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

}  // namespace sluice::broker
