#include "buffer/exec_transform.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "core/clock.h"
#include "core/log.h"

namespace sluice::buffer {

Result<std::unique_ptr<ExecTransform>> ExecTransform::Create(std::vector<std::string> argv,
                                                             std::string delivery,
                                                             std::chrono::milliseconds timeout,
                                                             int retries, size_t max_event_bytes) {
  if (argv.empty()) return InvalidArgument("transform.exec needs a command");
  std::unique_ptr<ExecTransform> t(new ExecTransform());
  t->argv_ = std::move(argv);
  t->delivery_ = std::move(delivery);
  t->timeout_ = timeout;
  t->retries_ = retries;
  t->max_event_bytes_ = std::max<size_t>(1, max_event_bytes);
  RETURN_IF_ERROR(t->Spawn());
  return t;
}

ExecTransform::~ExecTransform() { Kill(); }

Status ExecTransform::Spawn() {
  int to_child[2], from_child[2], err_child[2];
  if (::pipe2(to_child, O_CLOEXEC) != 0) return ErrnoError("pipe", errno);
  if (::pipe2(from_child, O_CLOEXEC) != 0) {
    ::close(to_child[0]);
    ::close(to_child[1]);
    return ErrnoError("pipe", errno);
  }
  if (::pipe2(err_child, O_CLOEXEC) != 0) {
    for (int fd : {to_child[0], to_child[1], from_child[0], from_child[1]}) ::close(fd);
    return ErrnoError("pipe", errno);
  }
  ::fcntl(err_child[0], F_SETFL, O_NONBLOCK);
  std::vector<char*> args;
  for (auto& a : argv_) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoError("fork", errno);
  if (pid == 0) {
    ::dup2(to_child[0], 0);
    ::dup2(from_child[1], 1);
    ::dup2(err_child[1], 2);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  ::close(err_child[1]);
  pid_ = pid;
  in_fd_ = to_child[1];
  out_fd_ = from_child[0];
  err_fd_ = err_child[0];
  pending_.clear();
  err_pending_.clear();
  return Status::Ok();
}

void ExecTransform::DrainStderr() {
  if (err_fd_ < 0) return;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(err_fd_, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    err_pending_.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = err_pending_.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string_view line(err_pending_.data() + start, nl - start);
      if (err_lines_ < kMaxStderrLines) {
        ++err_lines_;
        SLUICE_LOG(Warn, "transform stderr")
            .With("delivery", delivery_)
            .With("sink", sink_)
            .With("line", line);
      } else {
        ++err_dropped_;
      }
    }
    err_pending_.erase(0, start);
    if (err_pending_.size() > 4096) err_pending_.clear();  // a line without end: not kept
  }
}

void ExecTransform::Kill() {
  DrainStderr();
  if (in_fd_ >= 0) ::close(in_fd_);
  if (out_fd_ >= 0) ::close(out_fd_);
  if (err_fd_ >= 0) ::close(err_fd_);
  in_fd_ = out_fd_ = err_fd_ = -1;
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  pid_ = -1;
}

Status ExecTransform::Invoke(const std::string& request, std::string* answer) {
  if (pid_ < 0) RETURN_IF_ERROR(Spawn());
  if (err_dropped_ > 0) {
    SLUICE_LOG(Warn, "transform stderr lines not logged")
        .With("delivery", delivery_)
        .With("sink", sink_)
        .With("lines", err_dropped_);
    err_dropped_ = 0;
  }
  err_lines_ = 0;
  DrainStderr();
  int64_t deadline = Clock::Real()->MonotonicMs() + timeout_.count();
  size_t done = 0;
  while (done < request.size()) {
    pollfd p{in_fd_, POLLOUT, 0};
    int left = static_cast<int>(std::max<int64_t>(0, deadline - Clock::Real()->MonotonicMs()));
    if (::poll(&p, 1, left) <= 0) return Unavailable("transform timed out writing its input");
    ssize_t n = ::write(in_fd_, request.data() + done, request.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("write to transform", errno);
    done += static_cast<size_t>(n);
  }
  char buf[65536];
  while (true) {
    size_t nl = pending_.find('\n');
    if (nl != std::string::npos) {
      answer->assign(pending_, 0, nl);
      pending_.erase(0, nl + 1);
      DrainStderr();
      return Status::Ok();
    }
    if (pending_.size() > kMaxAnswerBytes) {
      return InvalidArgument("transform answer longer than " + std::to_string(kMaxAnswerBytes) +
                             " bytes without a newline");
    }
    pollfd p[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
    int left = static_cast<int>(std::max<int64_t>(0, deadline - Clock::Real()->MonotonicMs()));
    if (::poll(p, 2, left) <= 0) return Unavailable("transform timed out");
    if (p[1].revents != 0) DrainStderr();
    if (p[0].revents == 0) {
      if (p[1].revents & (POLLHUP | POLLERR)) err_fd_ = (::close(err_fd_), -1);
      continue;
    }
    ssize_t n = ::read(out_fd_, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Unavailable("transform process exited");
    pending_.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace sluice::buffer
