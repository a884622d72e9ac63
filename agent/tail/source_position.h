// Source positions: where a put of a file source's records ends in each of its files, carried by
// the put itself as a producer tag (broker::PutTag). The broker writes the tag with the batch's
// last record in the same write, so after a kill -9 the stream holds a file's records exactly up
// to the position its last tag names. At start the flow reads its tags back from where its
// checkpoint file says (CheckpointStore's TagScan) and resumes each file from the newest.
//
// Tag layout (little-endian): magic "SLP1" | flow id u64 (FlowTagId) | put number u64 (strictly
// increasing per flow, across restarts) | count u16 | count entries of 48 bytes: dev u64 |
// ino u64 | fingerprint length u32 | fingerprint hash u64 | offset u64 | prefix length u32 |
// prefix hash u64 (as a checkpoint entry has them).
//
// THREADING: free functions, no state.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agent/tail/checkpoint_store.h"

namespace sluice::agent {

inline constexpr size_t kPositionTagHeader = 4 + 8 + 8 + 2;
inline constexpr size_t kPositionEntryBytes = 48;
// Files one tag can name (a tag is at most 32 KiB).
inline constexpr size_t kMaxTagPositions = 600;

// The id of a flow's tags: a hash of its name (two flows of one daemon have distinct names).
uint64_t FlowTagId(std::string_view flow_name);

// Replaces *out with the tag of put number `seq` naming `positions` (at most kMaxTagPositions;
// `path` is not carried).
void EncodePositionTag(uint64_t flow_id, uint64_t seq, std::span<const FileCheckpoint> positions,
                       std::string* out);

struct PositionTag {
  uint64_t flow_id = 0;
  uint64_t seq = 0;
  std::vector<FileCheckpoint> positions;
};
// False when `tag` is not a position tag or is malformed.
bool DecodePositionTag(std::string_view tag, PositionTag* out);

}  // namespace sluice::agent
