// The embedded broker: durable, sharded streams with Kinesis Data Streams semantics.
//
// This header is the in-process interface used by the agent (puts), the delivery streams
// (consumer reads and checkpoints) and the Kinesis API server. It knows nothing of files being
// tailed, sinks or HTTP.
//
// THREADING: every method is thread-safe. Appends normally come from the loop thread and reads
// from delivery worker threads; each shard has its own lock, so readers of one shard never block
// writers of another. Nothing here blocks on the network; appends write to the page cache and
// durability is reached by group commit (see Stream::DurableGeneration).
//
// OWNERSHIP: the Broker owns its Streams; a Stream* stays valid until DeleteStream or the Broker
// is destroyed. Record bytes returned by reads live in the ReadBatch that holds them.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/hash_key.h"
#include "core/keyring.h"
#include "core/status.h"

namespace sluice::broker {

class IteratorCodec;  // broker/iterator.h

enum class FsyncPolicy { kAlways, kInterval, kNever };
enum class CapacityMode { kUnlimited, kProvisioned };

// Encryption at rest (Kinesis StartStreamEncryption). While enabled, every new segment is sealed
// with AES-256-GCM under a data key of its own, wrapped by a master key of the broker's keyring
// (BrokerOptions::keyring); segments written before stay as they are until retention removes
// them. See broker/FORMAT.md.
struct StreamEncryption {
  bool enabled = false;
  std::string key_id;  // the master key's id in the keyring; empty: the keyring's primary (last)
};

struct StreamOptions {
  std::string name;
  int shards = 1;
  int64_t retention_hours = 24;  // 24..8760
  FsyncPolicy fsync = FsyncPolicy::kInterval;
  std::chrono::milliseconds fsync_interval{100};
  CapacityMode mode = CapacityMode::kUnlimited;
  StreamEncryption encryption;
};

struct BrokerOptions {
  std::filesystem::path data_dir;  // streams live under data_dir/streams/<name>/
  uint64_t disk_quota_bytes = 0;   // 0: no quota
  Clock* clock = Clock::Real();    // not owned; must outlive the Broker
  std::chrono::milliseconds iterator_ttl{5 * 60 * 1000};
  uint64_t segment_bytes = 64ull << 20;  // roll a segment past this size
  // Master keys of encrypted streams (StreamEncryption); null: no stream may be encrypted, and a
  // data directory holding encrypted segments does not open.
  std::shared_ptr<const Keyring> keyring;
};

// A shard's description, as ListShards returns it.
struct ShardInfo {
  std::string shard_id;  // "shardId-000000000000"
  uint32_t index = 0;    // the number in the id
  uint128 starting_hash_key = 0;
  uint128 ending_hash_key = 0;
  std::optional<std::string> parent_shard_id;
  std::optional<std::string> adjacent_parent_shard_id;
  std::string starting_sequence_number;
  std::optional<std::string> ending_sequence_number;  // set once closed
  bool open = true;
  int64_t created_ms = 0;  // wall time the shard was created (a stream's first: the stream's)
};

// A record without an event time of its own (its time is its arrival).
inline constexpr int64_t kNoEventTime = INT64_MIN;

// One record to put. `data` up to 1 MiB; `partition_key` 1..256 characters.
struct PutRecordIn {
  std::string_view partition_key;
  std::string_view data;
  std::optional<uint128> explicit_hash_key;
  int64_t event_ms = kNoEventTime;  // the log's own time, when the agent read one
};

// Per-record outcome of a put; a failed record does not fail the others.
struct PutRecordOut {
  Status status;  // ok, kResourceExhausted (throughput/quota), kInternal
  uint32_t shard_index = 0;
  uint64_t offset = 0;  // position of the record in its shard: 0, 1, 2, ...
};

// A producer's note put with a batch (Stream::PutBatch): written with the batch's last record,
// in the same write, so a crash keeps both or neither; read back as RecordView::tag. The agent
// records there where each file's records end, and resumes from it after a kill -9 that came
// before its checkpoint file was written.
struct PutTag {
  std::string_view bytes;  // 1..32 KiB (longer: the batch is refused as invalid)
  // Out: whether the tag was written, and on which record. Not written when a record of the
  // batch was refused (a retry carries the tag again).
  bool written = false;
  uint32_t shard_index = 0;
  uint64_t offset = 0;
};

// A record read from a shard. Views point into the ReadBatch's buffer.
struct RecordView {
  uint64_t offset = 0;
  int64_t arrival_ms = 0;
  std::string_view partition_key;
  std::string_view data;
  int64_t event_ms = kNoEventTime;  // the log's own time, when the agent read one
  // The producer's tag the record carries (PutTag), empty for almost every record. Deliveries
  // and the Kinesis API ignore it; a producer reads its own back at start.
  std::string_view tag = {};
  // The record's time for naming and partitioning: its event time, else its arrival.
  int64_t time_ms() const { return event_ms != kNoEventTime ? event_ms : arrival_ms; }
};

struct ReadLimits {
  size_t max_records = 10000;
  size_t max_bytes = 10 << 20;
};

struct ReadBatch {
  std::vector<RecordView> records;
  uint64_t next_offset = 0;  // where the next read starts
  int64_t millis_behind_latest = 0;
  bool shard_end = false;  // a closed shard read to its end: go to its children
  std::string buffer;      // backing storage of the views; reused across reads
};

// A consumer's position in one shard: the next offset it will read.
struct ShardPosition {
  uint32_t shard_index = 0;
  uint64_t next_offset = 0;
};

// Sequence numbers, as the Kinesis API and deliveries show them: 128-bit decimal strings,
// (kSequenceTag | shard index) << 64 | offset. Unique within a stream (the shard is in the high
// word), strictly increasing within a shard, and children (a higher index) above their parents.
// Numbers of the form before (shard epoch << 64 | offset, the epoch below 2^32) are still parsed,
// as `legacy`: they name an offset in the shard of that epoch. See broker/FORMAT.md.
inline constexpr uint64_t kSequenceTag = uint64_t{1} << 62;
std::string SequenceNumber(uint32_t shard_index, uint64_t offset);
// Formats into `out` (at least kMaxSequenceChars) without allocating; returns the length.
inline constexpr size_t kMaxSequenceChars = 40;
size_t FormatSequenceNumber(uint32_t shard_index, uint64_t offset, char* out);
struct ParsedSequence {
  bool legacy = false;  // the older (epoch << 64 | offset) form
  uint64_t shard = 0;   // the shard index, or the shard epoch when legacy
  uint64_t offset = 0;
};
Result<ParsedSequence> ParseSequenceNumber(std::string_view seq);

class Stream {
 public:
  virtual ~Stream() = default;
  virtual const std::string& name() const = 0;
  virtual StreamOptions options() const = 0;

