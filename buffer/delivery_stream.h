// A delivery stream: Firehose's delivery engine for one `deliveries:` entry. It reads a broker
// stream as a named consumer, buffers records by size (before compression) and interval (from
// the oldest buffered record), renders objects (delimiter framing, compression), hands them to a
// sink plugin, retries with back-off, spills what fails to the error output and only then moves
// the consumer's checkpoints. A batch journal in state_dir makes replays after a crash rewrite
// the same object keys.
//
// THREADING: Create, Start, Stop and stats() may be called from any thread (normally the loop);
// Stop blocks up to its grace while workers flush and join. The work itself runs on `concurrency`
// worker threads; worker w reads the readable shards whose index % concurrency == w.
// OWNERSHIP: the Stream, PluginHost and Clock are borrowed and must outlive the DeliveryStream;
// the DeliverySource is owned.
// SHARED SOURCES (a Kafka group): a batch holds one shard; each worker keeps a batch per shard
// it reads and flushes each when due. Plans replace the local journal for replays (see
// DeliverySource::shared).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "broker/broker.h"
#include "buffer/batch_journal.h"
#include "buffer/batch_sender.h"
#include "buffer/call_ledger.h"
#include "buffer/delivery_options.h"
#include "buffer/delivery_plan.h"
#include "buffer/delivery_policy.h"
#include "buffer/delivery_source.h"
#include "buffer/exec_transform.h"
#include "buffer/http_transform.h"
#include "buffer/lua_transform.h"
#include "buffer/object_naming.h"
#include "buffer/partitioner.h"
#include "buffer/plugin_host.h"
#include "buffer/plugin_transform.h"
#include "core/clock.h"
#include "core/status.h"

namespace sluice::buffer {

// A snapshot for metrics (names follow Firehose's CloudWatch metrics in the exporter).
struct DeliveryStats {
  uint64_t records_in = 0;         // DataReadFromKinesisStream.Records
  uint64_t bytes_in = 0;           // DataReadFromKinesisStream.Bytes
  uint64_t records_delivered = 0;  // DeliveryTo<Sink>.Records
  uint64_t bytes_delivered = 0;    // DeliveryTo<Sink>.Bytes (record bytes, before codecs)
  uint64_t objects_delivered = 0;  // DeliveryToS3.ObjectCount
  uint64_t bytes_sent = 0;         // object bytes after codecs
  uint64_t records_spilled = 0;    // records written to the error output
  uint64_t records_dropped = 0;    // records the transform answered Dropped
  uint64_t objects_spilled = 0;
  uint64_t attempts = 0;  // on_deliver calls
  uint64_t retries = 0;
  uint64_t records_retried = 0;    // records a partial answer sent back (bad outcomes included)
  uint64_t bad_outcomes = 0;       // outcomes left unset or invalid by the plugin
  uint64_t records_backed_up = 0;  // BackupToS3.Records: records sent to the backup sink
  uint64_t objects_backed_up = 0;  // objects the backup sink took
  uint64_t backup_records_spilled = 0;  // backup records that went to the error output
  std::string last_error;     // of the last failed delivery attempt: "code: message"; "" if none
  int64_t last_error_ms = 0;  // its wall time
  uint64_t batches_replayed = 0;           // journal entries replayed after a restart
  uint64_t errors = 0;                     // broker read, checkpoint or error-output write failures
  uint64_t buffered_bytes = 0;             // records buffered now
  int64_t oldest_buffered_arrival_ms = 0;  // 0: nothing buffered (DataFreshness = now - this)
  std::map<std::string, uint64_t> plugin_counters;
  SourceStats source;            // where records come from: lag per shard or partition, rebalances
  int64_t call_age_ms = 0;       // the oldest plugin call running now (0: none)
  int64_t call_timeout_ms = 0;   // the sink's call timeout
  bool call_stuck = false;       // a call runs past its timeout (the sink's; transform.timeout)
  uint64_t batches_crashed = 0;  // batches spilled as Plugin.Crashed after crashing the daemon
  std::string plugin_health;     // "" or the sink plugin's on_healthcheck message
  // isolation: process (sink and backup sink): children started again, children that died in a
  // call, children killed at the call timeout.
  uint64_t child_restarts = 0, child_crashes = 0, child_timeouts = 0;
};

class DeliveryStream final {
 public:
  // Validates the options (PlanDelivery: every problem, with its position), creates one plugin
  // instance per worker, and registers `options.name` as a consumer of `stream`.
  // Error output goes under options.errors_path, or <state_dir>/errors when it is empty.
  static Result<std::unique_ptr<DeliveryStream>> Create(const DeliveryOptions& options,
                                                        broker::Stream* stream, PluginHost* host,
                                                        const std::filesystem::path& state_dir,
                                                        Clock* clock);
  // The same with any source (a Kafka consumer group: kafka_source.h). The source is opened here.
  static Result<std::unique_ptr<DeliveryStream>> Create(const DeliveryOptions& options,
                                                        std::unique_ptr<DeliverySource> source,
                                                        PluginHost* host,
                                                        const std::filesystem::path& state_dir,
                                                        Clock* clock);
  ~DeliveryStream();
  DeliveryStream(const DeliveryStream&) = delete;
  DeliveryStream& operator=(const DeliveryStream&) = delete;

