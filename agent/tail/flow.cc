#include "agent/tail/flow.h"

#include <unistd.h>

#include <random>

#include "agent/tail/flow_file.h"
#include "agent/tail/source_position.h"
#include "core/log.h"

namespace sluice::agent {

std::string JoinPath(const std::string& dir, std::string_view name) {
  if (dir.empty() || dir == ".") return std::string(name);
  std::string s = dir;
  if (s.back() != '/') s += '/';
  s.append(name);
  return s;
}

Result<std::unique_ptr<Flow>> Flow::Create(uv_loop_t* loop, const FlowOptions& opts,
                                           broker::Stream* stream,
                                           const std::filesystem::path& checkpoint_dir,
                                           Clock* clock) {
  const std::string where = "sources[" + opts.name + "]";
  if (loop == nullptr || stream == nullptr || clock == nullptr) {
    return InvalidArgument(where + ": loop, stream and clock are required");
  }
  if (opts.name.empty()) return InvalidArgument("sources: a flow needs a name");
  if (opts.read_block_size < 4096 || opts.read_block_size > (64u << 20)) {
    return InvalidArgument(where + ": read_block_size must be 4KiB..64MiB");
  }
  if (opts.batch_max_records < 1 || opts.batch_max_bytes < 1) {
    return InvalidArgument(where + ": batch limits must be positive");
  }
  if (opts.max_record_size > (1u << 20)) {
    return InvalidArgument(where + ": max_record_size is at most 1MiB (the stream's limit)");
  }
  if (opts.max_open_files < 1) return InvalidArgument(where + ": max_open_files must be >= 1");
  std::unique_ptr<Flow> f(new Flow(loop, opts, stream, checkpoint_dir, clock));
  auto globs = PathGlobs::Create(opts.paths, opts.exclude);
  if (!globs.ok()) return globs.status().Annotate(where);
  f->globs_ = std::move(*globs);
  if (!opts.multiline_start_pattern.empty()) {
    auto re = Regex::Compile(opts.multiline_start_pattern);
    if (!re.ok()) return re.status().Annotate(where + ": multiline.start_pattern");
    f->start_pattern_ = std::move(*re);
  }
  f->framer_options_.max_record_size = opts.max_record_size;
  f->framer_options_.truncated_record_terminator = opts.truncated_record_terminator;
  f->framer_options_.skip_header_lines = opts.skip_header_lines;
  f->framer_options_.start_pattern = f->start_pattern_.get();
  if (!opts.multiline_preset.empty()) {
    auto preset = ParseMultilinePreset(opts.multiline_preset);
    if (!preset) {
      return InvalidArgument(where + ": multiline.preset: \"" + opts.multiline_preset +
                             "\" is not a preset (java, python, go, docker, cri)");
    }
    f->framer_options_.preset = *preset;
  }
  RETURN_IF_ERROR(Framer::Validate(f->framer_options_).Annotate(where));
  auto proc = Processor::Create(opts.processing);
  if (!proc.ok()) return proc.status().Annotate(where);
  f->processor_ = std::move(*proc);
  auto keyer =
      PartitionKeyer::Create(opts.partition_key, opts.partition_key_arg,
                             std::random_device{}() | (uint64_t{std::random_device{}()} << 32));
  if (!keyer.ok()) return keyer.status().Annotate(where);
  f->keyer_ = std::move(*keyer);
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) == 0) f->host_ = host;
  return f;
}

Flow::Flow(uv_loop_t* loop, const FlowOptions& opts, broker::Stream* stream,
           const std::filesystem::path& checkpoint_dir, Clock* clock)
    : loop_(loop),
      opts_(opts),
      stream_(stream),
      hold_(stream->Hold("source " + opts.name, "")),
      clock_(clock),
      store_(checkpoint_dir, opts.name),
      errors_root_(opts.errors_path.empty() ? checkpoint_dir / "errors"
                                            : std::filesystem::path(opts.errors_path)),
      putter_(stream, opts.name, opts.batch_max_records, opts.batch_max_bytes),
      tag_flow_id_(FlowTagId(opts.name)) {
  putter_.set_spread(opts.partition_key == PartitionKeyKind::kRandom);
}

Flow::~Flow() {
  stream_->Release(hold_);
  for (auto& [serial, f] : files_) {
    if (f->fd >= 0) close(f->fd);
  }
}

