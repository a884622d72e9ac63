// Small POSIX file helpers for the broker: an owning fd, whole-buffer pread/pwrite, atomic
// replacement of a file (write, fsync, rename, fsync dir). Thread-safe (no shared state).
#pragma once

#include <sys/uio.h>

#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "core/status.h"

namespace sluice::broker {

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

// Writes every byte of iov at pos (pwritev, resumed after short writes, IOV_MAX at a time).
Status PwritevAll(int fd, std::span<const struct iovec> iov, uint64_t pos, const std::string& what);
Status PwriteAll(int fd, const char* data, size_t n, uint64_t pos, const std::string& what);
// Reads up to n bytes at pos; *got receives how many (short only at end of file).
Status PreadUpTo(int fd, char* data, size_t n, uint64_t pos, size_t* got, const std::string& what);
Status FsyncDir(const std::filesystem::path& dir);
enum class Durability { kSynced, kUnsynced };
// Writes `content` to path.tmp, fsyncs it, renames it over `path`, fsyncs the directory.
// kUnsynced skips both fsyncs: the rename stays atomic for readers, but a power cut may leave
// the old file, an empty one or none; only for files that validate themselves on load.
Status WriteFileAtomically(const std::filesystem::path& path, std::string_view content,
                           Durability durability = Durability::kSynced);
Result<std::string> ReadWholeFile(const std::filesystem::path& path);
// Reads the whole file into *out (reusing its storage); kNotFound when it does not exist.
Status ReadFileInto(const std::filesystem::path& path, std::string* out);

}  // namespace sluice::broker