  // Starts the workers. The first one replays the batch journal before any worker reads.
  Status Start();
  // Flushes what is buffered, giving deliveries until `grace` to finish, then joins. A batch not
  // delivered by then keeps its journal entry and is replayed on the next start. A worker still
  // inside a plugin call a second after the grace is abandoned (detached; it does nothing after
  // the call returns): Stop returns anyway, and abandoned() says so. An abandoned stream still
  // has a thread using it: its owner must not destroy it (it is leaked on purpose).
  void Stop(std::chrono::milliseconds grace);
  // The non-blocking half of Stop, so that several deliveries spend their grace together. The
  // first call sets the grace; Stop then waits without extending it.
  void RequestStop(std::chrono::milliseconds grace);
  bool abandoned() const { return abandoned_; }

  DeliveryStats stats() const;
  const std::string& name() const { return options_.name; }
  // Whether a batch replayed after a crash lands exactly once (the sink's idempotent object keys,
  // or record ids for record sinks) or may be delivered twice.
  bool replay_exactly_once() const { return plugin_->replay_exactly_once(); }

 private:
  struct Worker {
    int index = 0;
    std::unique_ptr<SinkInstance> sink;
    std::unique_ptr<BatchSender> sender;
    PendingBatch batch;
    broker::ReadBatch read;  // reused: its buffer keeps its capacity across reads
    std::unique_ptr<Transform> transform;
    std::unique_ptr<ErrorWriter> processing_errors;
    PendingBatch transformed;
    // metadata.partitionKeys of the transform's answers, one per record of `batch` after
    // Transform; used only when has_lambda_keys.
    std::vector<std::map<std::string, std::string>> lambda_keys;
    bool has_lambda_keys = false;
    std::unique_ptr<SinkInstance> backup_sink;  // backup: the second sink
    std::unique_ptr<BatchSender> backup;
    PendingBatch backup_batch;
    std::map<uint32_t, uint64_t> next;  // next offset to read, per shard
    // Shared sources: a batch per shard (`batch` is the one being flushed), the source's
    // generation of each shard read, and plans of batches to replay first.
    std::map<uint32_t, PendingBatch> parts;
    std::map<uint32_t, uint64_t> generations;
    std::map<uint32_t, JournalEntry> planned;
    bool shared_memory = false;  // batches in shared memory (a plugin runs in a child)
    std::vector<broker::ShardPosition> positions;  // reused: a batch's checkpoints
    JournalEntry* flushing = nullptr;  // the journal entry of the batch Flush is sending
    std::thread thread;
    std::atomic<bool> exited{false};     // Run returned
    std::atomic<bool> abandoned{false};  // Stop gave up on it: nothing more may be committed
    std::atomic<uint64_t> buffered{0};
    std::atomic<int64_t> oldest{0};
  };

