#include "agent/tail/source_position.h"

#include <cstring>

#include "agent/tail/file_identity.h"

namespace sluice::agent {
namespace {

constexpr char kMagic[4] = {'S', 'L', 'P', '1'};

void Put(std::string* out, uint64_t v, size_t bytes) {
  char b[8];
  std::memcpy(b, &v, 8);  // little-endian hosts only, as the broker's format
  out->append(b, bytes);
}

uint64_t Get(const char* p, size_t bytes) {
  uint64_t v = 0;
  std::memcpy(&v, p, bytes);
  return v;
}

}  // namespace

uint64_t FlowTagId(std::string_view flow_name) { return Fnv1a64(flow_name); }

void EncodePositionTag(uint64_t flow_id, uint64_t seq, std::span<const FileCheckpoint> positions,
                       std::string* out) {
  const size_t n = std::min(positions.size(), kMaxTagPositions);
  out->clear();
  out->reserve(kPositionTagHeader + n * kPositionEntryBytes);
  out->append(kMagic, 4);
  Put(out, flow_id, 8);
  Put(out, seq, 8);
  Put(out, n, 2);
  for (size_t i = 0; i < n; ++i) {
    const FileCheckpoint& c = positions[i];
    Put(out, c.id.dev, 8);
    Put(out, c.id.ino, 8);
    Put(out, c.fingerprint.len, 4);
    Put(out, c.fingerprint.hash, 8);
    Put(out, c.offset, 8);
    Put(out, c.prefix_len, 4);
    Put(out, c.prefix_hash, 8);
  }
}

bool DecodePositionTag(std::string_view tag, PositionTag* out) {
  if (tag.size() < kPositionTagHeader || std::memcmp(tag.data(), kMagic, 4) != 0) return false;
  const char* p = tag.data();
  const size_t n = Get(p + 20, 2);
  if (n > kMaxTagPositions || tag.size() != kPositionTagHeader + n * kPositionEntryBytes) {
    return false;
  }
  out->flow_id = Get(p + 4, 8);
  out->seq = Get(p + 12, 8);
  out->positions.resize(n);
  p += kPositionTagHeader;
  for (size_t i = 0; i < n; ++i, p += kPositionEntryBytes) {
    FileCheckpoint& c = out->positions[i];
    c.path.clear();
    c.id = {Get(p, 8), Get(p + 8, 8)};
    c.fingerprint = {static_cast<uint32_t>(Get(p + 16, 4)), Get(p + 20, 8)};
    c.offset = Get(p + 28, 8);
    c.prefix_len = static_cast<uint32_t>(Get(p + 36, 4));
    c.prefix_hash = Get(p + 40, 8);
    if (c.prefix_len > c.offset || c.fingerprint.len > kFingerprintBytes) return false;
  }
  return true;
}

}  // namespace sluice::agent
