// The batch journal: before a batch is sent, its identity (per-shard offset ranges, the oldest
// arrival time, the object key) is written durably to state_dir; it is removed once the batch
// is delivered or spilled and the checkpoints moved. After a crash, every journal entry left
// is replayed: the same records are read again and sent under the same object key, so an object
// sink never holds a duplicate object. An object about to be written to the error output is
// added to the entry first (AddSpill), and the replay spills it again rather than delivering it.
//
// File: <state_dir>/batch-<worker>.json, one per worker (a worker has at most one batch in
// flight): a header line "sluice-journal <bytes> <crc32c>" and the entry as JSON, then a frame
// "sluice-spill <bytes> <crc32c>" and JSON per object spilled since; overwritten in place and
// fdatasynced (one sync per batch; the directory is synced only when the file is
// created). Clearing empties it. A torn entry (a crash inside Record) fails its CRC and is
// ignored: its batch was never sent.
// THREADING: a worker uses its own slot; Pending() is for recovery before workers start.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/status.h"

namespace sluice::buffer {

struct ShardRange {
  uint32_t shard = 0;
  uint64_t first = 0;  // inclusive
  uint64_t last = 0;   // inclusive
};

// A part of the batch (an object, by its key) written to the error output, recorded before it
// was written: a replay spills it again under the same error key rather than delivering it, so
// after a crash it is in the error output once and never in the sink too.
struct SpilledPart {
  std::string object_key;
  int attempts = 0;
  std::string code, message;
};

struct JournalEntry {
  int worker = 0;
  std::string object_key;  // the object key (object sinks) or request id (record sinks)
  std::string error_key;   // the error output key, should the batch be spilled
  int64_t oldest_arrival_ms = 0;
  uint64_t records = 0;
  std::vector<ShardRange> ranges;
  // A shared source's own name for the plan's first record (kinesis: "<sequence>:<sub>"), for
  // a reader that finds the plan without a checkpoint before it; empty when none.
  std::string source_from = {};
  std::vector<SpilledPart> spilled = {};  // object sinks; empty for almost every batch
  // Not journaled: set when the batch is a replay (of the journal, or of a shared source's
  // plan), whose object an upload before the crash may have stored.
  bool replay = false;
};

std::string EncodeJournalEntry(const JournalEntry& e);
Result<JournalEntry> DecodeJournalEntry(std::string_view json);

class BatchJournal final {
 public:
  explicit BatchJournal(std::filesystem::path dir) : dir_(std::move(dir)) {}
  Status Record(const JournalEntry& entry);
  // Adds `part` to the entry in `worker`'s slot (appended to its file and fdatasynced: a torn
  // append is ignored, the entry stays whole; a small file's append needs no new block, so it
  // is written on a full disk too). Pending() returns it in the entry's `spilled`.
  Status AddSpill(int worker, const SpilledPart& part);
  Status Clear(int worker);
  // Every entry left by a previous run, any worker count.
  Result<std::vector<JournalEntry>> Pending() const;

 private:
  std::filesystem::path PathOf(int worker) const;
  std::filesystem::path dir_;
};

}  // namespace sluice::buffer
