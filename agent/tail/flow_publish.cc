// Flow: putting batches into the stream, back-off on refusal, durable checkpoints.
#include <algorithm>

#include "agent/tail/flow.h"
#include "agent/tail/flow_file.h"
#include "buffer/error_output.h"
#include "buffer/object_naming.h"
#include "core/log.h"

namespace sluice::agent {
namespace {

// The stream's PutBatch limits (Kinesis PutRecords).
constexpr size_t kMaxPutRecords = 500;
constexpr uint64_t kMaxPutBytes = 5u << 20;

}  // namespace

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
  // Puts in chunks within the stream's limits (records and bytes per PutBatch).
  const uint64_t max_bytes = std::min<uint64_t>(opts_.batch_max_bytes, kMaxPutBytes);
  const size_t max_records = std::min<size_t>(opts_.batch_max_records, kMaxPutRecords);
  bool all_ok = true;
  Code failure = Code::kOk;
  std::string message;
  size_t i = 0;
  while (all_ok && i < batch_.size()) {
    put_in_.clear();
    put_index_.clear();
    uint64_t bytes = 0;
    for (; i < batch_.size() && put_in_.size() < max_records; ++i) {
      const Entry& e = batch_[i];
      if (e.done) continue;
      if (!put_in_.empty() && bytes + e.key_len + e.data_len > max_bytes) break;
      bytes += e.key_len + e.data_len;
      broker::PutRecordIn in;
      in.partition_key = std::string_view(arena_.data() + e.key_off, e.key_len);
      in.data = std::string_view(arena_.data() + e.data_off, e.data_len);
      if (e.has_hash_key) in.explicit_hash_key = e.hash_key;
      put_in_.push_back(in);
      put_index_.push_back(i);
    }
    if (put_in_.empty()) break;
    put_out_.clear();
    Status st = stream_->PutBatch(put_in_, &put_out_);
    if (st.code() == Code::kInvalidArgument) {
      // Our records break the stream's rules: a bug here, not a state that retrying can change.
      SLUICE_LOG(Error, "stream rejected a batch as invalid; its records are dropped")
          .With("flow", opts_.name)
          .With("records", static_cast<uint64_t>(put_in_.size()))
          .With("error", st.ToString());
      stats_.put_errors += put_in_.size();
      for (size_t k : put_index_) batch_[k].done = true;
      continue;
    }
    if (!st.ok()) {
      all_ok = false;
      failure = st.code();
      message = st.ToString();
      break;
    }
    for (size_t k = 0; k < put_index_.size(); ++k) {
      Entry& e = batch_[put_index_[k]];
      if (k < put_out_.size() && put_out_[k].status.ok()) {
        e.done = true;
        ++stats_.records_put;
        stats_.bytes_put += e.data_len;
      } else if (all_ok) {
        all_ok = false;
        failure = k < put_out_.size() ? put_out_[k].status.code() : Code::kInternal;
        message = k < put_out_.size() ? put_out_[k].status.ToString() : "missing outcome";
      }
    }
  }
  if (!all_ok) {
    // The records put before the refusal are in the stream: checkpoint them like a whole batch,
    // or a stop while refused would have them read and put again after the restart.
    size_t done = 0;
    while (done < batch_.size() && batch_[done].done) ++done;
    if (done > 0) CompletePrefix(done);
    if (failure == Code::kResourceExhausted) {
      ++stats_.put_throttled;
    } else {
      ++stats_.put_errors;
    }
    if (!refused_) {
      SLUICE_LOG(Warn, "stream refused records; pausing reads and retrying")
          .With("flow", opts_.name)
          .With("stream", stream_->name())
          .With("error", message);
    }
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
  for (size_t i = batch_.size(); i-- > 0;) {
    const Entry& e = batch_[i];
    auto it = files_.find(e.file);
    if (it == files_.end()) continue;
    File* f = it->second.get();
    if (f->batched == 0) continue;  // already taken from a later entry
    f->batched = 0;
    f->put_offset = e.end_offset;
    Pending p{gen, f->serial, e.end_offset, 0, 0};
    if (f->fd >= 0) {
      uint32_t len = static_cast<uint32_t>(std::min<uint64_t>(kPrefixCheckBytes, e.end_offset));
      auto h = HashRange(f->fd, e.end_offset - len, e.end_offset);
      if (h.ok()) {
        p.prefix_len = len;
        p.prefix_hash = *h;
      }
    }
    pending_.push_back(p);
  }
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
    // Records of one file are in file order: its last one in the prefix carries the offset.
    if (std::find(prefix_files_.begin(), prefix_files_.end(), e.file) != prefix_files_.end()) {
      continue;
    }
    prefix_files_.push_back(e.file);
    f->put_offset = e.end_offset;
    Pending p{gen, f->serial, e.end_offset, 0, 0};
    if (f->fd >= 0) {
      uint32_t len = static_cast<uint32_t>(std::min<uint64_t>(kPrefixCheckBytes, e.end_offset));
      auto h = HashRange(f->fd, e.end_offset - len, e.end_offset);
      if (h.ok()) {
        p.prefix_len = len;
        p.prefix_hash = *h;
      }
    }
    pending_.push_back(p);
  }
  // The records' bytes stay in arena_ until the rest of the batch is put.
  batch_.erase(batch_.begin(), batch_.begin() + static_cast<std::ptrdiff_t>(count));
}

void Flow::AdvanceDurable() {
  if (pending_.empty()) return;
  const uint64_t durable = stream_->DurableGeneration();
  while (!pending_.empty() && pending_.front().generation <= durable) {
    const Pending& p = pending_.front();
    auto it = files_.find(p.file);
    if (it != files_.end()) {
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
  RETURN_IF_ERROR(store_.Save(entries));
  checkpoint_dirty_ = false;
  return Status::Ok();
}

}  // namespace sluice::agent
