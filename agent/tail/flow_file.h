// Flow::File and Flow::Sink: per-file state of a Flow, shared by its .cc files only.
//
// THREADING: loop thread only, like the Flow.
#pragma once

#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "agent/tail/flow.h"

namespace sluice::agent {

struct Flow::File {
  uint64_t serial = 0;
  FileId id;
  std::vector<std::string> paths;  // matching paths that lead to this file now
  std::string display_path;        // the path records name (first seen, or latest)
  std::string target_dir;          // directory of a symlink's target, watched too
  // partition_key: file: the path the file was first seen under, and its hash key. Fixed for
  // the file's life, so a file renamed by rotation (app.log -> app.log.1, both matched) keeps
  // its remaining lines on the shard of its first ones, and its successor under the same name
  // goes there too: every line of app.log stays in order on one shard.
  std::string key_path;
  uint128 path_hash = 0;
  int fd = -1;
  Fingerprint fingerprint;
  std::unique_ptr<Framer> framer;
  uint64_t size = 0;     // size at the last fstat
  int64_t mtime_ns = 0;  // modification time at the last fstat
  int64_t last_growth_ms = 0;
  bool at_eof = false;
  bool dirty = false;
  bool rotated = false;  // no matching path leads here any more: drain, then let go
  int64_t rotated_at_ms = 0;
  bool deleted = false;   // unlinked while open
  bool finished = false;  // drained and closed; forgotten once its checkpoint is durable
  bool open_error_logged = false;
  // What the checkpoint holds (durable) and what was last put.
  uint64_t durable_offset = 0;
  uint32_t prefix_len = 0;
  uint64_t prefix_hash = 0;
  uint64_t put_offset = 0;
  uint32_t batched = 0;  // records of this file in the batch being put
  // A copy of another file, recognised by content (the same first kFingerprintBytes bytes): the
  // serial of the file it copies, which delivers the bytes they share. A copy is not read while
  // that file lives (copytruncate's copy before the truncation, a `cp` of a live log); when it
  // is truncated or let go, the copy goes on from where its reading stopped. 0: not a copy.
  uint64_t copy_of = 0;
  uint64_t copy_size = 0;  // its size when found to be a copy: growing after makes it its own
  // Its content: counts the truncations seen (each starts a new content at offset 0).
  uint32_t epoch = 0;
  // Let go as a copy (ReleaseCopies, AdoptOrphan) to continue a file's content that was
  // truncated or let go: that file's serial and epoch (0: none). Puts of that content that
  // become durable later move this file's checkpoint on (Continued).
  uint64_t continues = 0;
  uint32_t continues_epoch = 0;
  // New (no checkpoint of its own), shorter than a fingerprint, and its bytes so far are how
  // another file begins: maybe a copy being written. Not read until it has a whole fingerprint
  // (and is checked as a copy), parts from that file's start, or stays quiet kYoungQuietMs.
  bool young = false;
  // A hash of the last bytes read (up to kPrefixCheckBytes before read_at, from this content:
  // reset at a truncation): a copy continues from read_at only if it has those bytes there.
  uint64_t read_at = 0;
  uint32_t read_tail_len = 0;
  uint64_t read_tail_hash = 0;
  // The end of the last record taken from this content (Sink), and a hash of the bytes before
  // it as read_tail's, for record_tail_at: where a copy goes on when a truncation cuts the
  // record being framed (its rest is in the copy).
  uint64_t record_end = 0;
  uint64_t record_tail_at = 0;
  uint32_t record_tail_len = 0;
  uint64_t record_tail_hash = 0;
  // The hash of the bytes before `at` as they were read (read_tail or record_tail): false when
  // neither ends there.
  bool ReadTailAt(uint64_t at, uint32_t* len, uint64_t* hash) const {
    if (at == read_at && read_tail_len > 0) {
      *len = read_tail_len;
      *hash = read_tail_hash;
      return true;
    }
    if (at == record_tail_at && record_tail_len > 0) {
      *len = record_tail_len;
      *hash = record_tail_hash;
      return true;
    }
    return false;
  }
  std::string head;  // its first min(size, kFingerprintBytes) bytes, as the fingerprint saw them
  // Position tags: this file's slot in the put being tagged (valid while tag_stamp is the
  // flow's), and the prefix hash taken for the offset a put ends at (PrefixAt).
  uint64_t tag_stamp = 0;
  size_t tag_slot = 0;
  uint64_t hashed_end = UINT64_MAX;
  uint32_t hashed_len = 0;
  uint64_t hashed = 0;
};

struct Flow::Watch {
  uv_fs_event_t handle;
  Flow* flow;
  std::string dir;
};

class Flow::Sink final : public RecordSink {
 public:
  Sink(Flow* flow, File* file) : flow_(flow), file_(file) {}
  void OnRecord(std::string_view data, uint64_t begin, uint64_t end) override {
    if (end > file_->record_end) file_->record_end = end;
    flow_->AddRecord(file_, data, begin, end);
  }

 private:
  Flow* flow_;
  File* file_;
};

// "dir/name" with "." and "" meaning the working directory, as the globs write paths.
std::string JoinPath(const std::string& dir, std::string_view name);

}  // namespace sluice::agent
