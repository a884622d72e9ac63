// FlowStats: counters of one flow, for /metrics and /status. Plain data copied out by
// Flow::stats() on the loop thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::agent {

// One processing step's counts.
struct StepStats {
  std::string name;      // "2:grep": its position in `processing` (from 1) and its kind
  uint64_t dropped = 0;  // records it dropped
  uint64_t failed = 0;   // records it could not parse
  uint64_t changed = 0;  // records it edited (modify, mask) or timed (timestamp)
};

struct FlowStats {
  uint64_t files_tracked = 0;          // files known (open or idle-closed)
  uint64_t files_open = 0;             // file descriptors held
  uint64_t bytes_read = 0;             // bytes read from files
  uint64_t records_put = 0;            // records the stream accepted
  uint64_t bytes_put = 0;              // record bytes the stream accepted
  uint64_t rotations = 0;              // files let go after rename, deletion or relinking
  uint64_t truncations = 0;            // copytruncate seen: reread from 0
  uint64_t copies = 0;                 // files recognised as copies of one already read
  uint64_t resumed_from_stream = 0;    // files resumed at start from positions in the stream
  uint64_t parse_failures = 0;         // records a processing step could not parse (passed through)
  uint64_t error_output_records = 0;   // unparsed records sent to the error output
  uint64_t error_output_failures = 0;  // writes of the error output that failed (retried)
  uint64_t records_truncated = 0;      // records cut at max_record_size
  uint64_t bytes_behind = 0;           // bytes in tracked files not yet durably checkpointed
  uint64_t put_throttled = 0;          // PutBatch refusals (limits, quota): reading paused, retried
  uint64_t put_errors = 0;             // other PutBatch failures, retried
  uint64_t open_errors = 0;            // files that could not be opened (e.g. permission denied)
  uint64_t watch_failures = 0;         // directories polled because inotify refused a watch
  uint64_t checkpoint_writes = 0;
  uint64_t checkpoint_errors = 0;
  uint64_t partition_key_fallbacks = 0;
  uint64_t records_dropped = 0;  // records a processing step (grep) dropped
  // Inputs that are not files (agent/input).
  uint64_t connections_open = 0;     // syslog over TCP: connections open now
  uint64_t connections_refused = 0;  // syslog over TCP: closed at once (max_connections)
  uint64_t restarts = 0;             // exec: starts of the command after its first
  uint64_t messages_truncated = 0;   // syslog: messages cut at max_message_size

  std::vector<StepStats> steps;  // per processing step
};

}  // namespace sluice::agent
