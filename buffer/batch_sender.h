// The send half of a delivery worker: one buffered batch in, delivered or spilled out. Encodes
// the object (object sinks), calls the plugin, retries with capped exponential back-off and full
// jitter within the retry duration (partial answers retry only the failed records), and writes
// what cannot be delivered to the error output. Internal to buffer/.
//
// THREADING: one BatchSender per worker thread; the Stopper and DeliveryCounters are shared
// and thread-safe. OWNERSHIP: borrows the SinkInstance, Clock, Stopper and counters.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "broker/broker.h"
#include "buffer/batch_journal.h"
#include "buffer/call_ledger.h"
#include "buffer/codec.h"
#include "buffer/delivery_policy.h"
#include "buffer/envelope.h"
#include "buffer/error_output.h"
#include "buffer/plugin_host.h"
#include "buffer/shared_bytes.h"
#include "core/clock.h"

namespace sluice::buffer {

// Records buffered for one batch, copied out of broker reads (one append per read).
struct PendingBatch {
  struct Rec {
    uint32_t shard;
    uint64_t offset;
    int64_t arrival_ms;
    size_t pos;  // of the record's bytes in `data` (the delimiter follows, not counted)
    size_t len;
    size_t key_pos = 0;  // of its partition key in `keys` (NUL-terminated), when kept
    int64_t event_ms = broker::kNoEventTime;  // the log's own time, when the agent read one
    // Its time for naming, partitioning and the transform contract: event time, else arrival.
    int64_t time_ms() const { return event_ms != broker::kNoEventTime ? event_ms : arrival_ms; }
  };
  SharedBytes data;  // in shared memory when the sink runs in a child (isolation: process)
  std::vector<Rec> recs;
  // The records' partition keys, each followed by a NUL; kept only when keep_keys (a record
  // sink gets them, ABI 1.5). Set keep_keys before the first Add.
  std::string keys;
  bool keep_keys = false;
  std::vector<ShardRange> ranges;
  int64_t oldest_arrival_ms = 0;  // the oldest arrival (DataFreshness)
  int64_t oldest_time_ms = 0;     // the oldest record time (object names and prefixes)
  bool has_event_time = false;    // some record has an event time of its own
  int64_t first_buffered_mono = 0;
  uint64_t payload_bytes = 0;  // record bytes without delimiters

  bool empty() const { return recs.empty(); }
  void Clear();
  void Add(uint32_t shard, const broker::RecordView& r, std::string_view delimiter, int64_t mono);
  std::string_view Data(const Rec& r) const { return {data.data() + r.pos, r.len}; }
  // "" when keys are not kept.
  std::string_view Key(const Rec& r) const {
    return keep_keys ? std::string_view(keys.data() + r.key_pos) : std::string_view();
  }
};

// Monotonic counters, read by DeliveryStream::stats().
struct DeliveryCounters {
  std::atomic<uint64_t> records_in{0}, bytes_in{0};
  std::atomic<uint64_t> records_delivered{0}, bytes_delivered{0}, objects_delivered{0};
  std::atomic<uint64_t> bytes_sent{0};
  std::atomic<uint64_t> records_spilled{0}, objects_spilled{0};
  std::atomic<uint64_t> attempts{0}, retries{0}, batches_replayed{0}, errors{0};
  std::atomic<uint64_t> records_dropped{0};  // Dropped by the transform
  // Records a partial answer sent back for a retry, and those whose outcome the plugin left
  // unset or filled with a code that is none of OK, RETRY, REJECT (retried, never delivered).
  std::atomic<uint64_t> records_retried{0}, bad_outcomes{0};

  // The last failed attempt's error (code: message) and its wall time; "" / 0 before any.
  void NoteError(std::string_view code, std::string_view message, int64_t now_ms);
  std::pair<std::string, int64_t> LastError() const;
  // The plugin's own health (on_healthcheck): "" when healthy or never asked, else its message.
  void NoteHealth(std::string message);
  std::string PluginHealth() const;

 private:
  mutable std::mutex error_mu_;
  std::string last_error_;
  int64_t last_error_ms_ = 0;
  std::string plugin_health_;
};

// Stop handling shared by the workers: waits end early when stopping is past its grace.
class Stopper {
 public:
  void RequestStop(std::chrono::milliseconds grace);
  bool stopping() const { return stopping_.load(); }
  // True once stop was requested and its grace (real time) has passed.
  bool Aborted() const;
  // Waits until clock->MonotonicMs() >= deadline_mono. False if aborted first.
  bool WaitUntil(const Clock* clock, int64_t deadline_mono);
  // Waits up to `ms` real milliseconds or until a stop request.
  void Nap(int64_t ms);

