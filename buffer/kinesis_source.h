// A delivery source reading a remote Kinesis data stream (AWS, another sluice's Kinesis API,
// kinesalite) with ListShards, GetShardIterator and GetRecords. Without a lease table this
// instance reads every shard, with checkpoints in a file; with one (`lease_table`,
// kinesis_leases.h) it reads the shards whose leases it holds, and the checkpoints and plans are
// the leases' own.
//
// - Shard indexes are this process's own: 0, 1, 2... in discovery order; object names are seeded
//   with the shard id, so they are stable across restarts.
// - Offsets are this process's own too: 0, 1, 2... per shard in fetch order, counted from the
//   shard's checkpoint. Each buffered record keeps its sequence number (and sub-sequence number
//   inside a KPL aggregated record), so Checkpoint(next) stores those of record next - 1.
// - It is a shared source (DeliverySource::shared): a batch holds one shard, and its plan is
//   written with the shard's checkpoint (kinesis_checkpoints.h) before it is sent, the
//   checkpoint moved to the record before the batch. After a restart the shard is read again
//   from that checkpoint, and the plan, mapped to offsets [0, records - 1], is replayed under
//   the same object key: a kill -9 leaves no duplicate object.
// - Resharding, parent before child as the KCL does: a child is read only once every parent
//   still listed was delivered to its end (checkpoint SHARD_END). Shards are listed again every
//   10 s and when one ends.
// - KPL aggregated records are split into their user records, each with its own offset; one
//   with a wrong MD5 or a malformed message is taken as a plain record, and counted.
// - Throttling, 5xx and transport errors are retried with back-off (capped, full jitter) from
//   the same iterator; an expired iterator is replaced by one after the last record fetched.
//   Nothing fetched is skipped.
// - Fetched records wait in memory per shard until the engine reads them; a shard past its share
//   of the memory bound is not asked for more until the engine catches up.
// - Enhanced fan-out (`efo`): a registered consumer; each shard read here has a SubscribeToShard
//   subscription (ResponseStreams: HTTP/2, one connection each) whose events are decoded as they
//   arrive and added as GetRecords answers are; a subscription past its shard's share of memory
//   is paused. The poller thread drives the subscriptions.
// - Leases: a thread renews the held ones every third of the failover time, and every half of it
//   lists the table, creates leases for new shards (at the delivery's initial position; children
//   of known parents at TRIM_HORIZON), and takes expired, free or surplus ones (LeasesToTake).
//   A lease taken starts its shard afresh from the lease's checkpoint and replays its pending
//   plan (a new generation, so the engine drops what it buffered before); a lease lost (a
//   conditional write refused, or not renewed within the failover time) stops its shard, and
//   its batches not yet sent are dropped uncommitted. A child is read once its parents' leases
//   are at SHARD_END. Close gives the leases up (evicts them) for the next owner.
//
// THREADING: one thread polls the stream (the HTTP client is its own); the engine's workers
// read, wait and checkpoint from theirs; one more keeps the leases. mu_ guards the shards;
// store_mu_ orders the checkpoint writes (file or lease table) and guards the lease table's
// client and the held leases (taken before mu_, never while holding it).
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "buffer/delivery_source.h"
#include "buffer/kinesis_checkpoints.h"
#include "buffer/kinesis_leases.h"
#include "buffer/kpl_reader.h"
#include "buffer/response_streams.h"
#include "core/json.h"

namespace sluice::sink {
class AwsJsonClient;
struct HttpResponse;
}  // namespace sluice::sink

namespace sluice::buffer {

class KinesisSource final : public DeliverySource {
 public:
  // `memory_bound`: fetched and unread bytes at most; `state_dir`: the delivery's own directory,
  // where the checkpoint file lives.
  KinesisSource(KinesisSourceOptions options, uint64_t memory_bound,
                std::filesystem::path state_dir);
  ~KinesisSource() override;
  KinesisSource(const KinesisSource&) = delete;
  KinesisSource& operator=(const KinesisSource&) = delete;

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
  std::string RangeSeed(uint32_t shard, uint64_t first, uint64_t last) const override;

