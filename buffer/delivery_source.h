// Where a delivery's records come from: the seam between the delivery engine and what it reads.
// A source numbers its shards (a broker stream's shards, a Kafka topic's partitions) with local
// indexes and serves reads by (shard, offset), checkpoints by shard, and, for sources shared by
// several sluice instances, batch plans kept where the next reader of a shard finds them.
//
// StreamSource reads a local broker stream as a named consumer (the engine's original source).
// KafkaSource (kafka_source.h) reads topics as a member of a consumer group.
// KinesisSource (kinesis_source.h) reads a remote Kinesis stream's shards with GetRecords.
//
// THREADING: every method may be called from any delivery worker at once, except Open (before
// the workers start) and the destructor (after they joined).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "broker/broker.h"
#include "buffer/batch_journal.h"
#include "buffer/delivery_options.h"
#include "buffer/error_output.h"
#include "core/status.h"

namespace sluice::buffer {

// One shard or partition, for /status and /metrics.
struct SourceShardStats {
  std::string id;              // "shardId-000000000001", "logs-3"
  int64_t committed = -1;      // the next offset the group resumes at; -1: none yet
  int64_t end = -1;            // the log end offset (Kafka's high watermark); -1: unknown
  uint64_t lag = 0;            // end - committed: records not yet delivered (Kafka consumer lag)
  uint64_t buffered = 0;       // records fetched and not yet read by the engine
  int64_t millis_behind = -1;  // Kinesis GetRecords' MillisBehindLatest; -1: unknown
};

struct SourceStats {
  std::string type;              // "stream", "kafka", "kinesis"
  uint64_t rebalances = 0;       // assignments received (the first one included)
  uint64_t revocations = 0;      // partitions taken away by a rebalance, leases lost
  uint64_t batches_dropped = 0;  // buffered batches of revoked partitions, left uncommitted
  uint64_t plans_replayed = 0;   // batches another instance planned, replayed under their key
  uint64_t commit_errors = 0;
  std::string last_error;
  // Kinesis with a lease table: this worker's id, the leases it holds (-1: no lease table), and
  // those it took from another worker or after they expired.
  std::string worker_id;
  int64_t leases_held = -1;
  uint64_t leases_taken = 0;
  std::vector<SourceShardStats> shards;  // the ones assigned here
};

class DeliverySource {
 public:
  virtual ~DeliverySource() = default;

  // Prepares reading for the delivery `options.name`: registers its consumer, places a new one
  // at options.initial_position, joins a group. Called once, before any other method.
  virtual Status Open(const DeliveryOptions& options) = 0;
  // Stops fetching (a group member leaves its group). Called after the workers joined.
  virtual void Close() {}

  // The shards the delivery may read now.
  virtual std::vector<uint32_t> ReadableShards() = 0;
  virtual Status Read(uint32_t shard, uint64_t from, const broker::ReadLimits& limits,
                      broker::ReadBatch* out) = 0;
  // Waits until `shard` has a record at or after `offset`, or `timeout` passed.
  virtual void WaitForData(uint32_t shard, uint64_t offset, std::chrono::milliseconds timeout) = 0;
  // The next offset to read, as last checkpointed; kNotFound when never checkpointed.
  virtual Result<uint64_t> GetCheckpoint(uint32_t shard) = 0;
  // Moves the checkpoints of a batch's shards, together where the source can.
  virtual Status Checkpoint(std::span<const broker::ShardPosition> positions) = 0;

  // The names a record keeps in the error output (kinesisRecordMetadata).
  virtual void Describe(uint32_t shard, uint64_t offset, FailedRecord* f) const = 0;
  // The shard's name in logs and in RangeSeed.
  virtual std::string RangeLabel(uint32_t shard) const = 0;
  // A batch's records of one shard, as the seed of its object name: the same in every instance
  // and every run for the same records ("shard:first-last" by default, for sources whose
  // offsets are stable).
  virtual std::string RangeSeed(uint32_t shard, uint64_t first, uint64_t last) const {
    return RangeLabel(shard) + ":" + std::to_string(first) + "-" + std::to_string(last);
  }

