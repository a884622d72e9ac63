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

Status WriteFileAtomically(const std::filesystem::path& path, std::string_view content,
                           Durability durability, std::string_view tmp_name) {
  const bool sync = durability == Durability::kSynced;
  std::filesystem::path tmp =
      path.parent_path() /
      (tmp_name.empty() ? ".tmp-" + path.filename().string() : std::string(tmp_name));
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
    if (!fd.valid()) return ErrnoError("create " + tmp.string(), errno);
    Status st = PwriteAll(fd.get(), content.data(), content.size(), 0, tmp.string());
    if (st.ok() && sync && ::fsync(fd.get()) != 0) st = ErrnoError("fsync " + tmp.string(), errno);
    if (!st.ok()) {
      ::unlink(tmp.c_str());
      return st;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoError("rename " + tmp.string(), err);
  }
  return sync ? FsyncDir(path.parent_path()) : Status::Ok();
}

}  // namespace sluice