  bool shared() const override { return true; }
  Status RecordPlan(const JournalEntry& entry) override;
  std::optional<JournalEntry> TakePlan(uint32_t shard, uint64_t next) override;
  uint64_t Generation(uint32_t shard) const override;
  void NoteDropped(uint32_t shard) override;
  SourceStats stats() const override;

 private:
  struct Rec {
    size_t pos;  // partition key then data, in `data`
    uint32_t key_len;
    uint32_t len;
    int64_t arrival_ms;
    size_t seq_pos;  // the sequence number, in `seqs`
    uint32_t seq_len;
    int32_t sub;    // the user record's index in its aggregate; -1: a plain record
    bool last_sub;  // the aggregate's last user record (or a plain record)
  };
  struct Shard {
    std::string id, parent, adjacent_parent;
    bool listed = true;
    bool owned = true;        // its lease is held here (always, without a lease table)
    uint64_t generation = 0;  // moves when its lease is taken or lost
    std::string sentinel;     // a new lease's start: TRIM_HORIZON, LATEST, AT_TIMESTAMP
    // Without a checkpoint, a plan's first record (its user record `start_sub` inside an
    // aggregate, -1: a plain record): read from there, so the planned records are read again
    // even from a LATEST or AT_TIMESTAMP start.
    std::string start_seq;
    int64_t start_sub = -1;
    KinesisCheckpoint ck;              // as in the file
    bool checkpointed = false;         // ck holds a position (read from the file or moved here)
    uint64_t committed = 0;            // the next offset to deliver, as checkpointed
    std::optional<JournalEntry> plan;  // from the file, to replay first (offsets mapped)
    // Poller state.
    bool started = false;       // its parents are done: fetched and readable
    bool fetched_all = false;   // GetRecords gave no next iterator: closed, read to its end
    std::string iterator;       // empty: ask for one
    std::string last_sequence;  // of the last record fetched
    std::string skip_sequence;  // after AT_SEQUENCE_NUMBER: its user records up to skip_sub
    int64_t skip_sub = -1;      // were delivered
    bool skip_plain = false;    // and, when it is a plain record, the record itself (KCL's)
    int64_t next_call_ms = 0;
    int attempt = 0;  // failed calls in a row, for the back-off
    int64_t millis_behind = -1;
    // Records from offset `base` on (recs[i] is offset base + i); those before `head` were read.
    std::string data, seqs;
    std::vector<Rec> recs;
    uint64_t base = 0;
    size_t head = 0;
    size_t head_bytes = 0;
    uint64_t fetched() const { return base + recs.size(); }
  };

  struct Held {
    KinesisLease lease;  // as last written
    int64_t renewed_ms;  // the last write that moved its counter
  };
  struct Seen {  // a lease as this worker last saw it change
    int64_t counter;
    std::string owner;
    int64_t since_ms;
  };

