// File identity: device + inode, confirmed by a fingerprint (a hash of the file's first bytes) so
// that a reused inode is not taken for the file that had it before. Also the hash of the bytes
// just before a checkpoint offset, which a restore checks before it resumes there.
//
// THREADING: free functions, no state; safe anywhere.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/status.h"

namespace sluice::agent {

struct FileId {
  uint64_t dev = 0;
  uint64_t ino = 0;
  bool operator==(const FileId&) const = default;
};

struct FileIdHash {
  size_t operator()(const FileId& id) const { return id.dev * 0x9E3779B97F4A7C15ull ^ id.ino; }
};

// Hash of the first `len` bytes (len < the configured size while the file is shorter than it).
struct Fingerprint {
  uint32_t len = 0;
  uint64_t hash = 0;
  bool operator==(const Fingerprint&) const = default;
};

inline constexpr uint32_t kFingerprintBytes = 1024;
inline constexpr uint32_t kPrefixCheckBytes = 256;  // bytes before a checkpoint that are hashed
// The fewest first bytes of a content a copy is recognised by (a file truncated while shorter
// than a whole fingerprint): fewer could be any file's first line.
inline constexpr uint32_t kMinOrphanFingerprint = 128;

// FNV-1a, 64 bits: small inputs only (fingerprints, checkpoint prefixes).
uint64_t Fnv1a64(std::string_view data);

// Hashes bytes [begin, end) of `fd` with pread. kIoError on a read error, kNotFound if the file is
// shorter than `end`.
Result<uint64_t> HashRange(int fd, uint64_t begin, uint64_t end);

// The fingerprint of min(size, kFingerprintBytes) first bytes.
Result<Fingerprint> ComputeFingerprint(int fd, uint64_t size);

// True if the file behind `fd` (of `size` bytes) starts with the bytes `fp` was taken from.
bool FingerprintMatches(int fd, uint64_t size, const Fingerprint& fp);

}  // namespace sluice::agent