Status Flow::Start() {
  if (started_) return InvalidArgument("flow " + opts_.name + " is already started");
  auto loaded = store_.Load();
  if (!loaded.ok()) return loaded.status();
  had_checkpoints_ = std::filesystem::exists(store_.path());
  for (FileCheckpoint& c : loaded->files) restored_[c.id] = std::move(c);
  // Puts after the checkpoint was written carry where they ended in each file: a kill -9 since
  // then must not have them read and put again.
  if (loaded->has_tags) ReadTags(loaded->tags);
  block_.resize(opts_.read_block_size);
  arena_.reserve(opts_.batch_max_bytes + opts_.read_block_size + opts_.max_record_size);
  // The next pass runs from an idle handle, not a 0 ms timer: libuv (before 1.45) runs a timer
  // re-armed at 0 ms again within the same loop iteration, so a long file would be read to its end
  // before the loop polls its sockets (the admin endpoint and API would not answer meanwhile).
  uv_idle_init(loop_, &kick_);
  kick_.data = this;
  ++open_handles_;
  uv_timer_init(loop_, &tick_);
  uv_timer_init(loop_, &rescan_);
  uv_timer_init(loop_, &retry_);
  for (uv_timer_t* t : {&tick_, &rescan_, &retry_}) {
    t->data = this;
    ++open_handles_;
  }
  started_ = true;
  last_checkpoint_ms_ = clock_->MonotonicMs();
  Rescan(/*initial=*/true);
  restored_.clear();  // checkpoints of files not found again are dropped here
  // Written now, not on the timer: once it exists, initial_position no longer applies, so a crash
  // in the first second cannot make a restart skip what was written meanwhile.
  Status written = WriteCheckpoint();
  if (!written.ok()) {
    ++stats_.checkpoint_errors;
    SLUICE_LOG(Error, "checkpoint write failed; retrying")
        .With("flow", opts_.name)
        .With("error", written.ToString());
    checkpoint_dirty_ = true;
  }
  int64_t tick = std::clamp<int64_t>(opts_.flush_timeout.count() / 4, 20, 250);
  uv_timer_start(&tick_, OnTick, tick, tick);
  int64_t rescan = std::max<int64_t>(opts_.rescan_interval.count(), 100);
  uv_timer_start(&rescan_, OnRescan, rescan, rescan);
  SLUICE_LOG(Info, "flow started")
      .With("flow", opts_.name)
      .With("files", static_cast<uint64_t>(files_.size()))
      .With("stream", stream_->name());
  Kick();
  return Status::Ok();
}

void Flow::Stop(std::function<void()> on_closed) {
  if (!started_ || stopping_) {
    if (!started_ && on_closed) on_closed();
    return;
  }
  stopping_ = true;
  on_closed_ = std::move(on_closed);
  if (!batch_.empty()) FlushBatch();
  Status st = stream_->Sync();
  if (!st.ok()) SLUICE_LOG(Warn, "stream sync at stop failed").With("error", st.ToString());
  AdvanceDurable();
  st = WriteCheckpoint();
  if (!st.ok()) SLUICE_LOG(Error, "final checkpoint failed").With("error", st.ToString());
  for (auto& [serial, f] : files_) CloseFd(f.get());
  for (auto& [dir, w] : watches_) {
    uv_fs_event_stop(&w->handle);
    CloseHandle(reinterpret_cast<uv_handle_t*>(&w->handle));
  }
  watches_.clear();
  uv_idle_stop(&kick_);
  CloseHandle(reinterpret_cast<uv_handle_t*>(&kick_));
  for (uv_timer_t* t : {&tick_, &rescan_, &retry_}) {
    uv_timer_stop(t);
    CloseHandle(reinterpret_cast<uv_handle_t*>(t));
  }
}

void Flow::CloseHandle(uv_handle_t* h) {
  if (!uv_is_closing(h)) uv_close(h, OnClosed);
}

void Flow::OnClosed(uv_handle_t* h) {
  Flow* self;
  if (h->type == UV_FS_EVENT) {
    Watch* w = static_cast<Watch*>(h->data);
    self = w->flow;
    delete w;
  } else {
    self = static_cast<Flow*>(h->data);
  }
  if (--self->open_handles_ == 0 && self->stopping_ && self->on_closed_) {
    auto cb = std::move(self->on_closed_);
    cb();
  }
}

void Flow::Kick() {
  if (stopping_ || kick_armed_ || !started_) return;
  kick_armed_ = true;
  uv_idle_start(&kick_, OnKick);
}

void Flow::OnKick(uv_idle_t* h) {
  Flow* self = static_cast<Flow*>(h->data);
  uv_idle_stop(h);
  self->kick_armed_ = false;
  self->Pass();
}

