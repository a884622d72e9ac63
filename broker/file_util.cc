#include "broker/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace sluice::broker {

Status PwritevAll(int fd, std::span<const struct iovec> iov, uint64_t pos,
                  const std::string& what) {
  // Local copy of the current window so partial writes can advance into an iovec.
  constexpr size_t kWindow = 1024;  // IOV_MAX on Linux
  struct iovec window[kWindow];
  size_t i = 0;
  size_t skip = 0;  // bytes of iov[i] already written
  while (i < iov.size()) {
    size_t n = 0;
    for (size_t j = i; j < iov.size() && n < kWindow; ++j, ++n) window[n] = iov[j];
    window[0].iov_base = static_cast<char*>(window[0].iov_base) + skip;
    window[0].iov_len -= skip;
    ssize_t w = ::pwritev(fd, window, static_cast<int>(n), static_cast<off_t>(pos));
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write " + what, errno);
    }
    pos += static_cast<uint64_t>(w);
    size_t left = static_cast<size_t>(w);
    while (i < iov.size() && left >= iov[i].iov_len - skip) {
      left -= iov[i].iov_len - skip;
      skip = 0;
      ++i;
    }
    skip += left;
  }
  return Status::Ok();
}

Status PreadUpTo(int fd, char* data, size_t n, uint64_t pos, size_t* got, const std::string& what) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, data + done, n - done, static_cast<off_t>(pos + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("read " + what, errno);
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  *got = done;
  return Status::Ok();
}

Result<std::string> ReadWholeFile(const std::filesystem::path& path) {
  std::string out;
  RETURN_IF_ERROR(ReadFileInto(path, &out));
  return out;
}

Status ReadFileInto(const std::filesystem::path& path, std::string* out) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return NotFound(path.string() + ": no such file");
    return ErrnoError("open " + path.string(), errno);
  }
  off_t size = ::lseek(fd.get(), 0, SEEK_END);
  if (size < 0) return ErrnoError("seek " + path.string(), errno);
  out->assign(static_cast<size_t>(size), '\0');
  size_t got = 0;
  RETURN_IF_ERROR(PreadUpTo(fd.get(), out->data(), out->size(), 0, &got, path.string()));
  out->resize(got);
  return Status::Ok();
}

}  // namespace sluice::broker
