// The Stream implementation: routing, per-shard logs, group commit, resharding, retention,
// consumers and checkpoints, with metadata persisted in <dir>/stream.json.
//
// THREADING: thread-safe. topo_mu_ (shared) guards the shard table; puts and reads take it shared,
// resharding and retention exclusively. meta_mu_ guards consumers and serialises metadata writes.
// Each ShardLog has its own lock. Lock order: topo_mu_, then meta_mu_, then a shard's lock.
// OWNERSHIP: owned by the Broker; owns its ShardLogs.
#pragma once

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "broker/broker.h"
#include "broker/metadata.h"
#include "broker/shard_log.h"

namespace sluice::broker {

// What a stream borrows from its broker.
struct StreamContext {
  const Clock* clock = nullptr;
  uint64_t segment_bytes = 64ull << 20;
  uint64_t disk_quota_bytes = 0;
  std::atomic<int64_t>* disk_usage = nullptr;
  std::shared_ptr<const Keyring> keyring;  // the broker's when the stream was made or loaded
};

class StreamImpl final : public Stream {
 public:
  // Creates a new stream directory with options.shards even shards.
  static Result<std::unique_ptr<StreamImpl>> Create(const std::filesystem::path& dir,
                                                    const StreamOptions& options,
                                                    const StreamContext& ctx);
  // Opens and recovers an existing stream directory.
  static Result<std::unique_ptr<StreamImpl>> Load(const std::filesystem::path& dir,
                                                  const StreamContext& ctx);

  const std::string& name() const override { return name_; }
  StreamOptions options() const override;
  using Stream::PutBatch;
  Status PutBatch(std::span<const PutRecordIn> records, std::vector<PutRecordOut>* out,
                  PutTag* tag) override;
  uint64_t WriteGeneration() const override;
  uint64_t DurableGeneration() const override;
  Status Sync() override;
  std::vector<ShardInfo> ListShards() const override;
  Result<ShardInfo> GetShard(uint32_t index) const override;
  uint64_t ShardEpoch(uint32_t index) const override;
  Status Read(uint32_t shard_index, uint64_t from_offset, const ReadLimits& limits,
              ReadBatch* out) override;
  Result<uint64_t> EndOffset(uint32_t shard_index) const override;
  Result<uint64_t> OffsetAtTimestamp(uint32_t shard_index, int64_t ts_ms) const override;
  bool WaitForData(uint32_t shard_index, uint64_t offset,
                   std::chrono::milliseconds timeout) override;
  Status SplitShard(uint32_t shard_index, uint128 new_starting_hash_key) override;
  Status MergeShards(uint32_t shard_index, uint32_t adjacent_shard_index) override;
  Status UpdateShardCount(int target) override;
  Status SetRetentionHours(int64_t hours) override;
  Status SetEncryption(const StreamEncryption& encryption) override;
  // The broker's keyring changed: refused when it lacks the key this stream seals under.
  Status CheckKeyring(const std::shared_ptr<const Keyring>& keyring) const;
  void SetKeyring(std::shared_ptr<const Keyring> keyring);
  Status RegisterConsumer(std::string_view consumer) override;
  Status DeregisterConsumer(std::string_view consumer) override;
  std::vector<std::string> ListConsumers() const override;
  int64_t ConsumerCreatedMs(std::string_view consumer) const override;
  using Stream::Checkpoint;
  Status Checkpoint(std::string_view consumer,
                    std::span<const ShardPosition> next_offsets) override;
  Result<uint64_t> GetCheckpoint(std::string_view consumer, uint32_t shard_index) const override;
  std::vector<uint32_t> ReadableShards(std::string_view consumer) const override;
  uint64_t Hold(std::string holder, std::string consumer) override;
  void Release(uint64_t hold) override;
  std::string HeldBy() const override;

  // Changes the capacity mode (Kinesis UpdateStreamMode): persisted in stream.json, applied to
  // every open shard's limits at once and to shards created later. Not on the Stream interface
  // yet; the Kinesis API reaches it through the StreamImpl the broker hands out.
  Status SetCapacityMode(CapacityMode mode) override;

  // Broker timers.
  bool SyncIsDue(int64_t now_mono_ms) const;
  Status EnforceRetention();
  // Removes every file of the stream (DeleteStream).
  void RemoveFiles();

 private:
  struct Shard {
    ShardMeta meta;
    std::unique_ptr<ShardLog> log;  // null once expired
  };
  StreamImpl(std::filesystem::path dir, StreamMeta meta, const StreamContext& ctx);
  Status OpenShardLog(Shard* shard, uint64_t min_next_offset);
  Status SaveMetaLocked();  // meta_mu_ held
  ShardInfo InfoLocked(const Shard& s) const;
  const Shard* ShardLocked(uint32_t index) const;
  void RebuildRoutesLocked();
  Status AddChildLocked(uint128 start, uint128 end, int64_t parent, int64_t adjacent,
                        uint64_t epoch);
  Status CloseLocked(Shard* s);
  Status SplitLocked(uint32_t index, uint128 key);
  Status MergeLocked(uint32_t a, uint32_t b);
  bool FinishedLocked(const std::map<uint32_t, uint64_t>& cps, const Shard& s) const;

  const std::filesystem::path dir_;
  const std::string name_;
  const StreamContext ctx_;
  mutable std::shared_mutex topo_mu_;
  std::vector<std::unique_ptr<Shard>> shards_;
  struct Route {
    uint128 start;
    uint128 end;
    uint32_t index;
  };
  std::vector<Route> routes_;  // open shards by starting hash key
  mutable std::mutex meta_mu_;
  StreamMeta meta_;                         // options and consumers; shards_ holds the shard part
  std::shared_ptr<const Keyring> keyring_;  // meta_mu_ held
  struct HoldEntry {
    std::string holder;
    std::string consumer;
  };
  std::map<uint64_t, HoldEntry> holds_;  // meta_mu_ held
  uint64_t next_hold_ = 1;               // meta_mu_ held
  std::mutex sync_mu_;
  std::atomic<uint64_t> write_gen_{0};
  std::atomic<uint64_t> durable_gen_{0};
  std::atomic<int64_t> last_sync_mono_{0};
};

// Kinesis's even split of [0, 2^128-1] into n ranges: range i of n.
std::pair<uint128, uint128> EvenRange(int i, int n);
// Checks a stream or consumer name: 1..128 of [a-zA-Z0-9_.-].
Status ValidateName(std::string_view what, std::string_view name);

}  // namespace sluice::broker