  // Appends a batch; records are routed by hash key. One lock and one write per touched shard.
  // A malformed batch (0 or > 500 records, > 5 MiB, a key or data out of bounds) fails whole with
  // kInvalidArgument and writes nothing. Otherwise returns ok and (*out)[i] tells record i's fate:
  // ok, kResourceExhausted (disk quota or provisioned throughput: back off), kUnavailable (its
  // shard was closed by a concurrent reshard: put it again) or kIoError.
  // With `tag` (may be null): the tag is written with the record appended last, only when
  // every record of the batch was accepted (tag->written says whether it was).
  virtual Status PutBatch(std::span<const PutRecordIn> records, std::vector<PutRecordOut>* out,
                          PutTag* tag) = 0;
  Status PutBatch(std::span<const PutRecordIn> records, std::vector<PutRecordOut>* out) {
    return PutBatch(records, out, nullptr);
  }

  // Durability: every put bumps the write generation; DurableGeneration() reaches a generation
  // once everything written up to it is on disk (as the fsync policy defines it). The agent may
  // checkpoint a file offset only after DurableGeneration() >= the generation of its put.
  virtual uint64_t WriteGeneration() const = 0;
  virtual uint64_t DurableGeneration() const = 0;
  // Forces a group commit now (fdatasync of every dirty shard).
  virtual Status Sync() = 0;

  virtual std::vector<ShardInfo> ListShards() const = 0;  // open and closed within retention
  virtual Result<ShardInfo> GetShard(uint32_t index) const = 0;
  virtual uint64_t ShardEpoch(uint32_t index) const = 0;

  // Reads records of one shard from `from_offset` (clamped to the oldest retained record).
  virtual Status Read(uint32_t shard_index, uint64_t from_offset, const ReadLimits& limits,
                      ReadBatch* out) = 0;
  // The offset one past the last record of the shard (LATEST).
  virtual Result<uint64_t> EndOffset(uint32_t shard_index) const = 0;
  // First offset whose arrival time is >= ts_ms (AT_TIMESTAMP).
  virtual Result<uint64_t> OffsetAtTimestamp(uint32_t shard_index, int64_t ts_ms) const = 0;
  // Blocks up to `timeout` until the shard has a record at `offset` or is closed. Returns true
  // if there is something to read.
  virtual bool WaitForData(uint32_t shard_index, uint64_t offset,
                           std::chrono::milliseconds timeout) = 0;

