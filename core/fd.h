// Owning file descriptors and the few POSIX file calls every layer needs done right: whole-buffer
// pwrite (resumed after short writes and EINTR) and fsync of a directory (so a created or renamed
// entry survives a power cut). Thread-safe (no shared state).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "core/status.h"

namespace sluice {

// OWNERSHIP: closes its descriptor when destroyed or reset.
class UniqueFd final {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Reset();

 private:
  int fd_ = -1;
};

// Writes all n bytes at pos; `what` names the file in errors.
Status PwriteAll(int fd, const char* data, size_t n, uint64_t pos, const std::string& what);
Status FsyncDir(const std::filesystem::path& dir);

}  // namespace sluice
