// The `exec` transform: a long-lived child process, one JSON event per line on its stdin and one
// answer per line on its stdout (transform.h has the contract). A failed or timed out invocation
// kills the child; the next one starts it again. Its stderr is logged in the daemon's format.
//
// THREADING: one ExecTransform per delivery worker; not thread-safe.
#pragma once

#include <sys/types.h>

#include "buffer/transform.h"

namespace sluice::buffer {

class ExecTransform final : public Transform {
 public:
  static Result<std::unique_ptr<ExecTransform>> Create(std::vector<std::string> argv,
                                                       std::string delivery,
                                                       std::chrono::milliseconds timeout,
                                                       int retries,
                                                       size_t max_event_bytes = 1u << 20);
  ~ExecTransform() override;

 private:
  ExecTransform() = default;
  Status Spawn();
  void Kill();
  Status Invoke(const std::string& request, std::string* answer) override;
  void Reset() override { Kill(); }
  // Reads what the child wrote to its standard error (non-blocking) and logs each whole line at
  // warn, in the daemon's format with the delivery named; at most kMaxStderrLines an invocation,
  // the others counted.
  void DrainStderr();

  static constexpr size_t kMaxAnswerBytes = 16u << 20;  // an answer line past it fails
  static constexpr int kMaxStderrLines = 20;

  std::vector<std::string> argv_;
  pid_t pid_ = -1;
  int in_fd_ = -1;           // child's stdin
  int out_fd_ = -1;          // child's stdout
  int err_fd_ = -1;          // child's stderr (non-blocking)
  std::string pending_;      // bytes read past the last answer line
  std::string err_pending_;  // stderr bytes past the last whole line
  int err_lines_ = 0;        // logged in this invocation
  uint64_t err_dropped_ = 0;
};

}  // namespace sluice::buffer
