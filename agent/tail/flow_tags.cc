// Flow: position tags. Every put names, per file of its batch, where the file's records end
// (agent/tail/source_position.h); the stream writes that tag with the put's last record, in the
// same write. The checkpoint file says which tags it covers and from where in the stream later
// ones are, so a restart after a kill -9 resumes each file where the stream holds it to.
#include <algorithm>
#include <chrono>
#include <thread>

#include "agent/tail/flow.h"
#include "agent/tail/flow_file.h"
#include "agent/tail/source_position.h"
#include "core/log.h"

namespace sluice::agent {

void Flow::PrefixAt(File* f, uint64_t end, uint32_t* len, uint64_t* hash) {
  if (f->hashed_end != end) {
    f->hashed_end = end;
    f->hashed_len = 0;
    f->hashed = 0;
    const uint32_t want = static_cast<uint32_t>(std::min<uint64_t>(kPrefixCheckBytes, end));
    // The bytes before the end of the last block or record read, hashed as they were read: the
    // file may have been truncated since (and refilled), unseen yet (campaign trial 862).
    uint32_t read_len = 0;
    uint64_t read_hash = 0;
    if (f->ReadTailAt(end, &read_len, &read_hash) && read_len == want) {
      f->hashed_len = want;
      f->hashed = read_hash;
    } else if (f->fd >= 0) {
      auto h = HashRange(f->fd, end - want, end);
      if (h.ok()) {
        f->hashed_len = want;
        f->hashed = *h;
      }
    }
  }
  *len = f->hashed_len;
  *hash = f->hashed;
}

size_t Flow::TagSlotOf(File* f) {
  if (f->tag_stamp != tag_stamp_) {
    f->tag_stamp = tag_stamp_;
    f->tag_slot = tag_slots_.size();
    tag_slots_.push_back({f, nullptr, 0, false, false, false, false});
  }
  return f->tag_slot;
}

void Flow::ContinuationSlots(uint64_t serial, uint32_t epoch) {
  for (const auto& [s, o] : files_) {
    File* c = o.get();
    if (c->continues != serial || c->continues_epoch != epoch) continue;
    run_slots_.push_back(TagSlotOf(c));
    tag_slots_[run_slots_.back()].continuation = true;
  }
  if (!run_slots_.empty()) return;
  for (const Orphan& o : orphans_) {
    if (o.serial != serial || o.epoch != epoch) continue;
    for (size_t i = 0; i < tag_slots_.size(); ++i) {
      if (tag_slots_[i].orphan == &o) {
        run_slots_.push_back(i);
        return;
      }
    }
    run_slots_.push_back(tag_slots_.size());
    tag_slots_.push_back({nullptr, &o, 0, false, false, false, true});
    return;
  }
}

std::string_view Flow::TagFor(std::span<const uint32_t> in_put) {
  // A file's records are in the stream up to the end of the longest run of its entries each
  // done (in the stream already, or nothing to put) or in this put; a file's entries are in
  // file order. One pass over the batch, files looked up once per run of one file's entries.
  // Entries of a content the file has been truncated from since are not the file's positions
  // but those of the copies continuing that content (or of the orphan it left): a kill before
  // the put is in the checkpoint then resumes the copy past them (trial 864 of the crash
  // campaign: a copy's last lines put again after a restart).
  ++tag_stamp_;
  tag_slots_.clear();
  run_slots_.clear();
  size_t next_in_put = 0;
  uint64_t run_serial = 0;
  uint32_t run_epoch = 0;
  bool have_run = false;
  for (size_t i = 0; i < batch_.size(); ++i) {
    const Entry& e = batch_[i];
    const bool in = next_in_put < in_put.size() && in_put[next_in_put] == i;
    if (in) ++next_in_put;
    if (!have_run || e.file != run_serial || e.epoch != run_epoch) {
      have_run = true;
      run_serial = e.file;
      run_epoch = e.epoch;
      run_slots_.clear();
      auto it = files_.find(e.file);
      File* f = it == files_.end() ? nullptr : it->second.get();
      if (f != nullptr && f->epoch == e.epoch) {
        run_slots_.push_back(TagSlotOf(f));
      } else {
        ContinuationSlots(e.file, e.epoch);
      }
    }
    for (size_t s : run_slots_) {
      TagSlot& slot = tag_slots_[s];
      if (slot.blocked) continue;
      if (in || e.done) {
        slot.end_offset = e.end_offset;
        slot.advanced = true;
        slot.in_put = slot.in_put || in;
      } else {
        slot.blocked = true;
      }
    }
  }
  tag_positions_.clear();
  // The files of this put first, should the batch name more files than a tag holds.
  for (int pass = 0; pass < 2; ++pass) {
    for (const TagSlot& s : tag_slots_) {
      if (!s.advanced || s.in_put != (pass == 0)) continue;
      if (tag_positions_.size() == kMaxTagPositions) break;
      FileCheckpoint c;
      c.offset = s.end_offset;
      if (s.file != nullptr) {
        c.id = s.file->id;
        c.fingerprint = s.file->fingerprint;
        PrefixAt(s.file, s.end_offset, &c.prefix_len, &c.prefix_hash);
        // A copy named for content it continues must hold the bytes: unchecked, it is left out
        // (a restart may put those records again, never skip any).
        if (s.continuation && c.prefix_len == 0 && s.end_offset > 0) continue;
      } else {
        // The orphan's content is gone from its file: its bytes are known where its reading
        // stopped and where it was durable, and nowhere else.
        const Orphan& o = *s.orphan;
        c.id = o.id;
        c.fingerprint = o.fingerprint;
        if (s.end_offset == o.check_at && o.prefix_len > 0) {
          c.prefix_len = o.prefix_len;
          c.prefix_hash = o.prefix_hash;
        } else if (s.end_offset == o.durable && o.durable_prefix_len > 0) {
          c.prefix_len = o.durable_prefix_len;
          c.prefix_hash = o.durable_prefix_hash;
        } else {
          continue;
        }
      }
      tag_positions_.push_back(c);
    }
  }
  if (tag_positions_.empty()) return {};
  EncodePositionTag(tag_flow_id_, ++put_seq_, tag_positions_, &tag_buf_);
  return tag_buf_;
}

void Flow::Written(const broker::PutTag& tag) {
  batch_tags_.push_back({0, put_seq_, tag.shard_index, tag.offset});
}

void Flow::TakeBatchTags(uint64_t generation) {
  for (TagPut t : batch_tags_) {
    t.generation = generation;
    tag_puts_.push_back(t);
  }
  batch_tags_.clear();
}

TagScan Flow::TagScanNow() const {
  TagScan scan;
  scan.seq = covered_seq_;
  for (const broker::ShardInfo& sh : stream_->ListShards()) {
    auto end = stream_->EndOffset(sh.index);
    if (end.ok()) scan.shards.emplace_back(sh.index, *end);
  }
  auto lower = [&scan](const TagPut& t) {
    for (auto& [shard, offset] : scan.shards) {
      if (shard == t.shard) {
        offset = std::min(offset, t.offset);
        return;
      }
    }
    scan.shards.emplace_back(t.shard, t.offset);
  };
  for (const TagPut& t : tag_puts_) lower(t);
  for (const TagPut& t : batch_tags_) lower(t);
  return scan;
}

void Flow::ReadTags(const TagScan& scan) {
  covered_seq_ = put_seq_ = std::max(put_seq_, scan.seq);
  // Per file: the newest position, and the newest one of its earlier content (a position the
  // newest does not continue: another fingerprint, or further on). A copytruncate's copy of that
  // content continues from the latter (AdoptOrphan), as from a checkpoint of it.
  struct Newest {
    uint64_t seq = 0;
    FileCheckpoint position;
    uint64_t before_seq = 0;
    FileCheckpoint before;
  };
  auto continues = [](const FileCheckpoint& later, const FileCheckpoint& earlier) {
    return later.offset >= earlier.offset && (later.fingerprint == earlier.fingerprint ||
                                              (earlier.fingerprint.len < later.fingerprint.len &&
                                               earlier.fingerprint.len < kFingerprintBytes));
  };
  std::unordered_map<FileId, Newest, FileIdHash> newest;
  broker::ReadBatch batch;
  broker::ReadLimits limits;
  limits.max_records = 10000;
  limits.max_bytes = 4 << 20;
  PositionTag tag;
  uint64_t scanned = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  Status failed = Status::Ok();
  for (const broker::ShardInfo& sh : stream_->ListShards()) {
    uint64_t at = 0;  // a shard made since the checkpoint: all of it
    for (const auto& [shard, offset] : scan.shards) {
      if (shard == sh.index) at = offset;
    }
    while (failed.ok()) {
      Status st = stream_->Read(sh.index, at, limits, &batch);
      if (st.code() == Code::kResourceExhausted && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));  // provisioned reads
        continue;
      }
      if (!st.ok()) {
        failed = st;
        break;
      }
      scanned += batch.records.size();
      for (const broker::RecordView& r : batch.records) {
        if (r.tag.empty() || !DecodePositionTag(r.tag, &tag)) continue;
        if (tag.flow_id != tag_flow_id_ || tag.seq <= scan.seq) continue;
        put_seq_ = std::max(put_seq_, tag.seq);
        for (const FileCheckpoint& c : tag.positions) {
          Newest& n = newest[c.id];
          if (tag.seq > n.seq) {
            if (n.seq != 0 && !continues(c, n.position) && n.seq > n.before_seq) {
              n.before_seq = n.seq;
              n.before = n.position;
            }
            n.seq = tag.seq;
            n.position = c;
          } else if (!continues(n.position, c) && tag.seq > n.before_seq) {
            n.before_seq = tag.seq;
            n.before = c;
          }
        }
      }
      if (batch.records.empty() || batch.next_offset <= at) break;
      at = batch.next_offset;
    }
  }
  if (!failed.ok()) {
    // The checkpoint alone then: records put since it may be put again (never lost).
    SLUICE_LOG(Warn, "cannot read the stream for positions past the checkpoint")
        .With("flow", opts_.name)
        .With("stream", stream_->name())
        .With("error", failed.ToString());
  }
  covered_seq_ = put_seq_;
  for (auto& [id, n] : newest) {
    auto it = restored_.find(id);
    if (it != restored_.end()) {
      n.position.path = it->second.path;
      // The checkpoint is not where the newest tag names: another content, which may live on in
      // a copy, or the same one further on (a put past the tag that left no tag), which the file
      // then adopts as the orphan of its content read furthest (AdoptOrphan).
      if (n.before_seq == 0 && !continues(n.position, it->second)) n.before = it->second;
    }
    if (n.before.fingerprint.len > 0 && !continues(n.position, n.before)) {
      n.before.path = n.position.path;
      AddOrphan(n.before);
    }
    restored_[id] = std::move(n.position);
  }
  if (!newest.empty()) {
    stats_.resumed_from_stream += newest.size();
    SLUICE_LOG(Info, "files resume where the stream holds them, past the checkpoint")
        .With("flow", opts_.name)
        .With("files", static_cast<uint64_t>(newest.size()))
        .With("records_scanned", scanned);
  }
}

}  // namespace sluice::agent