  // Resharding (Kinesis SplitShard, MergeShards, UpdateShardCount).
  virtual Status SplitShard(uint32_t shard_index, uint128 new_starting_hash_key) = 0;
  virtual Status MergeShards(uint32_t shard_index, uint32_t adjacent_shard_index) = 0;
  virtual Status UpdateShardCount(int target) = 0;
  // Kinesis UpdateStreamMode: kProvisioned applies the per-shard write limits, kUnlimited lifts
  // them. Persisted in stream.json before it applies; shards made later inherit it.
  virtual Status SetCapacityMode(CapacityMode mode) = 0;
  virtual Status SetRetentionHours(int64_t hours) = 0;
  // Kinesis Start/StopStreamEncryption: persisted in stream.json, then every shard's next append
  // starts a new segment, sealed under the named master key (or plain when disabled). Enabling
  // with no keyring is kInvalidArgument; a key id the keyring lacks is kNotFound.
  virtual Status SetEncryption(const StreamEncryption& encryption) = 0;

  // Consumers: named, with durable per-shard checkpoints (the next offset to read).
  virtual Status RegisterConsumer(std::string_view consumer) = 0;
  virtual Status DeregisterConsumer(std::string_view consumer) = 0;
  virtual std::vector<std::string> ListConsumers() const = 0;
  // When `consumer` was registered (wall-clock ms), or 0 when unknown (no such consumer, or one
  // registered by a version that did not keep the time).
  virtual int64_t ConsumerCreatedMs(std::string_view consumer) const = 0;
  // Moves the consumer's checkpoints of several shards at once, with one durable metadata write
  // (a delivery batch spans shards). All or nothing: an unknown shard or a position past a
  // shard's end fails the call and moves none.
  virtual Status Checkpoint(std::string_view consumer,
                            std::span<const ShardPosition> next_offsets) = 0;
  Status Checkpoint(std::string_view consumer, uint32_t shard_index, uint64_t next_offset) {
    ShardPosition one{shard_index, next_offset};
    return Checkpoint(consumer, std::span<const ShardPosition>(&one, 1));
  }
  // Users inside this process (a delivery reading the stream, a source appending to it) hold it
  // while they run, since they keep its Stream*: DeleteStream refuses a held stream, and
  // DeregisterConsumer refuses a consumer a hold names (both kAlreadyExists, Kinesis's
  // ResourceInUseException), so an API call cannot pull either from under them. `holder` names
  // the user for that answer ("delivery web"); `consumer` may be empty. Release ends the hold
  // Hold returned.
  virtual uint64_t Hold(std::string holder, std::string consumer) = 0;
  virtual void Release(uint64_t hold) = 0;
  // The holder of the oldest hold, or empty when none (DeleteStream asks).
  virtual std::string HeldBy() const = 0;
  // kNotFound for an unknown consumer or a shard it has not checkpointed yet.
  virtual Result<uint64_t> GetCheckpoint(std::string_view consumer, uint32_t shard_index) const = 0;
  // The shards this consumer may read now: open or unfinished shards whose parents are read to
  // their end and checkpointed there (the KCL rule).
  virtual std::vector<uint32_t> ReadableShards(std::string_view consumer) const = 0;
};

class Broker {
 public:
  // Opens (creating if needed) the data directory and recovers every stream in it: torn tails
  // are cut, indexes rebuilt.
  static Result<std::unique_ptr<Broker>> Open(const BrokerOptions& options);
  virtual ~Broker() = default;

  virtual Result<Stream*> CreateStream(const StreamOptions& options) = 0;  // kAlreadyExists
  virtual Result<Stream*> GetStream(std::string_view name) = 0;            // kNotFound
  // Removes the stream and its files; its Stream* dies here. A held stream (Stream::Hold) is
  // refused with kAlreadyExists.
  virtual Status DeleteStream(std::string_view name) = 0;
  virtual std::vector<std::string> ListStreams() const = 0;
  // Group-commits every stream whose policy is `interval` and whose interval has passed; the
  // daemon calls it on a timer. It blocks in fdatasync: call it off the event loop.
  virtual Status SyncDue() = 0;
  // Drops whole segments past retention; the daemon calls it on a timer.
  virtual Status EnforceRetention() = 0;
  virtual uint64_t DiskUsageBytes() const = 0;
  // Replaces the keyring (a reload after keys were added): segments started from now on are
  // sealed under the new keyring's keys (a stream without key_id moves to its new primary key).
  // Refused, changing nothing, when the new keyring lacks a key an encrypted stream names.
  virtual Status SetKeyring(std::shared_ptr<const Keyring> keyring) = 0;
  // Shard iterator tokens (broker/iterator.h), keyed by data_dir/iterator.key, expiring after
  // BrokerOptions::iterator_ttl.
  virtual const IteratorCodec& iterators() const = 0;
};

}  // namespace sluice::broker