 private:
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> abort_at_ns_{0};
  std::mutex mu_;
  std::condition_variable cv_;
};

class BatchSender final {
 public:
  enum class Outcome { kDone, kAborted };

  BatchSender(SinkInstance* sink, Compression compression, const ResolvedPolicy& policy,
              Backoff backoff, std::filesystem::path errors_root, const Clock* clock,
              Stopper* stopper, DeliveryCounters* counters, uint64_t seed,
              std::unique_ptr<Encryptor> encryptor = nullptr);

  // Delivers `batch` under entry.object_key, spilling to entry.error_key what fails for good.
  // kAborted: stop's grace ran out; nothing may be checkpointed (the journal replays it).
  Outcome Send(const PendingBatch& batch, const JournalEntry& entry);

  // Called on this sender's thread after records were written to the error output: the key and
  // the JSON-lines object written (backup mode failed_only sends it to the backup sink).
  using SpillHook =
      std::function<void(std::string_view key, std::string_view jsonl, const JournalEntry& entry)>;
  void set_spill_hook(SpillHook hook) { spill_hook_ = std::move(hook); }
  // Object sinks: called on this sender's thread before an object is written to the error
  // output (the batch's journal entry records it, so a replay after a crash spills the object
  // again instead of delivering it). A replayed entry naming its object spilled is spilled so.
  using SpillIntent = std::function<void(const SpilledPart& part)>;
  void set_spill_intent(SpillIntent intent) { spill_intent_ = std::move(intent); }
  // Where spills are said (not owned; must outlive the sender). Unset: nothing is logged.
  void set_spill_warner(SpillWarner* warner) { warner_ = warner; }
  // Where this sender's plugin calls are recorded (slot: the worker's); durably when the
  // instance runs in the daemon's process. Unset: calls are not recorded.
  void set_call_ledger(CallLedger* ledger, int slot) {
    ledger_ = ledger;
    slot_ = slot;
  }
  // Calls the plugin's on_healthcheck (recorded in the call ledger) and notes the answer in the
  // counters; logs a change. Also called between retries, at most every 30 s.
  void CheckHealth();
  // Names for the retry and recovery log lines.
  void set_names(std::string delivery, std::string sink) {
    delivery_ = std::move(delivery);
    sink_type_ = std::move(sink);
  }

 private:
  struct Spill {
    uint32_t index;
    int attempts;
    std::string code, message;
  };
  bool WriteSpill(const PendingBatch& batch, const JournalEntry& entry, std::vector<Spill>* spill);
  // How long `entry` is retried, once `elapsed_ms` would pass retry_duration: still that, or the
  // sink type's most for an object that may be in the sink already: a replay, or one an attempt
  // reached the sink with and got no answer for (`maybe_stored`); logged once per batch, `said`.
  int64_t RetryLimitMs(const JournalEntry& entry, bool maybe_stored, int64_t elapsed_ms,
                       bool* said);

  SinkInstance* sink_;
  bool object_sink_;
  Compression compression_;
  ObjectEncoder encoder_;
  ResolvedPolicy policy_;
  Backoff backoff_;
  ErrorWriter errors_;
  const Clock* clock_;
  Stopper* stopper_;
  DeliveryCounters* counters_;
  std::mt19937_64 rng_;
  // Scratch reused across batches.
  std::unique_ptr<Encryptor> encryptor_;  // null: no client-side encryption
  std::string encoded_, encrypted_;
  std::vector<uint32_t> pending_, still_;
  std::vector<sluice_record> records_;
  std::vector<const char*> key_ptrs_;  // parallel to records_ when the batch keeps keys
  std::vector<sluice_record_outcome> outcomes_;
  std::string ids_;
  std::vector<FailedRecord> failed_;
  SpillHook spill_hook_;
  SpillIntent spill_intent_;
  SpillWarner* warner_ = nullptr;
  std::string delivery_, sink_type_;
  CallLedger* ledger_ = nullptr;
  int64_t last_health_mono_ = 0;
  int slot_ = 0;
};

}  // namespace sluice::buffer
