// The log of one shard: its segments in offset order, appends (one write per batch), reads into a
// reusable buffer, waits for new data, group-commit syncs, retention and provisioned limits.
//
// THREADING: thread-safe; one mutex per shard. Reads hold the lock only to find where to start;
// the pread and the framing run outside it on a segment kept alive by shared_ptr.
// OWNERSHIP: owns its segments and their files under its directory.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "broker/broker.h"
#include "broker/segment.h"
#include "broker/token_bucket.h"
#include "core/clock.h"

namespace sluice::broker {

struct ShardLogOptions {
  uint64_t segment_bytes = 64ull << 20;
  // Sealed segments and the directory entry of their successor are made durable by the next
  // Sync() (the group commit), never by the appending thread: a roll must not stall the tailer
  // for a whole segment's fdatasync. False (fsync: never): they are not synced at all.
  bool sync_on_roll = true;
  bool provisioned = false;                    // enforce Kinesis per-shard limits
  const Clock* clock = nullptr;                // not owned
  std::atomic<int64_t>* disk_usage = nullptr;  // not owned; the broker's byte count
  // Master keys for sealed segments (opening them, and sealing new ones while `encryption` is
  // enabled).
  std::shared_ptr<const Keyring> keyring;
  StreamEncryption encryption;
  // Tests only: runs on a reader's thread, without the lock, when a read has consumed a segment
  // up to the size it took of it and is about to look for more.
  std::function<void()> on_read_at_segment_end;
};

class ShardLog final {
 public:
  // Opens the shard directory (creating it if needed), recovers its last segment and rebuilds
  // stale indexes. Offsets continue at least from `min_next_offset`.
  static Result<std::unique_ptr<ShardLog>> Open(const std::filesystem::path& dir,
                                                const ShardLogOptions& options,
                                                uint64_t min_next_offset);
  ~ShardLog();

  // Appends records[which[i]] for every i; results go to (*out)[which[i]], whose statuses the
  // caller sets to ok beforehand. Records refused by provisioned limits get kResourceExhausted;
  // an I/O error fails the records of this batch.
  // `tag` (may be empty) goes with the frame of records[which.back()], and only when no record
  // before it was refused; the caller checks every outcome before taking it as written.
  void Append(std::span<const PutRecordIn> records, std::span<const uint32_t> which,
              int64_t arrival_ms, uint32_t shard_index, std::vector<PutRecordOut>* out,
              std::string_view tag = {});
  Status Read(uint64_t from, const ReadLimits& limits, ReadBatch* out);
  uint64_t EndOffset() const;
  uint64_t StartOffset() const;
  uint64_t OffsetAtTimestamp(int64_t ts_ms) const;
  bool WaitForData(uint64_t offset, std::chrono::milliseconds timeout);
  // No more appends; waiters wake up. Returns the end offset.
  uint64_t Close();
  bool closed() const;
  // Turns Kinesis's per-shard limits on or off (UpdateStreamMode); takes effect with the next
  // append or read.
  void SetProvisioned(bool provisioned);
  // Changes the keyring or the encryption (StartStreamEncryption, a keyring reload): the next
  // append starts a new segment when the active one is not sealed as they now say.
  void SetSealing(std::shared_ptr<const Keyring> keyring, const StreamEncryption& encryption);
  // The master key ids of the sealed segments it holds (a keyring must keep them to open them).
  std::vector<std::string> MasterKeysInUse() const;
  // Makes everything appended so far durable: fdatasync of every segment sealed since the last
  // sync and of the directory that gained their successors, then of the active segment if it
  // was written to. Blocks on the disk; called by the group commit, off the event loop.
  Status Sync();
  // Removes whole segments whose newest record is older than cutoff_ms. For an open shard the
  // active segment is first rolled when it is entirely expired. Returns bytes freed.
  uint64_t DropExpired(int64_t cutoff_ms);
  // Whether every record ever appended is gone (so a closed shard can leave the listings).
  bool Empty() const;
  uint64_t DiskBytes() const;
  // Removes every file (after the shard expired).
  void RemoveAll();

 private:
  ShardLog(std::filesystem::path dir, const ShardLogOptions& options);
  // Seals the active segment and starts the next one (sealed or plain, as the options say). An
  // active segment without records is replaced instead (same base).
  Status RollLocked();
  // The master key new segments are sealed under; null: plain.
  const Keyring::Key* MasterLocked() const;
  // Whether the active segment is not sealed as the options now say.
  bool NeedsResealLocked() const;
  std::shared_ptr<Segment> SegmentForLocked(uint64_t offset, size_t* index) const;

  std::filesystem::path dir_;
  ShardLogOptions opt_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Segment>> segments_;
  uint64_t next_offset_ = 0;
  uint64_t bytes_ = 0;
  bool closed_ = false;
  bool dirty_ = false;
  // Sealed since the last Sync() and not yet fdatasynced; dir_unsynced_: dir_ gained a segment
  // file whose entry is not yet on disk. Both only with sync_on_roll.
  std::vector<std::shared_ptr<Segment>> unsynced_sealed_;
  bool dir_unsynced_ = false;
  // Reused per batch: frame heads and small records are copied into wbuf_; large data is
  // written from the caller's memory. pieces_ lists the byte stream in order.
  struct Piece {
    const char* ext;  // nullptr: wbuf_[off, off + len)
    size_t off;
    size_t len;
  };
  // Not a std::string: growing one zero-fills what the frames overwrite at once.
  std::unique_ptr<char[]> wbuf_;
  size_t wbuf_cap_ = 0;
  std::vector<Piece> pieces_;
  std::vector<struct iovec> iov_;
  std::vector<UnitMeta> metas_;
  // Seals chunks for the active segment when it is sealed (keyed by its data key).
  std::unique_ptr<GcmContext> seal_gcm_;
  std::shared_ptr<Segment> seal_seg_;
  std::vector<SealPiece> seal_pieces_;
  TokenBucket write_bytes_{1 << 20, 1 << 20};
  TokenBucket write_records_{1000, 1000};
  TokenBucket read_bytes_{2 << 20, 2 << 20};
  TokenBucket read_calls_{5, 5};
};

}  // namespace sluice::broker
