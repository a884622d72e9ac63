// A delivery source reading Kafka topics as a member of a consumer group (librdkafka's
// high-level consumer). Instances of one delivery with the same `group` share the partitions;
// Kafka moves them when an instance joins, leaves or dies.
//
// - Offsets are committed only by Checkpoint, after the engine delivered or spilled a batch
//   (never auto-commit). A batch holds one partition.
// - Before a batch is sent, its plan (the engine's journal entry: offset range, oldest arrival,
//   object key) is committed as the partition's offset metadata at the batch's first offset. An
//   instance assigned the partition later (after a crash or rebalance) reads the plan with the
//   committed offset and replays exactly that batch under the same object key: no duplicate
//   objects. Record sinks get the batch again (at least once).
// - A rebalance that revokes partitions waits up to rebalance_grace for their batches being
//   delivered to commit; what they had buffered and not yet sent is dropped uncommitted, and
//   their next owner reads it again.
// - Fetched records wait in memory per partition until the engine reads them; a partition past
//   its share of the memory bound is paused until the engine catches up.
//
// Shard indexes are this process's own: 0, 1, 2... in the order partitions are first assigned.
// Object names are seeded with "topic-partition", so instances agree on them.
//
// THREADING: one thread polls the consumer (and runs the rebalance callback); the engine's
// workers read, wait and commit from theirs. One mutex guards the partitions.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "buffer/delivery_source.h"

struct rd_kafka_s;
struct rd_kafka_topic_partition_list_s;

namespace sluice::buffer {

class KafkaSource final : public DeliverySource {
 public:
  // `memory_bound`: fetched and unread bytes at most (a partition pauses past its share).
  explicit KafkaSource(KafkaSourceOptions options, uint64_t memory_bound);
  ~KafkaSource() override;
  KafkaSource(const KafkaSource&) = delete;
  KafkaSource& operator=(const KafkaSource&) = delete;

  Status Open(const DeliveryOptions& options) override;
  void Close() override;

  std::vector<uint32_t> ReadableShards() override;
  Status Read(uint32_t shard, uint64_t from, const broker::ReadLimits& limits,
              broker::ReadBatch* out) override;
  void WaitForData(uint32_t shard, uint64_t offset, std::chrono::milliseconds timeout) override;
  Result<uint64_t> GetCheckpoint(uint32_t shard) override;
  Status Checkpoint(std::span<const broker::ShardPosition> positions) override;
  void Describe(uint32_t shard, uint64_t offset, FailedRecord* f) const override;
  std::string RangeLabel(uint32_t shard) const override;

  bool shared() const override { return true; }
  Status RecordPlan(const JournalEntry& entry) override;
  void FlushEnded(uint32_t shard) override;
  std::optional<JournalEntry> TakePlan(uint32_t shard, uint64_t next) override;
  uint64_t Generation(uint32_t shard) const override;
  void NoteDropped(uint32_t shard) override;
  SourceStats stats() const override;

 private:
  struct Msg {
    uint64_t offset;
    int64_t arrival_ms;  // the message's timestamp
    size_t pos;          // key then value in `data`
    uint32_t key_len;
    uint32_t len;
  };
  struct Partition {
    std::string topic;
    int32_t partition = 0;
    std::string label;  // "topic-partition"
    bool assigned = false;
    uint64_t generation = 0;
    bool in_flight = false;            // a batch planned and not yet committed or ended
    int64_t committed = -1;            // the group's committed offset; -1: none
    std::optional<JournalEntry> plan;  // left by the previous reader, from the metadata
    std::string data;
    std::vector<Msg> msgs;
    size_t head = 0;  // msgs before it were read past
    size_t head_bytes = 0;
    bool paused = false;
    // at_timestamp, a partition without a committed offset: records older than this are skipped
    // until the first one at or after it (-1: none skipped).
    int64_t skip_before_ms = -1;
  };

  static void OnRebalance(rd_kafka_s* rk, int err, rd_kafka_topic_partition_list_s* parts,
                          void* opaque);
  void Assign(rd_kafka_topic_partition_list_s* parts);
  void Revoke(rd_kafka_topic_partition_list_s* parts);
  void Poll();
  Partition* Find(std::string_view topic, int32_t partition);       // mu_ held
  Partition* FindOrAdd(std::string_view topic, int32_t partition);  // mu_ held
  void Compact(Partition* p);                                       // mu_ held
  void PauseOrResume();                                             // poll thread
  void NoteError(std::string message);

  KafkaSourceOptions options_;
  uint64_t memory_bound_;
  std::string delivery_;
  int64_t initial_timestamp_ms_ = -1;  // at_timestamp: where partitions without offsets start
  rd_kafka_s* rk_ = nullptr;
  std::thread poller_;
  std::atomic<bool> stop_{false};

  mutable std::mutex mu_;
  std::condition_variable data_cv_;                // records arrived
  std::condition_variable flight_cv_;              // a batch ended (a revocation waits for it)
  std::vector<std::unique_ptr<Partition>> parts_;  // by shard index
  std::map<std::pair<std::string, int32_t>, uint32_t, std::less<>> index_;
  uint64_t buffered_bytes_ = 0;
  SourceStats counters_;  // rebalances, revocations, drops, replays, errors (mu_)
};

}  // namespace sluice::buffer
