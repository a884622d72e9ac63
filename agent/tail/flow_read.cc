// Flow: reading files by blocks, rotation and truncation checks, records into the batch.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "agent/tail/flow.h"
#include "agent/tail/flow_file.h"
#include "buffer/error_output.h"
#include "core/log.h"

namespace sluice::agent {

namespace {
// How long a young file may stay short and quiet before it is read as a file of its own.
constexpr int64_t kYoungQuietMs = 500;
}  // namespace

bool Flow::CheckFile(File* f) {
  struct stat st;
  if (fstat(f->fd, &st) != 0) return false;
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (st.st_nlink == 0 && !f->deleted) {
    f->deleted = true;
    for (const std::string& p : f->paths) {
      auto it = by_path_.find(p);
      if (it != by_path_.end() && it->second == f->serial) by_path_.erase(it);
    }
    f->paths.clear();
    if (!f->rotated) {
      f->rotated = true;
      f->rotated_at_ms = clock_->MonotonicMs();
      ++stats_.rotations;
    }
  }
  const int64_t mtime_ns =
      static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  const uint64_t seen = f->size;  // of the old content, as the last look saw it
  bool truncated = size < f->framer->next_offset();
  // Truncated and written again between two looks, maybe to the very same size: the first bytes
  // tell. Checked whenever the file was modified.
  if (!truncated && (size != f->size || mtime_ns != f->mtime_ns) && f->fingerprint.len > 0 &&
      !FingerprintMatches(f->fd, size, f->fingerprint)) {
    truncated = true;  // truncated and written again past our offset between two looks
  }
  if (truncated) {
    ++stats_.truncations;
    SLUICE_LOG(Info, "file truncated; reading it from the start")
        .With("flow", opts_.name)
        .With("path", f->display_path)
        .With("offset", f->framer->next_offset())
        .With("size", size);
    uint64_t covered = f->framer->next_offset();
    if (f->framer->has_pending() && seen > covered) {
      // The record being framed went on past what was read (the read stopped inside the file,
      // or its last block was the new content's and was dropped): its rest is in the old
      // content, so in a copy, which goes on from the last whole record and reads it whole.
      covered = f->record_end;
    } else {
      Sink sink(this, f);
      f->framer->Flush(&sink);  // what was written before the truncation is still a record
    }
    // copytruncate: the copy may be found only now, or after: it goes on from `covered`, once
    // its bytes before that are this file's.
    KeepReadOrphan(f, covered);
    ReleaseCopies(f, covered);
    // A new content: nothing of it is put or durable yet. Puts of the old one that become
    // durable from now on go to the copies continuing it (Continued).
    ++f->epoch;
    f->continues = 0;
    f->put_offset = f->durable_offset = 0;
    f->prefix_len = 0;
    f->prefix_hash = 0;
    checkpoint_dirty_ = true;
    f->read_at = 0;
    f->read_tail_len = 0;
    f->record_end = f->record_tail_at = 0;
    f->record_tail_len = 0;
    f->hashed_end = UINT64_MAX;  // a prefix hashed before is of the old content
    f->framer->Reset(0);
    f->at_eof = false;
  }
  if ((f->fingerprint.len < kFingerprintBytes && size > f->fingerprint.len) || truncated) {
    (void)TakeFingerprint(f, size);  // unreadable: kept as it was, tried again next look
  }
  f->size = size;
  f->mtime_ns = mtime_ns;
  return true;
}

bool Flow::ReadFile(File* f, uint64_t* budget) {
  if (f->finished) return true;
  if (f->copy_of != 0 && StillACopy(f)) return true;
  if (f->young && StillYoung(f)) return true;
  if (f->fd < 0) {
    // Closed while idle: a stat tells whether it changed before a descriptor is spent on it.
    struct stat st;
    if (!f->rotated && !f->paths.empty() && stat(f->paths.front().c_str(), &st) == 0 &&
        FileId{st.st_dev, st.st_ino} == f->id && static_cast<uint64_t>(st.st_size) == f->size &&
        f->framer->next_offset() >= f->size) {
      return true;
    }
    if (!Reopen(f)) return true;
  }
  if (!CheckFile(f)) return true;
  Sink sink(this, f);
  while (f->framer->next_offset() < f->size) {
    if (BatchFull() && !FlushBatch()) {
      f->dirty = true;
      dirty_.push_back(f->serial);
      return false;
    }
    if (*budget == 0) {
      f->dirty = true;
      dirty_.push_back(f->serial);
      return true;
    }
    ssize_t n =
        pread(f->fd, block_.data(), block_.size(), static_cast<off_t>(f->framer->next_offset()));
    if (n < 0) {
      if (errno == EINTR) continue;
      SLUICE_LOG(Error, "read failed")
          .With("flow", opts_.name)
          .With("path", f->display_path)
          .With("error", strerror(errno));
      return true;
    }
    if (n == 0) break;
    // Truncated and written again since CheckFile looked (copytruncate under a reader that is
    // behind), the file would have given the new content's bytes at the old content's offset.
    // Its first bytes, read after the block, tell: unchanged, the block was read before any
    // truncation. Changed, the block is dropped and CheckFile starts the new content.
    if (f->fingerprint.len > 0 && !FingerprintMatches(f->fd, UINT64_MAX, f->fingerprint)) {
      f->mtime_ns = -1;  // CheckFile compares the fingerprint again
      if (!CheckFile(f)) return true;
      continue;
    }
    stats_.bytes_read += static_cast<uint64_t>(n);
    f->last_growth_ms = clock_->MonotonicMs();
    f->framer->Feed(std::string_view(block_.data(), static_cast<size_t>(n)), &sink);
    const size_t tail = std::min<size_t>(static_cast<size_t>(n), kPrefixCheckBytes);
    f->read_tail_len = static_cast<uint32_t>(tail);
    f->read_tail_hash = Fnv1a64(std::string_view(block_.data() + n - tail, tail));
    f->read_at = f->framer->next_offset();
    // Where the last record taken from this block ends, and the bytes before it.
    const uint64_t block_start = f->read_at - static_cast<uint64_t>(n);
    if (f->record_end != f->record_tail_at && f->record_end > block_start &&
        f->record_end <= f->read_at) {
      const size_t before = static_cast<size_t>(f->record_end - block_start);
      const size_t len = std::min<size_t>(before, kPrefixCheckBytes);
      f->record_tail_at = f->record_end;
      f->record_tail_len = static_cast<uint32_t>(len);
      f->record_tail_hash = Fnv1a64(std::string_view(block_.data() + before - len, len));
    }
    *budget -= std::min<uint64_t>(*budget, static_cast<uint64_t>(n));
    if (f->framer->next_offset() > f->size) f->size = f->framer->next_offset();
  }
  f->at_eof = f->framer->next_offset() >= f->size;
  return true;
}

bool Flow::StillYoung(File* f) {
  if (f->fd < 0 && !Reopen(f)) return true;
  const uint64_t before = f->size;
  if (!CheckFile(f)) return true;
  const int64_t now = clock_->MonotonicMs();
  if (f->size != before) f->last_growth_ms = now;
  const bool quiet = now - f->last_growth_ms >= kYoungQuietMs;
  if (f->fingerprint.len == kFingerprintBytes) {
    f->young = false;
    if (Settle(f) && (f->copy_of != 0 || !quiet)) return true;
    f->young = false;  // not a copy, or a shorter one that stopped growing: read it
    return false;
  }
  if (!BeginsAnother(f) || quiet) {
    f->young = false;  // its own content, or a short file that stopped growing: read it
    return false;
  }
  return true;
}

bool Flow::StillACopy(File* f) {
  // Its original delivers their shared bytes; a copy written to on its own is a file of its own
  // from where they part.
  auto it = files_.find(f->copy_of);
  if (f->fd < 0 || it == files_.end() || !CheckFile(f)) return true;
  File* original = it->second.get();
  if (f->fingerprint != original->fingerprint) {
    // Rewritten from its start: nothing of it is the original's any more.
    f->copy_of = 0;
    StartAt(f, 0, 0, 0);
    return false;
  }
  if (f->size > f->copy_size) {
    // Still being copied, or written to: it is still a copy while the original has its bytes.
    if (!original->finished) (void)CheckFile(original);  // may release it (truncated)
    if (f->copy_of == 0) return false;
    if (SameBytesAt(original, f, f->size)) {
      f->copy_size = f->size;
      return true;
    }
    // Released meanwhile: the original was truncated between its fstat above and SameBytesAt's
    // read of it, which saw that and let the copy go on from where the original's reading
    // stopped (campaign trial 623: moved on to the truncated original's offset, 0, the whole
    // copy was read again).
    if (f->copy_of == 0) return false;
    f->copy_of = 0;
    StartAt(f, std::min(original->framer->next_offset(), f->copy_size), 0, 0);
    return false;
  }
  return true;
}

void Flow::MaybeFinish(File* f) {
  const int64_t now = clock_->MonotonicMs();
  if (f->finished) {
    // Let go once everything read from it is durable, so a restart never needs it again.
    if (f->batched == 0 && f->put_offset == f->durable_offset) Forget(f);
    return;
  }
  if (f->fd < 0) return;
  const int64_t quiet = now - f->last_growth_ms;
  if (f->young && !f->dirty && quiet >= kYoungQuietMs) {
    f->dirty = true;  // quiet long enough: StillYoung lets it be read
    dirty_.push_back(f->serial);
  }
  if (f->at_eof && f->framer->has_pending() && quiet >= opts_.flush_timeout.count()) {
    Sink sink(this, f);
    f->framer->Flush(&sink);
  }
  if (f->rotated && f->at_eof &&
      // Deleted while open: followed by its descriptor while its writer writes on, let go (its
      // space freed) once read to its end and quiet for deleted_wait.
      (f->deleted ? quiet >= opts_.deleted_wait.count()
                  : now - f->rotated_at_ms >= opts_.rotate_wait.count())) {
    uint64_t budget = UINT64_MAX;
    if (!ReadFile(f, &budget) || !f->at_eof) return;  // still growing or refused: next tick
    Sink sink(this, f);
    f->framer->Flush(&sink);
    CloseFd(f);
    f->finished = true;
    return;
  }
  if (!f->rotated && f->at_eof && !f->framer->has_pending() &&
      quiet >= opts_.close_inactive.count()) {
    CloseFd(f);  // reopened when its directory reports a change or a rescan sees it grow
  }
}

void Flow::AddRecord(File* f, std::string_view data, uint64_t begin, uint64_t end) {
  std::string_view out = data;
  bool skip = false;
  int64_t event_ms = broker::kNoEventTime;
  if (!processor_->empty()) {
    RecordContext ctx{f->display_path, begin, clock_->NowMs(), host_, opts_.name};
    ProcessResult r = processor_->Process(data, ctx);
    out = r.data;
    if (r.has_event_time) event_ms = r.event_ms;
    if (r.dropped) {
      ++stats_.records_dropped;
      skip = true;  // nothing to put; its end still moves the checkpoint
    } else if (r.unparsed) {
      ++stats_.parse_failures;
      if (r.to_error_output) {
        if (error_records_ == 0) {
          error_seed_ = opts_.name + "|" + std::to_string(f->id.dev) + ":" +
                        std::to_string(f->id.ino) + "|" + std::to_string(begin);
        }
        std::string message =
            (r.error.empty() ? std::string("no processing step could parse the line")
                             : std::string(r.error)) +
            " (" + f->display_path + ", byte " + std::to_string(begin) + ")";
        buffer::FailedRecord failed;
        failed.data = data;
        failed.arrival_ms = clock_->NowMs();
        failed.error_code = "Processing.Unparsed";
        failed.error_message = message;
        buffer::AppendErrorLine(failed, failed.arrival_ms, &error_lines_);
        ++error_records_;
        skip = true;
      }
    }
  }
  if (out.size() > (1u << 20)) {  // processing made it larger than a stream record may be
    out = out.substr(0, 1u << 20);
    ++stats_.records_truncated;
  }
  Entry e{};
  e.file = f->serial;
  e.end_offset = end;
  e.epoch = f->epoch;
  e.done = skip;
  e.event_ms = event_ms;
  e.key_off = static_cast<uint32_t>(arena_.size());
  if (!skip) {
    if (opts_.partition_key == PartitionKeyKind::kFile) {
      // One hash per file, not per record: the stream routes by it as it would by the key.
      e.has_hash_key = true;
      e.hash_key = f->path_hash;
    }
    if (opts_.partition_key == PartitionKeyKind::kFile && !batch_.empty() &&
        batch_.back().file == f->serial && batch_.back().key_len > 0) {
      e.key_off = batch_.back().key_off;  // the same path: share its bytes
      e.key_len = batch_.back().key_len;
    } else {
      // `random` draws the hash key too (file keys set theirs above).
      if (keyer_->AppendKey(out, f->key_path, &arena_, &e.hash_key)) e.has_hash_key = true;
      e.key_len = static_cast<uint32_t>(arena_.size() - e.key_off);
    }
    e.data_off = static_cast<uint32_t>(arena_.size());
    arena_.append(out);
    e.data_len = static_cast<uint32_t>(out.size());
  }
  batch_.push_back(e);
  ++f->batched;
}

}  // namespace sluice::agent
