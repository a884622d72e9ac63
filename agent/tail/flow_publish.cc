// Flow: putting batches into the stream, back-off on refusal, durable checkpoints.
#include <algorithm>

#include "agent/tail/flow.h"
#include "agent/tail/flow_file.h"
#include "buffer/error_output.h"
#include "buffer/object_naming.h"
#include "core/log.h"

namespace sluice::agent {
bool Flow::BatchFull() const {
  return batch_.size() >= static_cast<size_t>(opts_.batch_max_records) ||
         arena_.size() >= opts_.batch_max_bytes || arena_.size() >= opts_.max_buffer_bytes;
}

Status Flow::WriteErrorObject() {
  const int64_t now = clock_->NowMs();
  auto hour = buffer::FormatTimestamp("yyyy/MM/dd/HH", now);
  std::string key = "processing-failed/" + (hour.ok() ? *hour + "/" : std::string()) +
                    buffer::ObjectName(opts_.name, 1, now, buffer::StableId(error_seed_));
  RETURN_IF_ERROR(buffer::WriteObjectFile(errors_root_, key, error_lines_));
  stats_.error_output_records += error_records_;
  error_unlogged_ += error_records_;
  if (error_logged_ms_ == 0 || clock_->MonotonicMs() - error_logged_ms_ >= 10000) {
    SLUICE_LOG(Warn, "unparsed lines sent to the source's error output")
        .With("flow", opts_.name)
        .With("records", error_unlogged_)
        .With("path", (errors_root_ / key).string());
    error_logged_ms_ = clock_->MonotonicMs();
    error_unlogged_ = 0;
  }
  error_lines_.clear();
  error_records_ = 0;
  return Status::Ok();
}

bool Flow::FlushBatch() {
  if (batch_.empty()) {
    refused_ = false;
    return true;
  }
  if (error_records_ > 0) {
    // The error output first: the checkpoint must not pass a line that is nowhere.
    Status st = WriteErrorObject();
    if (!st.ok()) {
      if (!refused_) {
        SLUICE_LOG(Error, "cannot write the source's error output; pausing reads and retrying")
            .With("flow", opts_.name)
            .With("error", st.ToString());
      }
      ++stats_.error_output_failures;
      refused_ = true;
      ScheduleRetry();
      return false;
    }
  }
  PutOutcome put = putter_.Put(arena_, batch_, &stats_, this);
  if (!put.all_ok) {
    // The records put before the refusal are in the stream: checkpoint them like a whole batch,
    // or a stop while refused would have them read and put again after the restart.
    size_t done = 0;
    while (done < batch_.size() && batch_[done].done) ++done;
    if (done > 0) CompletePrefix(done);
    putter_.NoteRefusal(put, refused_, &stats_);
    refused_ = true;
    ScheduleRetry();
    return false;
  }
  if (refused_) {
    SLUICE_LOG(Info, "stream accepts records again").With("flow", opts_.name);
  }
  refused_ = false;
  retry_attempt_ = 0;
  CompleteBatch();
  return true;
}

void Flow::CompleteBatch() {
  const uint64_t gen = stream_->WriteGeneration();
  // Records of one file are in file order: the last one of each file carries its new offset.
  uint64_t last_file = UINT64_MAX;
  uint32_t last_epoch = 0;
  for (size_t i = batch_.size(); i-- > 0;) {
    const Entry& e = batch_[i];
    // Runs of one file's content: only their last entry matters.
    if (e.file == last_file && e.epoch == last_epoch) continue;
    last_file = e.file;
    last_epoch = e.epoch;
    auto it = files_.find(e.file);
    if (it == files_.end()) continue;
    File* f = it->second.get();
    if (e.epoch != f->epoch) {
      // Of a content truncated since: for its copies (Continued), not the file's new content.
      f->batched = 0;
      pending_.push_back({gen, f->serial, e.end_offset, 0, 0, 0, e.epoch});
      continue;
    }
    if (f->batched == 0) continue;  // already taken from a later entry
    f->batched = 0;
    f->put_offset = e.end_offset;
    Pending p{gen, f->serial, e.end_offset, 0, 0, 0, f->epoch};
    PrefixAt(f, e.end_offset, &p.prefix_len, &p.prefix_hash);
    f->hashed_end = UINT64_MAX;  // the next put hashes afresh
    pending_.push_back(p);
  }
  TakeBatchTags(gen);
  // Copies set to go on past records of this batch: durable with it. One read on from there in
  // this batch has its position from its last entry, pushed above: this one, older, is dropped
  // (applied after it, it would move the checkpoint back; a kill would then read again what
  // the stream holds).
  for (Pending p : after_batch_) {
    if (ReadOnInBatch(p, batch_.size())) continue;
    p.generation = gen;
    pending_.push_back(p);
  }
  after_batch_.clear();
  batch_.clear();
  arena_.clear();
}

void Flow::CompletePrefix(size_t count) {
  const uint64_t gen = stream_->WriteGeneration();
  prefix_files_.clear();
  for (size_t i = count; i-- > 0;) {
    const Entry& e = batch_[i];
    auto it = files_.find(e.file);
    if (it == files_.end()) continue;
    File* f = it->second.get();
    if (f->batched > 0) --f->batched;
    if (e.epoch != f->epoch) {
      // Of a content truncated since: for its copies (Continued). Its last entry in the prefix
      // carries the offset; the run before it adds nothing.
      const bool taken = !pending_.empty() && pending_.back().generation == gen &&
                         pending_.back().file == f->serial && pending_.back().epoch == e.epoch;
      if (!taken) pending_.push_back({gen, f->serial, e.end_offset, 0, 0, 0, e.epoch});
      continue;
    }
    // Records of one file are in file order: its last one in the prefix carries the offset.
    if (std::find(prefix_files_.begin(), prefix_files_.end(), e.file) != prefix_files_.end()) {
      continue;
    }
    prefix_files_.push_back(e.file);
    f->put_offset = e.end_offset;
    Pending p{gen, f->serial, e.end_offset, 0, 0, 0, f->epoch};
    PrefixAt(f, e.end_offset, &p.prefix_len, &p.prefix_hash);
    f->hashed_end = UINT64_MAX;
    pending_.push_back(p);
  }
  // A put that went in may have named entries past the prefix (a file's entries on one shard,
  // put, behind an entry on another, refused), which the checkpoint does not have yet. Counted
  // covered, a kill would resume such a file from its checkpoint and put those entries again
  // (campaign trial 697): the tags then stay with the batch (batch_tags_) until all of it is
  // in, and the restart reads them (TagScanNow keeps the scan before them).
  bool put_past_prefix = false;
  for (size_t i = count; i < batch_.size() && !put_past_prefix; ++i) {
    put_past_prefix = batch_[i].done;
  }
  if (!put_past_prefix) TakeBatchTags(gen);
  // Moves superseded by an entry of the prefix are dropped (as in CompleteBatch); the others
  // count their index in what is left of the batch.
  std::erase_if(after_batch_, [&](const Pending& p) { return ReadOnInBatch(p, count); });
  for (Pending& p : after_batch_) p.in_batch = p.in_batch > count ? p.in_batch - count : 0;
  // The records' bytes stay in arena_ until the rest of the batch is put.
  batch_.erase(batch_.begin(), batch_.begin() + static_cast<std::ptrdiff_t>(count));
}

bool Flow::ReadOnInBatch(const Pending& p, size_t end) const {
  for (size_t i = p.in_batch; i < end; ++i) {
    if (batch_[i].file == p.file && batch_[i].epoch == p.epoch) return true;
  }
  return false;
}

void Flow::AdvanceDurable() {
  if (pending_.empty() && tag_puts_.empty()) return;
  const uint64_t durable = stream_->DurableGeneration();
  while (!tag_puts_.empty() && tag_puts_.front().generation <= durable) {
    covered_seq_ = tag_puts_.front().seq;
    tag_puts_.pop_front();
    checkpoint_dirty_ = true;
  }
  while (!pending_.empty() && pending_.front().generation <= durable) {
    const Pending& p = pending_.front();
    auto it = files_.find(p.file);
    if (it == files_.end() || it->second->epoch != p.epoch) {
      Continued(p);  // of a content truncated (or a file let go) since
    } else {
      File* f = it->second.get();
      f->durable_offset = p.offset;
      f->prefix_len = p.prefix_len;
      f->prefix_hash = p.prefix_hash;
      checkpoint_dirty_ = true;
    }
    pending_.pop_front();
  }
}

void Flow::MaybeCheckpoint() {
  if (!checkpoint_dirty_) return;
  const int64_t now = clock_->MonotonicMs();
  if (now - last_checkpoint_ms_ < opts_.checkpoint_interval.count()) return;
  Status st = WriteCheckpoint();
  if (!st.ok()) {
    ++stats_.checkpoint_errors;
    SLUICE_LOG(Error, "checkpoint write failed; retrying")
        .With("flow", opts_.name)
        .With("error", st.ToString());
  }
}

Status Flow::WriteCheckpoint() {
  std::vector<FileCheckpoint> entries;
  entries.reserve(files_.size());
  for (const auto& [serial, f] : files_) {
    // A held copy has no position of its own: after a restart it is matched again, to its
    // original or to the original's checkpoint.
    if (f->copy_of != 0) continue;
    FileCheckpoint c;
    c.path = f->display_path;
    c.id = f->id;
    c.fingerprint = f->fingerprint;
    c.offset = f->durable_offset;
    c.prefix_len = f->prefix_len;
    c.prefix_hash = f->prefix_hash;
    entries.push_back(std::move(c));
  }
  last_checkpoint_ms_ = clock_->MonotonicMs();
  const TagScan scan = TagScanNow();
  RETURN_IF_ERROR(store_.Save(entries, &scan));
  checkpoint_dirty_ = false;
  return Status::Ok();
}

}  // namespace sluice::agent
