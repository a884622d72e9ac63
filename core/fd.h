// Owning file descriptors and the few POSIX file calls every layer needs done right: whole-buffer
// pwrite (resumed after short writes and EINTR), fsync of a directory (so a created or renamed
// entry survives a power cut) and atomic replacement of a file. Thread-safe (no shared state).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

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

enum class Durability { kSynced, kUnsynced };
// Replaces `path` with `content` atomically: writes a temporary file beside it (".tmp-<name>",
// 0640; readers listing a directory skip ".tmp-" names), fsyncs it, renames it over `path` and
// fsyncs the directory. kUnsynced skips both fsyncs: the rename stays atomic for readers, but a
// power cut may leave the old file, an empty one or none; only for files that validate
// themselves on load. The directory must exist. Every file of the project written whole
// (metadata, checkpoints, error output objects, the file sink's objects) is written here.
// `tmp_name` replaces the temporary's name (a file name in the same directory, starting ".tmp-")
// for writers that may write one path from several threads or processes at once: each gives a
// name of its own, so that none renames a temporary another is still writing.
Status WriteFileAtomically(const std::filesystem::path& path, std::string_view content,
                           Durability durability = Durability::kSynced,
                           std::string_view tmp_name = {});

}  // namespace sluice
