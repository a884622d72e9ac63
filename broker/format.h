// On-disk constants of the broker's segment store, pinned by static_asserts. broker/FORMAT.md
// describes every byte; change both together and bump the version.
//
// All integers are little-endian. THREADING: constants and pure functions only.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace sluice::broker::format {

static_assert(std::endian::native == std::endian::little, "the store is written little-endian");

// Segment file "<20-digit first offset>.log": a header, then record frames back to back.
inline constexpr uint32_t kSegmentMagic = 0x47534C53;  // "SLSG"
inline constexpr uint16_t kSegmentVersion = 1;
inline constexpr size_t kSegmentHeaderSize = 16;  // magic u32, version u16, flags u16, base u64
inline constexpr size_t kSegMagicAt = 0;
inline constexpr size_t kSegVersionAt = 4;
inline constexpr size_t kSegFlagsAt = 6;
inline constexpr size_t kSegBaseAt = 8;
static_assert(kSegBaseAt + 8 == kSegmentHeaderSize);

// Record frame: header then partition key then data.
//   masked_crc u32 | body_len u32 | offset u64 | arrival_ms i64 | key_len u16 | flags u16
// With kFrameFlagEventTime, the key is followed by the record's event time (i64, ms since the
// epoch: the time the log line itself gives, set by the agent's timestamp step), then the data;
// body_len counts those 8 bytes. The CRC32C covers frame bytes [4, kFrameHeaderSize + body_len):
// everything after itself.
inline constexpr size_t kFrameCrcAt = 0;
inline constexpr size_t kFrameBodyLenAt = 4;
inline constexpr size_t kFrameOffsetAt = 8;
inline constexpr size_t kFrameArrivalAt = 16;
inline constexpr size_t kFrameKeyLenAt = 24;
inline constexpr size_t kFrameFlagsAt = 26;
inline constexpr size_t kFrameHeaderSize = 28;
static_assert(kFrameFlagsAt + 2 == kFrameHeaderSize);
inline constexpr uint16_t kFrameFlagEventTime = 1;
inline constexpr size_t kEventTimeBytes = 8;

inline constexpr size_t kMaxKeyBytes = 1024;       // 256 characters of up to 4 UTF-8 bytes
inline constexpr size_t kMaxDataBytes = 1u << 20;  // 1 MiB
inline constexpr size_t kMaxBodyBytes = kMaxKeyBytes + kEventTimeBytes + kMaxDataBytes;
inline constexpr size_t kMaxFrameBytes = kFrameHeaderSize + kMaxBodyBytes;
static_assert(kMaxBodyBytes < (1ull << 32));

// Sparse offset index "<base>.index" and time index "<base>.timeindex": a header, then entries.
// One entry is added to both whenever kIndexIntervalBytes of log have passed since the last.
//   header: magic u32 | version u16 | kind u16 | base u64 | covered_log_bytes u64 |
//           entry_count u32 | masked crc32c of the entries u32
inline constexpr uint32_t kIndexMagic = 0x58494C53;  // "SLIX"
inline constexpr uint16_t kIndexVersion = 1;
inline constexpr uint16_t kIndexKindOffset = 1;
inline constexpr uint16_t kIndexKindTime = 2;
inline constexpr size_t kIndexHeaderSize = 32;
inline constexpr size_t kIdxMagicAt = 0;
inline constexpr size_t kIdxVersionAt = 4;
inline constexpr size_t kIdxKindAt = 6;
inline constexpr size_t kIdxBaseAt = 8;
inline constexpr size_t kIdxCoveredAt = 16;
inline constexpr size_t kIdxCountAt = 24;
inline constexpr size_t kIdxCrcAt = 28;
static_assert(kIdxCrcAt + 4 == kIndexHeaderSize);
// Offset index entry: relative offset u32 | file position u32.
inline constexpr size_t kOffsetEntrySize = 8;
// Time index entry: max arrival ms of every earlier record in the segment i64 (INT64_MIN when
// none) | relative offset u32 | reserved u32 (zero).
inline constexpr size_t kTimeEntrySize = 16;
inline constexpr size_t kIndexIntervalBytes = 4096;

// Index entries hold u32 file positions and relative offsets: a segment rolls before either
// could overflow, whatever segment size is configured.
inline constexpr uint64_t kMaxSegmentBytes = 3ull << 30;
inline constexpr uint64_t kMaxSegmentRecords = 1ull << 31;
static_assert(kMaxSegmentBytes + (8ull << 20) < (1ull << 32), "a batch past the limit must fit");

inline void Put16(char* p, uint16_t v) { std::memcpy(p, &v, 2); }
inline void Put32(char* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline void Put64(char* p, uint64_t v) { std::memcpy(p, &v, 8); }
inline uint16_t Get16(const char* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t Get32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t Get64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

}  // namespace sluice::broker::format