  void Poll();
  // Lists the shards when due (or asked to).
  void MaybeList(int64_t now, int64_t* next_list, int* attempt);
  // Enhanced fan-out: the poller's loop, the consumer's registration, a shard's subscription.
  void PollEfo();
  Status RegisterConsumer();
  void Subscribe(uint32_t index);
  bool OnStreamData(size_t index, long status, std::string_view bytes);
  void OnStreamDone(size_t index, long status, const Status& transport);
  void KeepLeases();
  void RenewLeases(int64_t now);  // store_mu_ held
  Status SyncLeases(int64_t now);
  void Acquire(const KinesisLease& lease, int64_t now);       // store_mu_ held
  void Lose(const std::string& key, const std::string& why);  // store_mu_ held
  void Reset(Shard* s);                                       // mu_ held
  // The start of a plan read without a checkpoint before it (start_seq).
  static void StartAtPlan(Shard* s);  // mu_ held
  Status ListShards();
  // A GetRecords call of shard `index` started in slot `slot` (an iterator asked for first when
  // it has none); false when it could not start (retried later).
  bool FetchStart(uint32_t index, size_t slot);
  void FetchDone(uint32_t index, uint64_t generation, Result<sink::HttpResponse>& resp);
  Status GetIterator(uint32_t index, std::string* iterator);
  // Where a read of a shard starts (an iterator's or a subscription's), its skip fields set.
  struct StartAt {
    std::string type, sequence, timestamp;  // timestamp: seconds, as JSON
    // `"<type_key>":type[,"<sequence_key>":sequence][,"Timestamp":timestamp]`
    void AppendTo(const char* type_key, const char* sequence_key, std::string* body) const;
  };
  StartAt StartOf(Shard& s);  // mu_ held
  // Records of a GetRecords answer or a SubscribeToShard event, added to shard `index` unless
  // its generation moved; `continuation`: where a new subscription goes on. The records added.
  size_t Ingest(uint32_t index, uint64_t generation, const rapidjson::Value& records,
                int64_t behind, std::string_view continuation);
  // Records fetched, decoded and split (KPL) before they join their shard.
  struct Staged {
    std::string data, seqs;
    std::vector<Rec> recs;
    std::string skip_sequence;  // the shard's, when the call started
    int64_t skip_sub = -1;
    bool skip_plain = false;
  };
  void Append(Staged* s, uint32_t index, std::string_view sequence, int64_t arrival_ms,
              std::string_view key, std::string_view data);  // mu_ held
  void StartReadyShards();                                   // mu_ held
  bool Throttled(const Shard& s) const;                      // mu_ held
  void Compact(Shard* s);                                    // mu_ held
  void RetryLater(Shard* s, int64_t now);                    // mu_ held
  // Moves shard `index`'s checkpoint to before offset `next` (its plan: `plan`) and writes the
  // file; the shard is left as it was when the write fails.
  // `plan_last`: the offset of the plan's last record (the lease's pending checkpoint).
  Status Store(uint32_t index, uint64_t next, std::optional<JournalEntry> plan,
               uint64_t plan_last = 0);
  void NoteError(std::string message);

  KinesisSourceOptions options_;
  uint64_t memory_bound_;
  std::filesystem::path state_dir_;
  std::string delivery_;
  StartPosition initial_position_ = StartPosition::kTrimHorizon;
  int64_t initial_timestamp_ms_ = 0;
  std::unique_ptr<sink::AwsJsonClient> client_;  // the poller's
  std::string body_;                             // the poller's request body, reused
  struct Call {
    uint32_t index = 0;
    uint64_t generation = 0;
    std::string body;
  };
  static constexpr size_t kMaxCalls = 8;
  std::array<Call, kMaxCalls> calls_;            // the poller's GetRecords in flight, by slot
  std::string decoded_;                          // the poller's base64 decoding, reused
  KplReader kpl_;                                // the poller's
  Staged staged_;                                // the poller's
  std::mt19937_64 rng_{std::random_device{}()};  // the poller's
  // Enhanced fan-out (the poller's): the subscriptions, by shard index.
  struct Sub {
    uint64_t generation = 0;
    int64_t started_ms = 0;
    std::string buf;    // bytes of an event-stream message not yet whole
    std::string error;  // the body of an answer that is not a 200
    bool failed = false;
  };
  std::unique_ptr<ResponseStreams> streams_;
  std::string consumer_arn_;
  std::map<uint32_t, Sub> subs_;
  std::thread poller_;
  std::thread leaser_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> relist_{false};

  std::mutex store_mu_;
  std::unique_ptr<KinesisLeaseTable> leases_;      // null without a lease table
  std::map<std::string, Held, std::less<>> held_;  // store_mu_
  std::map<std::string, Seen, std::less<>> seen_;  // the lease thread's
  mutable std::mutex mu_;
  std::condition_variable data_cv_;   // records arrived (or stop)
  std::condition_variable poll_cv_;   // the poller's sleep: stop, or a shard's buffer drained
  std::condition_variable lease_cv_;  // the lease thread's sleep: stop
  std::set<std::string, std::less<>> ended_leases_;  // leases at SHARD_END (mu_)
  std::vector<std::unique_ptr<Shard>> shards_;       // by shard index
  std::map<std::string, uint32_t, std::less<>> index_;
  KinesisCheckpoints stored_;  // the file as last written (shards not listed included)
  uint64_t buffered_bytes_ = 0;
  SourceStats counters_;  // plans replayed, errors (mu_)
  uint64_t bad_aggregates_ = 0;
};

}  // namespace sluice::buffer
