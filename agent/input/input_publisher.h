// InputPublisher: the publishing half shared by every source that is not a file tail (syslog,
// stdin, exec, journal). Records arrive already framed; each goes through the flow's processing
// steps (Processor) and partition key, and batches are put into the broker stream with the file
// Flow's rules: chunks within the stream's limits (BatchPutter), reads paused while the stream
// refuses or the buffer is full, capped exponential retry with jitter, and positions reported
// back only once the stream has made them durable (for sources that checkpoint, the journal).
//
// Records a step marks for the error output pass through unchanged (counted as unparsed): the
// error output is a file-source feature for now.
//
// THREADING: loop thread only, like the source that owns it.
// OWNERSHIP: `loop`, `stream` and `clock` are not owned and must outlive the publisher. It owns
// two timers; after Start it may be destroyed only once the Close callback has run.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/tail/flow_options.h"
#include "agent/tail/flow_stats.h"
#include "agent/tail/partition_key.h"
#include "agent/tail/processor.h"
#include "agent/tail/put_batch.h"
#include "broker/broker.h"
#include "core/clock.h"
#include "core/status.h"

namespace sluice::agent {

class InputPublisher final {
 public:
  static Result<std::unique_ptr<InputPublisher>> Create(uv_loop_t* loop, const FlowOptions& opts,
                                                        broker::Stream* stream, Clock* clock);
  ~InputPublisher();
  InputPublisher(const InputPublisher&) = delete;
  InputPublisher& operator=(const InputPublisher&) = delete;

  // Starts the timers (flush and durability checks).
  void Start();
  // Processes and batches one record. `origin` is what add_metadata's `file` and partition_key
  // `file` see ("syslog", "stdin", the command). `position` is the source's own count of the
  // record, handed to on_durable once it and every record before it are durable.
  void Add(std::string_view record, std::string_view origin, uint64_t position = 0);
  // False while the stream refuses or max_buffer_size bytes wait: the source should stop reading
  // until on_accepting runs.
  bool accepting() const { return !refused_ && arena_.size() < opts_.max_buffer_bytes; }
  void set_on_accepting(std::function<void()> fn) { on_accepting_ = std::move(fn); }
  void set_on_durable(std::function<void(uint64_t)> fn) { on_durable_ = std::move(fn); }
  // Puts what is batched and syncs the stream now (a source at its end, e.g. stdin at EOF).
  void FlushAndSync();
  // The last flush: puts what is batched (once), syncs, reports durability and closes the
  // timers; `on_closed` runs when they are closed.
  void Close(std::function<void()> on_closed);

  FlowStats& mutable_stats() { return stats_; }
  FlowStats stats() const;
  // The records batched or put and not yet durable.
  uint64_t records_behind() const { return batch_.size() + pending_.size(); }

 private:
  struct Entry : BatchEntry {
    uint64_t position;
  };
  struct Pending {
    uint64_t generation;
    uint64_t position;
  };
  InputPublisher(uv_loop_t* loop, const FlowOptions& opts, broker::Stream* stream, Clock* clock);
  bool Flush();  // false while the stream refuses
  void AdvanceDurable();
  void Kick();
  static void OnKick(uv_timer_t* t);
  static void OnTick(uv_timer_t* t);

  uv_loop_t* loop_;
  const FlowOptions opts_;
  broker::Stream* stream_;
  uint64_t hold_;
  Clock* clock_;
  std::unique_ptr<Processor> processor_;
  std::unique_ptr<PartitionKeyer> keyer_;
  std::string host_;
  BatchPutter putter_;
  std::string arena_;
  std::vector<Entry> batch_;
  std::deque<Pending> pending_;
  bool refused_ = false;
  int retry_attempt_ = 0;
  int64_t retry_at_ms_ = 0;
  bool started_ = false;
  bool closing_ = false;
  bool kick_armed_ = false;
  int open_handles_ = 0;
  uv_timer_t kick_{};
  uv_timer_t tick_{};
  std::function<void()> on_accepting_;
  std::function<void(uint64_t)> on_durable_;
  std::function<void()> on_closed_;
  FlowStats stats_;
};

}  // namespace sluice::agent
