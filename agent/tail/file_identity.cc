#include "agent/tail/file_identity.h"

#include <unistd.h>

#include <cerrno>

namespace sluice::agent {

uint64_t Fnv1a64(std::string_view data) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

Result<uint64_t> HashRange(int fd, uint64_t begin, uint64_t end) {
  if (end < begin) return InvalidArgument("hash range ends before it begins");
  char buf[4096];
  uint64_t h = 0xcbf29ce484222325ull;
  uint64_t pos = begin;
  while (pos < end) {
    size_t want = end - pos < sizeof(buf) ? end - pos : sizeof(buf);
    ssize_t n = pread(fd, buf, want, static_cast<off_t>(pos));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("pread", errno);
    }
    if (n == 0) return NotFound("file is shorter than " + std::to_string(end) + " bytes");
    for (ssize_t i = 0; i < n; ++i) {
      h ^= static_cast<unsigned char>(buf[i]);
      h *= 0x100000001b3ull;
    }
    pos += n;
  }
  return h;
}

Result<Fingerprint> ComputeFingerprint(int fd, uint64_t size) {
  Fingerprint fp;
  fp.len = static_cast<uint32_t>(size < kFingerprintBytes ? size : kFingerprintBytes);
  ASSIGN_OR_RETURN(fp.hash, HashRange(fd, 0, fp.len));
  return fp;
}

bool FingerprintMatches(int fd, uint64_t size, const Fingerprint& fp) {
  if (size < fp.len) return false;
  auto h = HashRange(fd, 0, fp.len);
  return h.ok() && *h == fp.hash;
}

}  // namespace sluice::agent
