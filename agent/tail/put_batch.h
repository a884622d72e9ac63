// BatchPutter: puts a batch of records (keys and data in one arena) into a broker stream in
// chunks within the stream's PutBatch limits, the part of publishing every source shares: the
// file Flow and the non-file inputs (agent/input). What a source does around it (which records
// a put completes, checkpoints, pausing reads, retry timers) stays with the source.
//
// THREADING: not thread-safe (reuses its scratch vectors); one per source, on its loop thread.
// OWNERSHIP: `stream` is not owned and must outlive the putter.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "agent/tail/flow_stats.h"
#include "broker/broker.h"
#include "core/hash_key.h"
#include "core/status.h"

namespace sluice::agent {

// One record of a batch: its key and data as ranges of the batch's arena.
struct BatchEntry {
  uint32_t key_off, key_len;
  uint32_t data_off, data_len;
  uint128 hash_key;
  bool has_hash_key;
  bool done;  // in the stream (or nothing to put): skipped by later puts
  int64_t event_ms = broker::kNoEventTime;  // the record's own time (a timestamp step)
};

// The outcome of one Put: every entry put, or the first refusal (entries before it may be done).
struct PutOutcome {
  bool all_ok = true;
  Code failure = Code::kOk;
  std::string message;
};

// Gives each put a producer tag (broker::PutTag), for a source that resumes from its tags after
// a crash (the file Flow: where each file's records end).
class PutTagger {
 public:
  virtual ~PutTagger() = default;
  // The tag of a put of the entries `in_put` names (ascending indices, none done yet); the
  // others are done (in the stream already) or not. Empty: the put carries none.
  virtual std::string_view TagFor(std::span<const uint32_t> in_put) = 0;
  // The stream wrote the tag TagFor gave last (on tag.shard_index, tag.offset).
  virtual void Written(const broker::PutTag& tag) = 0;
};

class BatchPutter final {
 public:
  BatchPutter(broker::Stream* stream, std::string flow, int max_records, uint64_t max_bytes);

  // Puts every entry not done, in order; marks each one the stream accepted done and counts
  // records_put and bytes_put in `stats`. A chunk the stream rejects as invalid is logged,
  // counted in put_errors and marked done (retrying cannot change it). Stops at the first
  // refusal. Entry i of `count` is at `first + i * stride` bytes (a vector of BatchEntry or of a
  // type derived from it): no call per record to find it.
  // With `tagger`, each PutBatch carries the tag it gives and holds the records of one shard
  // only (routed here by hash key as the stream would): one write, so a kill -9 leaves a put
  // and its tag in the stream whole or not at all. Keys without a hash key get it here (MD5),
  // and the stream is given it so it does not hash again.
  PutOutcome Put(std::string_view arena, char* first, size_t stride, size_t count, FlowStats* stats,
                 PutTagger* tagger = nullptr);

  // Put over a vector of entries (BatchEntry or a type derived from it).
  template <class E>
  PutOutcome Put(std::string_view arena, std::vector<E>& entries, FlowStats* stats,
                 PutTagger* tagger = nullptr) {
    static_assert(std::is_base_of_v<BatchEntry, E>);
    // The BatchEntry inside each E, found once; the others are sizeof(E) apart.
    char* first =
        entries.empty() ? nullptr : reinterpret_cast<char*>(static_cast<BatchEntry*>(&entries[0]));
    return Put(arena, first, sizeof(E), entries.size(), stats, tagger);
  }

  // Tagged puts of records with random keys (`partition_key: random`): each Put cuts the entries
  // not done, in batch order, into one run per open shard and sends run j to shard
  // (first + j) mod shards, `first` drawn at random: every batch is spread evenly over the
  // shards, and its puts follow the batch's order, so each put's tag names every file up to
  // where the put ends. The records keep their random keys; routing is by explicit hash key.
  void set_spread(bool spread) {
    spread_ = spread;
    spread_draw_ = std::random_device{}();
  }

  // Counts a failed Put (throttled or error) and logs the first refusal of a series.
  void NoteRefusal(const PutOutcome& outcome, bool already_refused, FlowStats* stats) const;

 private:
  broker::Stream* stream_;
  std::string flow_;
  size_t max_records_;
  uint64_t max_bytes_;
  std::vector<broker::PutRecordIn> put_in_;
  std::vector<broker::PutRecordOut> put_out_;
  std::vector<uint32_t> put_index_;
  // Routing of tagged puts: the open shards by starting hash key; the not-done entries grouped
  // by shard (batch order within one), and where each shard's group starts.
  struct Route {
    uint128 start;
    uint32_t shard;
  };
  std::vector<Route> routes_;
  std::vector<uint32_t> route_of_;
  std::vector<uint32_t> order_;
  std::vector<uint32_t> group_start_;
  std::vector<uint32_t> group_order_;  // the groups by their first entry: the batch's order
  bool spread_ = false;
  uint64_t spread_draw_ = 0;  // the shard the next spread batch starts at (a counter, mixed)
};

// The delay before retry number `attempt` (from 0) of a refused put: capped exponential back-off
// with full jitter, 100 ms .. 10 s.
int64_t PutRetryDelayMs(int attempt);

}  // namespace sluice::agent