  DeliveryStream(const DeliveryOptions& options, std::unique_ptr<DeliverySource> source,
                 Clock* clock);
  void Run(Worker* w);
  // Shared sources: drops the batches of shards moved away, flushes the shards' batches due.
  // False if aborted by Stop.
  // `aged`: a part as old as buffer.interval is due (with 0s: only once reads are caught up).
  bool FlushParts(Worker* w, bool stopping, bool aged);
  PendingBatch& PartOf(Worker* w, uint32_t shard);
  void Recover(Worker* w);
  // The sender is about to write an object of the batch being flushed to the error output:
  // recorded in its journal entry first (BatchSender::set_spill_intent).
  void NoteSpill(Worker* w, const SpilledPart& part);
  // Reads what `w` may read now into its batch; returns true if records came.
  bool ReadSome(Worker* w, const std::vector<uint32_t>& shards);
  // Journals, sends and checkpoints w->batch. False if aborted by Stop.
  bool Flush(Worker* w, JournalEntry entry);
  JournalEntry Plan(Worker* w);
  // Runs the transform over w->batch: Ok records replace it, ProcessingFailed ones go to the
  // error output (processing-failed). False if aborted by Stop.
  bool Transform(Worker* w, const JournalEntry& entry);
  // Dynamic partitioning: one object per distinct key tuple of w->batch, sent in turn.
  bool SendPartitioned(Worker* w, const JournalEntry& entry);
  // Fills the shard and sequence number of a record about to be spilled.
  void SetPosition(const PendingBatch::Rec& r, FailedRecord* f) const;
  // Checkpoints a batch that was delivered or spilled and clears its journal entry.
  void Commit(Worker* w, const JournalEntry& entry);
  // A journaled batch that crashed the daemon CallLedger::kMaxCrashes times: to the error output
  // (Plugin.Crashed), never to the plugin again. False if aborted by Stop.
  bool SpillCrashed(Worker* w, const JournalEntry& entry, CallLedger::Deaths deaths);
  // Writes records that failed before the sink to the error output under `type`.
  bool Spill(Worker* w, std::string_view type, const JournalEntry& entry, std::string_view suffix,
             const std::vector<FailedRecord>& failed);
  // Backup mode all: the source records of a batch (before any transform) to the backup sink.
  void BackupAll(Worker* w, const JournalEntry& entry);
  // Backup mode failed_only: an error-output object (JSON lines) to the backup sink, same key.
  void BackupFailed(Worker* w, std::string_view key, std::string_view jsonl,
                    const JournalEntry& entry);

  DeliveryOptions options_;
  std::unique_ptr<DeliverySource> source_;
  SpillWarner spill_warner_;
  Clock* clock_;
  ResolvedPolicy policy_;
  std::optional<PrefixTemplate> prefix_, error_prefix_;
  std::vector<PartitionKeySpec> partition_specs_;
  std::filesystem::path state_dir_;
  std::filesystem::path errors_root_;
  std::unique_ptr<BatchJournal> journal_;
  std::unique_ptr<CallLedger> ledger_;  // opened by Start
  bool abandoned_ = false;
  std::optional<std::chrono::steady_clock::time_point> stop_deadline_;
  std::atomic<uint64_t> batches_crashed_{0};
  const Plugin* plugin_ = nullptr;
  const Plugin* backup_plugin_ = nullptr;  // set with a backup section
  std::optional<PrefixTemplate> backup_prefix_;
  bool backup_all_ = false;
  DeliveryCounters backup_counters_;  // the backup sink's deliveries
  std::vector<std::unique_ptr<Worker>> workers_;
  PluginCounters plugin_counters_;
  DeliveryCounters counters_;
  Stopper stopper_;
  std::mutex recover_mu_;
  std::condition_variable recover_cv_;
  bool recovered_ = false;
  bool started_ = false;
  std::mutex rng_mu_;
  std::mt19937_64 rng_;
};

}  // namespace sluice::buffer