  // Shared sources (several instances read it, shards move between them): a batch holds one
  // shard, and its plan (the journal entry) is recorded with the shard's checkpoint before it is
  // sent, so whichever instance reads the shard next replays exactly that batch under its key.
  // The local batch journal is not replayed for them.
  virtual bool shared() const { return false; }
  // kCancelled: the shard is no longer this instance's (drop the batch uncommitted).
  virtual Status RecordPlan(const JournalEntry& /*entry*/) { return Status::Ok(); }
  // The batch ended (committed, dropped or aborted): a rebalance waiting for it may go on.
  virtual void FlushEnded(uint32_t /*shard*/) {}
  // A plan left by the shard's previous reader, starting at `next`, to replay first.
  virtual std::optional<JournalEntry> TakePlan(uint32_t /*shard*/, uint64_t /*next*/) {
    return std::nullopt;
  }
  // Changes each time the shard is assigned or revoked: the engine drops what it buffered from
  // an older assignment and reads again from the checkpoint.
  virtual uint64_t Generation(uint32_t /*shard*/) const { return 0; }
  // Counts a batch dropped because its shard was revoked.
  virtual void NoteDropped(uint32_t /*shard*/) {}

  virtual SourceStats stats() const { return {}; }
};

// The buffered records entries[head...) of a fetching source's shard, copied into `out` as
// far as `limits` allow; Entry has pos (key then data in `data`), key_len, len and arrival_ms,
// and `offset_of(i)` is entry i's offset. out->next_offset moves past the last one copied.
template <typename Entry, typename OffsetOf>
void CopyBuffered(const std::string& data, const std::vector<Entry>& entries, size_t head,
                  const broker::ReadLimits& limits, OffsetOf offset_of, broker::ReadBatch* out) {
  size_t end = head, bytes = 0;
  while (end < entries.size() && end - head < limits.max_records) {
    const size_t size = entries[end].key_len + entries[end].len;
    if (end > head && bytes + size > limits.max_bytes) break;
    bytes += size;
    ++end;
  }
  out->buffer.reserve(bytes);
  for (size_t i = head; i < end; ++i) {
    const Entry& e = entries[i];
    const size_t at = out->buffer.size();
    out->buffer.append(data, e.pos, e.key_len + e.len);
    std::string_view both(out->buffer.data() + at, e.key_len + e.len);
    out->records.push_back(
        {offset_of(i), e.arrival_ms, both.substr(0, e.key_len), both.substr(e.key_len)});
  }
  if (end > head) out->next_offset = offset_of(end - 1) + 1;
}

// A local broker stream, read as the consumer named by the delivery. Holds the stream (and the
// consumer) while it exists.
class StreamSource final : public DeliverySource {
 public:
  explicit StreamSource(broker::Stream* stream) : stream_(stream) {}
  ~StreamSource() override;

  Status Open(const DeliveryOptions& options) override;
  std::vector<uint32_t> ReadableShards() override { return stream_->ReadableShards(consumer_); }
  Status Read(uint32_t shard, uint64_t from, const broker::ReadLimits& limits,
              broker::ReadBatch* out) override {
    return stream_->Read(shard, from, limits, out);
  }
  void WaitForData(uint32_t shard, uint64_t offset, std::chrono::milliseconds timeout) override {
    stream_->WaitForData(shard, offset, timeout);
  }
  Result<uint64_t> GetCheckpoint(uint32_t shard) override {
    return stream_->GetCheckpoint(consumer_, shard);
  }
  Status Checkpoint(std::span<const broker::ShardPosition> positions) override {
    return stream_->Checkpoint(consumer_, positions);
  }
  void Describe(uint32_t shard, uint64_t offset, FailedRecord* f) const override;
  std::string RangeLabel(uint32_t shard) const override { return std::to_string(shard); }
  SourceStats stats() const override;

 private:
  broker::Stream* stream_;
  std::string consumer_;
  std::optional<uint64_t> hold_;
};

}  // namespace sluice::buffer
