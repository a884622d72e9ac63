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

// A sealed (encrypted) segment: version 2, flag kSegFlagSealed, and after the base:
//   header_len u16 (the whole header) | key id length u8 | key id | salt u32 |
//   wrapped data key (nonce 12, the AES-256 key sealed 32, tag 16; AAD: header bytes up to the
//   wrapped key)
// Then chunks instead of frames. A chunk seals the frames of (part of) one appended batch:
//   masked_crc u32 | sealed_len u32 | first offset u64 | last offset u64 | arrival_ms i64 |
//   records u32 | chunk flags u32 | AES-256-GCM ciphertext of the frames | tag (16)
// sealed_len counts the ciphertext and the tag; the CRC32C covers chunk bytes [4, end) as a
// frame's does, so recovery needs no key. Nonce: salt u32 | first offset u64; AAD: chunk bytes
// [4, kChunkHeaderSize). The plaintext is v1 frames back to back, their CRC fields 0 (the tag
// covers them). Chunk flags: kChunkFlagWriteEnd or 0 (every other bit 0).
// A plain segment whose every append ends in a frame with kFrameFlagWriteEnd (set by the
// versions that write the flag): recovery then drops frames after the last such frame even when
// no frame has it (the segment's first append cut short). Versions before it write flags 0.
inline constexpr uint16_t kSegFlagWriteEnds = 2;
// A sealed segment with kSegFlagWriteEnds (flags 3) marks the last chunk of every append with
// kChunkFlagWriteEnd, and recovers as a plain one with the flag does, by chunk. Sealed segments
// written before it have flags 1 and chunk flags 0; versions before it refuse flags 3.
inline constexpr uint32_t kChunkFlagWriteEnd = 1;
inline constexpr uint16_t kSealedSegmentVersion = 2;
inline constexpr uint16_t kSegFlagSealed = 1;
inline constexpr size_t kSegHeaderLenAt = 16;
inline constexpr size_t kSegKeyIdLenAt = 18;
inline constexpr size_t kSegKeyIdAt = 19;
inline constexpr size_t kSegSaltBytes = 4;
inline constexpr size_t kSegWrappedKeyBytes = 12 + 32 + 16;
inline constexpr size_t SealedHeaderSize(size_t key_id_len) {
  return kSegKeyIdAt + key_id_len + kSegSaltBytes + kSegWrappedKeyBytes;
}
inline constexpr size_t kChunkCrcAt = 0;
inline constexpr size_t kChunkLenAt = 4;
inline constexpr size_t kChunkFirstAt = 8;
inline constexpr size_t kChunkLastAt = 16;
inline constexpr size_t kChunkArrivalAt = 24;
inline constexpr size_t kChunkRecordsAt = 32;
inline constexpr size_t kChunkFlagsAt = 36;
inline constexpr size_t kChunkHeaderSize = 40;
static_assert(kChunkFlagsAt + 4 == kChunkHeaderSize);
inline constexpr size_t kChunkTagBytes = 16;
// A batch is cut into chunks of about this much plaintext: a reader decrypts whole chunks, so
// this bounds what it decrypts for one record it wants.
inline constexpr size_t kChunkTargetBytes = 256 << 10;

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
// With kFrameFlagTag, a producer's tag follows (after the event time, if any): tag_len u16, then
// tag_len bytes (1..kMaxTagBytes), counted by body_len. The broker does not read it: a producer
// (the agent's file sources) records where its put ends in its own input, in the same write as
// the records, and reads it back at start. Readers of records never see it.
inline constexpr uint16_t kFrameFlagTag = 2;
inline constexpr size_t kTagLenBytes = 2;
// kFrameFlagWriteEnd: the last frame of one append (one batch's records of a shard, written by
// one pwritev loop). SIGKILL can end a write early between pages, leaving a batch's first frames
// whole and its last one torn; recovery cuts such a torn tail back to the end of the last frame
// so marked, so a batch is in the log whole or not at all (none of it was acknowledged). A
// segment without any (written before the flag) is cut frame by frame, as before it. Readers
// ignore the bit.
inline constexpr uint16_t kFrameFlagWriteEnd = 4;
inline constexpr size_t kMaxTagBytes = 32 << 10;

inline constexpr size_t kMaxKeyBytes = 1024;       // 256 characters of up to 4 UTF-8 bytes
inline constexpr size_t kMaxDataBytes = 1u << 20;  // 1 MiB
inline constexpr size_t kMaxBodyBytes =
    kMaxKeyBytes + kEventTimeBytes + kTagLenBytes + kMaxTagBytes + kMaxDataBytes;
inline constexpr size_t kMaxFrameBytes = kFrameHeaderSize + kMaxBodyBytes;
static_assert(kMaxBodyBytes < (1ull << 32));
// A chunk closes before it would pass kChunkTargetBytes, unless it holds one frame.
inline constexpr size_t kMaxChunkSealedBytes = kChunkTargetBytes + kMaxFrameBytes + kChunkTagBytes;
inline constexpr size_t kMaxChunkBytes = kChunkHeaderSize + kMaxChunkSealedBytes;

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
