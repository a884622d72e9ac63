#include "agent/input/exec_source.h"

#include <signal.h>

#include <algorithm>
#include <vector>

#include "core/log.h"

namespace sluice::agent {
namespace {

constexpr size_t kReadSize = 64u << 10;
constexpr int64_t kMaxDelayMs = 30000;
constexpr int64_t kKillAfterMs = 5000;
constexpr size_t kStderrLineMax = 256;
constexpr int kStderrLinesPerWindow = 10;
constexpr int64_t kStderrWindowMs = 10000;

}  // namespace

Result<std::unique_ptr<Source>> ExecSource::Create(uv_loop_t* loop, const FlowOptions& opts,
                                                   std::unique_ptr<InputPublisher> publisher) {
  if (opts.exec.command.empty() || opts.exec.command[0].empty()) {
    return InvalidArgument("sources[" + opts.name + "]: exec needs a command");
  }
  InputPublisher* pub = publisher.get();
  std::unique_ptr<ExecSource> s(new ExecSource(loop, opts, std::move(publisher)));
  ASSIGN_OR_RETURN(s->lines_, LineInput::Create(opts, pub, opts.exec.command[0]));
  s->delay_ms_ = std::max<int64_t>(opts.exec.restart_delay.count(), 1);
  return std::unique_ptr<Source>(std::move(s));
}

Status ExecSource::Start() {
  publisher_->Start();
  publisher_->set_on_accepting([this] { Resume(); });
  buf_.resize(kReadSize);
  timer_ = NewHandle();
  uv_timer_init(loop_, &timer_->timer);
  timer_->timer.data = this;
  tick_ = NewHandle();
  uv_timer_init(loop_, &tick_->timer);
  tick_->timer.data = this;
  uv_timer_start(
      &tick_->timer,
      [](uv_timer_t* t) {
        auto* self = static_cast<ExecSource*>(t->data);
        self->lines_->FlushIfQuiet(static_cast<int64_t>(uv_now(self->loop_)));
      },
      250, 250);
  SLUICE_LOG(Info, "source started")
      .With("flow", opts_.name)
      .With("type", "exec")
      .With("command", opts_.exec.command[0]);
  Spawn();
  return Status::Ok();
}

void ExecSource::Spawn() {
  if (stopping()) return;
  std::vector<char*> argv;
  for (const std::string& a : opts_.exec.command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  out_ = NewHandle();
  uv_pipe_init(loop_, &out_->pipe, 0);
  err_ = NewHandle();
  uv_pipe_init(loop_, &err_->pipe, 0);
  uv_stdio_container_t stdio[3];
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[1].data.stream = &out_->stream;
  stdio[2].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[2].data.stream = &err_->stream;
  uv_process_options_t po{};
  po.file = argv[0];
  po.args = argv.data();
  po.stdio = stdio;
  po.stdio_count = 3;
  po.exit_cb = [](uv_process_t* p, int64_t status, int signal) {
    auto* self = static_cast<ExecSource*>(p->data);
    self->running_ = false;
    if (status != 0 || signal != 0) {
      SLUICE_LOG(Warn, "command exited")
          .With("flow", self->opts_.name)
          .With("status", status)
          .With("signal", signal);
    }
    self->CloseHandle(self->process_);
  };
  process_ = NewHandle();
  int rc = uv_spawn(loop_, &process_->process, &po);
  started_ms_ = static_cast<int64_t>(uv_now(loop_));
  ++runs_;
  if (rc != 0) {
    ++failed_starts_;
    SLUICE_LOG(Error, "cannot start the command; retrying")
        .With("flow", opts_.name)
        .With("command", opts_.exec.command[0])
        .With("error", uv_strerror(rc));
    CloseHandle(process_);
    CloseHandle(out_);
    CloseHandle(err_);
    return;  // the closes end the run
  }
  running_ = true;
  process_->process.data = this;
  out_->stream.data = this;
  err_->stream.data = this;
  Resume();
  uv_read_start(
      &err_->stream,
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        static char scratch[4096];
        (void)h;
        *buf = uv_buf_init(scratch, sizeof scratch);
      },
      [](uv_stream_t* st, ssize_t n, const uv_buf_t* buf) {
        auto* self = static_cast<ExecSource*>(st->data);
        if (n > 0) {
          self->LogStderr(std::string_view(buf->base, static_cast<size_t>(n)));
        } else if (n < 0) {
          self->CloseHandle(self->err_);
        }
      });
}

void ExecSource::Resume() {
  if (out_ == nullptr || out_->closing) return;
  paused_ = false;
  uv_read_start(
      &out_->stream,
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* self = static_cast<ExecSource*>(h->data);
        *buf = uv_buf_init(self->buf_.data(), static_cast<unsigned>(self->buf_.size()));
      },
      [](uv_stream_t* st, ssize_t n, const uv_buf_t*) {
        auto* self = static_cast<ExecSource*>(st->data);
        if (n > 0) {
          self->lines_->Feed(std::string_view(self->buf_.data(), static_cast<size_t>(n)));
          if (!self->publisher_->accepting()) {
            uv_read_stop(st);
            self->paused_ = true;
          }
        } else if (n < 0) {
          self->lines_->Flush();  // a last line without its newline
          self->CloseHandle(self->out_);
        }
      });
}

