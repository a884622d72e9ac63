#include "agent/input/stdin_source.h"

#include <unistd.h>

#include <cstring>

#include "core/log.h"

namespace sluice::agent {
namespace {

constexpr size_t kReadSize = 256u << 10;

}  // namespace

Result<std::unique_ptr<Source>> StdinSource::Create(uv_loop_t* loop, const FlowOptions& opts,
                                                    std::unique_ptr<InputPublisher> publisher) {
  InputPublisher* pub = publisher.get();
  std::unique_ptr<StdinSource> s(new StdinSource(loop, opts, std::move(publisher)));
  ASSIGN_OR_RETURN(s->lines_, LineInput::Create(opts, pub, "stdin"));
  return std::unique_ptr<Source>(std::move(s));
}

StdinSource::~StdinSource() {
  if (fd_ >= 0 && stream_ == nullptr) close(fd_);
}

Status StdinSource::Start() {
  fd_ = dup(0);
  if (fd_ < 0) return IoError(std::string("stdin: ") + std::strerror(errno));
  publisher_->Start();
  publisher_->set_on_accepting([this] { Resume(); });
  tick_ = NewHandle();
  uv_timer_init(loop_, &tick_->timer);
  tick_->timer.data = this;
  uv_timer_start(
      &tick_->timer,
      [](uv_timer_t* t) {
        auto* self = static_cast<StdinSource*>(t->data);
        self->lines_->FlushIfQuiet(static_cast<int64_t>(uv_now(self->loop_)));
      },
      250, 250);
  uv_handle_type type = uv_guess_handle(fd_);
  int rc = 0;
  if (type == UV_TTY) {
    stream_ = NewHandle();
    rc = uv_tty_init(loop_, &stream_->tty, fd_, 1);
  } else if (type == UV_NAMED_PIPE || type == UV_TCP || type == UV_UDP) {
    stream_ = NewHandle();
    rc = uv_pipe_init(loop_, &stream_->pipe, 0);
    if (rc == 0) rc = uv_pipe_open(&stream_->pipe, fd_);
  } else {
    file_mode_ = true;
  }
  if (rc != 0) return IoError(std::string("stdin: ") + uv_strerror(rc));
  SLUICE_LOG(Info, "source started")
      .With("flow", opts_.name)
      .With("type", "stdin")
      .With("input", file_mode_ ? "file" : uv_handle_type_name(type));
  if (file_mode_) {
    buf_.resize(kReadSize);
    ReadFile();
    return Status::Ok();
  }
  stream_->stream.data = this;
  Resume();
  return Status::Ok();
}

void StdinSource::Resume() {
  if (stopping() || ended_) return;
  paused_ = false;
  if (file_mode_) {
    if (!reading_file_) ReadFile();
    return;
  }
  uv_read_start(
      &stream_->stream,
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* self = static_cast<StdinSource*>(h->data);
        self->buf_.resize(kReadSize);
        *buf = uv_buf_init(self->buf_.data(), static_cast<unsigned>(self->buf_.size()));
      },
      [](uv_stream_t* st, ssize_t n, const uv_buf_t*) {
        auto* self = static_cast<StdinSource*>(st->data);
        if (n > 0) {
          self->lines_->Feed(std::string_view(self->buf_.data(), static_cast<size_t>(n)));
          if (!self->publisher_->accepting()) {
            uv_read_stop(st);
            self->paused_ = true;
          }
        } else if (n < 0) {
          if (n != UV_EOF) {
            SLUICE_LOG(Warn, "stdin read failed; treated as its end")
                .With("flow", self->opts_.name)
                .With("error", uv_strerror(static_cast<int>(n)));
          }
          uv_read_stop(st);
          self->AtEnd();
        }
      });
}

void StdinSource::ReadFile() {
  if (stopping() || ended_ || paused_) return;
  reading_file_ = true;
  read_req_.data = this;
  uv_buf_t buf = uv_buf_init(buf_.data(), static_cast<unsigned>(buf_.size()));
  uv_fs_read(loop_, &read_req_, fd_, &buf, 1, -1, [](uv_fs_t* req) {
    auto* self = static_cast<StdinSource*>(req->data);
    ssize_t n = req->result;
    uv_fs_req_cleanup(req);
    self->reading_file_ = false;
    if (self->stopping()) {
      self->StopReading();  // the stop waited for this read
      return;
    }
    if (n > 0) {
      self->lines_->Feed(std::string_view(self->buf_.data(), static_cast<size_t>(n)));
      if (!self->publisher_->accepting()) {
        self->paused_ = true;
        return;
      }
      self->ReadFile();
      return;
    }
    if (n < 0) {
      SLUICE_LOG(Warn, "stdin read failed; treated as its end")
          .With("flow", self->opts_.name)
          .With("error", uv_strerror(static_cast<int>(n)));
    }
    self->AtEnd();
  });
}

void StdinSource::AtEnd() {
  if (ended_) return;
  ended_ = true;
  lines_->Flush();
  publisher_->FlushAndSync();
  SLUICE_LOG(Info, "stdin ended; what it held is put and synced")
      .With("flow", opts_.name)
      .With("records", publisher_->stats().records_put);
}

void StdinSource::StopReading() {
  if (reading_file_) return;     // the read's callback comes back here
  if (!ended_) lines_->Flush();  // an unterminated last line read so far
  if (stream_ != nullptr) {
    CloseHandle(stream_);  // closes fd_
  } else if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  CloseHandle(tick_);
  tick_ = nullptr;
}

void StdinSource::OnHandleClosed(UvHandle* h) {
  if (h == stream_) {
    stream_ = nullptr;
    fd_ = -1;
  }
}

}  // namespace sluice::agent
