#include "core/fd.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace sluice {

void UniqueFd::Reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Status PwriteAll(int fd, const char* data, size_t n, uint64_t pos, const std::string& what) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, data, n, static_cast<off_t>(pos));
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write " + what, errno);
    }
    data += w;
    n -= static_cast<size_t>(w);
    pos += static_cast<uint64_t>(w);
  }
  return Status::Ok();
}

Status FsyncDir(const std::filesystem::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open dir " + dir.string(), errno);
  if (::fsync(fd.get()) != 0) return ErrnoError("fsync dir " + dir.string(), errno);
  return Status::Ok();
}

}  // namespace sluice