void Flow::OnRescan(uv_timer_t* t) {
  Flow* self = static_cast<Flow*>(t->data);
  // The periodic rescan is also the safety net for missed events: it marks every matched file
  // whose size changed; files no glob reaches any more (rotated, draining) are looked at too.
  self->Rescan(false);
  for (auto& [serial, f] : self->files_) {
    if (f->rotated && !f->dirty && !f->finished) {
      f->dirty = true;
      self->dirty_.push_back(serial);
    }
  }
  self->Kick();
}

void Flow::OnTick(uv_timer_t* t) {
  Flow* self = static_cast<Flow*>(t->data);
  if (self->stopping_) return;
  const int64_t now = self->clock_->MonotonicMs();
  const bool poll =
      self->polling_ && now - self->last_poll_ms_ >= self->opts_.poll_interval.count();
  if (poll) self->last_poll_ms_ = now;
  for (auto& [serial, f] : self->files_) {
    if (poll && !f->dirty && !f->finished) {
      f->dirty = true;
      self->dirty_.push_back(serial);
    }
  }
  self->FinishFiles();
  if (self->rescan_wanted_) self->Rescan(false);
  self->Pass();
}

void Flow::FinishFiles() {
  // MaybeFinish may forget a file (erase it from files_): those are collected and done after.
  std::vector<uint64_t> finished;
  for (auto& [serial, f] : files_) {
    if (f->finished) {
      finished.push_back(serial);
    } else if (f->fd >= 0) {
      MaybeFinish(f.get());
      if (f->finished) finished.push_back(serial);
    }
  }
  for (uint64_t s : finished) {
    auto it = files_.find(s);
    if (it != files_.end()) MaybeFinish(it->second.get());
  }
}

void Flow::ScheduleRetry() {
  uv_timer_start(&retry_, OnRetry, PutRetryDelayMs(retry_attempt_++), 0);
}

void Flow::OnRetry(uv_timer_t* t) {
  Flow* self = static_cast<Flow*>(t->data);
  if (self->stopping_) return;
  if (self->FlushBatch()) self->Kick();
}

void Flow::PollNow() {
  if (!started_ || stopping_) return;
  Rescan(false);
  for (auto& [serial, f] : files_) {
    if (!f->dirty && !f->finished) {
      f->dirty = true;
      dirty_.push_back(serial);
    }
  }
  if (refused_) FlushBatch();
  FinishFiles();
  Pass();
}

void Flow::Pass() {
  if (stopping_ || !started_) return;
  const int64_t now = clock_->MonotonicMs();
  if (rescan_wanted_ && now - last_rescan_ms_ >= 100) Rescan(false);
  if (!refused_) {
    uint64_t budget = 16u << 20;  // bytes per pass, so one busy file cannot hold the loop
    std::vector<uint64_t> list;
    list.swap(dirty_);
    size_t i = 0;
    for (; i < list.size(); ++i) {
      auto it = files_.find(list[i]);
      if (it == files_.end()) continue;
      File* f = it->second.get();
      f->dirty = false;
      if (!ReadFile(f, &budget)) {  // it put itself back on dirty_
        ++i;
        break;
      }
    }
    // Not reached this pass: keep them for the next. Their flag is still set (it is cleared only
    // when a file is read), which is why it cannot tell whether they are on dirty_: they are not.
    for (; i < list.size(); ++i) {
      auto it = files_.find(list[i]);
      if (it != files_.end()) {
        it->second->dirty = true;
        dirty_.push_back(list[i]);
      }
    }
    if (!refused_ && !batch_.empty()) FlushBatch();
  }
  AdvanceDurable();
  MaybeCheckpoint();
  if (!dirty_.empty() && !refused_) Kick();
}

FlowStats Flow::stats() const {
  FlowStats s = stats_;
  s.files_tracked = files_.size();
  s.files_open = static_cast<uint64_t>(open_count_);
  s.partition_key_fallbacks = keyer_->fallbacks();
  if (processor_) s.steps = processor_->stats();
  s.bytes_behind = 0;
  s.records_truncated = 0;
  for (const auto& [serial, f] : files_) {
    if (f->size > f->durable_offset) s.bytes_behind += f->size - f->durable_offset;
    if (f->framer) s.records_truncated += f->framer->truncated_records();
  }
  s.records_truncated += stats_.records_truncated;
  s.checkpoint_writes = store_.writes();
  return s;
}

}  // namespace sluice::agent
