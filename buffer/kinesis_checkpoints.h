// The kinesis delivery source's checkpoints: per shard, the last record delivered (its sequence
// number and, inside a KPL aggregated record, its sub-sequence number) or the shard's end, and
// the plan of the batch being sent from there.
//
// File: <state_dir>/kinesis-checkpoints.json, written whole and atomically (temporary, fsync,
// rename, directory fsync) at each checkpoint and each plan:
//   {"shards":[{"id":"shardId-000000000001","sequence":"4959...","sub":-1,"end":false,
//               "plan":"<EncodeJournalEntry JSON>"}]}
// Offsets are this process's own (0, 1, 2... per shard in fetch order, from the checkpoint), so
// a plan's range is kept relative to its checkpoint: its first record is the one right after
// it (offset 0 after a restart) and `last` is its record count - 1.
//
// THREADING: plain data and pure functions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "buffer/batch_journal.h"
#include "core/status.h"

namespace sluice::buffer {

inline constexpr std::string_view kKinesisCheckpointFile = "kinesis-checkpoints.json";

struct KinesisCheckpoint {
  std::string sequence;  // the last record delivered; "" when none (and not `end`)
  // Within the aggregated record `sequence`: the last user record delivered. -1: the whole
  // record (a plain one, or an aggregate delivered to its last user record).
  int64_t sub = -1;
  bool end = false;  // SHARD_END: a closed shard read and delivered to its end
  // The batch being sent from here, ranges[0] = {0, 0, records - 1}; nullopt when none.
  std::optional<JournalEntry> plan;
};

using KinesisCheckpoints = std::map<std::string, KinesisCheckpoint, std::less<>>;  // by shard id

std::string EncodeKinesisCheckpoints(const KinesisCheckpoints& checkpoints);
Result<KinesisCheckpoints> DecodeKinesisCheckpoints(std::string_view json);

// An absent file is no checkpoints; an unreadable or malformed one is an error naming it.
Result<KinesisCheckpoints> ReadKinesisCheckpoints(const std::filesystem::path& state_dir);
Status WriteKinesisCheckpoints(const std::filesystem::path& state_dir,
                               const KinesisCheckpoints& checkpoints);

}  // namespace sluice::buffer