void ExecSource::LogStderr(std::string_view data) {
  // Lines, each cut at kStderrLineMax bytes; at most kStderrLinesPerWindow per window.
  for (char c : data) {
    if (c != '\n') {
      if (err_line_.size() < kStderrLineMax) err_line_ += c;
      continue;
    }
    const int64_t now = static_cast<int64_t>(uv_now(loop_));
    if (now - err_window_ms_ >= kStderrWindowMs) {
      if (err_suppressed_ > 0) {
        SLUICE_LOG(Warn, "command stderr lines not logged")
            .With("flow", opts_.name)
            .With("lines", err_suppressed_);
      }
      err_window_ms_ = now;
      err_logged_ = 0;
      err_suppressed_ = 0;
    }
    if (err_logged_ < kStderrLinesPerWindow) {
      ++err_logged_;
      SLUICE_LOG(Warn, "command stderr").With("flow", opts_.name).With("line", err_line_);
    } else {
      ++err_suppressed_;
    }
    err_line_.clear();
  }
}

void ExecSource::OnHandleClosed(UvHandle* h) {
  const bool run_handle = h == process_ || h == out_ || h == err_;
  if (h == process_) process_ = nullptr;
  if (h == out_) out_ = nullptr;
  if (h == err_) err_ = nullptr;
  if (h == timer_) timer_ = nullptr;
  if (h == tick_) tick_ = nullptr;
  if (!run_handle || process_ != nullptr || out_ != nullptr || err_ != nullptr) return;
  // The run is over: its output is framed.
  if (!err_line_.empty()) LogStderr("\n");
  if (stopping()) {
    CloseHandle(timer_);
    CloseHandle(tick_);
    return;
  }
  ScheduleNext();
}

void ExecSource::ScheduleNext() {
  const int64_t now = static_cast<int64_t>(uv_now(loop_));
  int64_t delay;
  if (opts_.exec.interval.count() > 0) {
    delay = std::max<int64_t>(0, started_ms_ + opts_.exec.interval.count() - now);
  } else {
    // A command that ran a while starts again after restart_delay; one that keeps exiting
    // soon after its start waits twice as long each time, up to 30 s.
    const int64_t base = std::max<int64_t>(opts_.exec.restart_delay.count(), 1);
    if (now - started_ms_ >= kMaxDelayMs) delay_ms_ = base;
    delay = delay_ms_;
    delay_ms_ = std::min(delay_ms_ * 2, std::max(kMaxDelayMs, base));
  }
  uv_timer_start(&timer_->timer, OnTimer, static_cast<uint64_t>(delay), 0);
}

void ExecSource::OnTimer(uv_timer_t* t) {
  auto* self = static_cast<ExecSource*>(t->data);
  if (self->stopping()) {
    if (self->process_ != nullptr && self->running_) {
      SLUICE_LOG(Warn, "command ignored SIGTERM; killing it").With("flow", self->opts_.name);
      uv_process_kill(&self->process_->process, SIGKILL);
    }
    return;
  }
  self->Spawn();
}

void ExecSource::StopReading() {
  if (process_ != nullptr && running_) {
    uv_process_kill(&process_->process, SIGTERM);
    // The pipes close at the child's exit (EOF); the timer kills a child that does not exit.
    uv_timer_start(&timer_->timer, OnTimer, kKillAfterMs, 0);
    if (paused_) Resume();  // read its last output while it exits
    // Closing the timer once everything else is closed: see OnHandleClosed.
    return;
  }
  CloseHandle(out_);
  CloseHandle(err_);
  CloseHandle(timer_);
  CloseHandle(tick_);
}

FlowStats ExecSource::stats() const {
  FlowStats s = publisher_->stats();
  s.files_open = running_ ? 1 : 0;
  s.restarts = runs_ > 0 ? runs_ - 1 : 0;
  return s;
}

}  // namespace sluice::agent
