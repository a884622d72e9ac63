// The Splunk sink's pure protocol logic: HTTP Event Collector (HEC) request bodies for the
// `event` endpoint (one JSON envelope per record) and the `raw` endpoint, ClassifyResponse for
// HEC answers (by HEC code), the indexer-acknowledgement query and answer, and the ack wait
// loop with an injected clock. No I/O of its own.
// THREADING: pure functions; HecEncoder belongs to one sink instance.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "plugins/common/sink_util.h"
#include "sluice_sink.hpp"

namespace sluice::splunk_sink {

struct EventMeta {
  std::string host, source, sourcetype, index;
  std::vector<std::pair<std::string, std::string>> fields;  // indexed fields
};

class HecEncoder final {
 public:
  explicit HecEncoder(EventMeta meta);

  // Appends one envelope per record to *out:
  //   {"time":1700000000.123,"host":..,"source":..,"sourcetype":..,"index":..,"fields":{..},
  //    "event":<record>}
  // The event is the record itself when it is a JSON object or array, otherwise a JSON string of
  // its text; a trailing newline is dropped. Empty metadata is left out. `time` is the arrival.
  void AppendEvents(const Batch& batch, std::string* out);

  // Records already shaped as HEC events (e.g. by a transform), one after another.
  static void AppendPreformatted(const Batch& batch, std::string* out);

  // Appends the records for the raw endpoint, each followed by "\n" unless it ends with one.
  static void AppendRaw(const Batch& batch, std::string* out);

  // The raw endpoint's query string for the metadata ("?host=..&sourcetype=.."), or "".
  std::string RawQuery() const;

 private:
  EventMeta meta_;
  std::string prefix_;  // ,"host":..,... up to "event":
};

// The verdict on a HEC answer, with what HEC says more.
struct HecClassification : sink::SinkVerdict {
  int hec_code = -1;           // the answer's "code", -1 when absent
  int64_t ack_id = -1;         // the answer's "ackId", -1 when absent
  int64_t invalid_event = -1;  // "invalid-event-number": the first event HEC refused
};

// HEC codes: 0 ok; 9 (server busy), 8 (internal error), 18-20 (unhealthy) retry; 1-4 (token),
// 10-11 (channel), 14 (acks disabled), 16 retry loudly; 5, 6, 7, 12, 13, 15 (no data, invalid
// data format, incorrect index, event field missing or blank, indexed fields) reject. An answer
// without a code follows the common HTTP rule. `status` 0: no answer (`transport_error`).
HecClassification ClassifyResponse(long status, std::string_view body, uint32_t retry_after_ms,
                                   std::string_view transport_error = {});

// {"acks":[id,...]}
std::string AckQueryBody(const std::vector<int64_t>& ids);

// Reads {"acks":{"<id>":true|false,...}}: the status of `id`. False when the body has no entry
// for it (or is malformed: *malformed set).
bool AckStatus(std::string_view body, int64_t id, bool* malformed);

// One ack query: the HTTP status and body (status 0: no answer).
struct AckPoll {
  long status = 0;
  std::string body;
  std::string transport_error;
};

struct AckWaitResult {
  enum class State { kAcked, kTimeout, kError } state = State::kAcked;
  bool loud = false;
  int polls = 0;
  std::string error_code, error_message;
};

// Polls `query` every `interval_ms` until `ack_id` is acknowledged, an error that polling cannot
// fix (acks disabled, token refused), or `timeout_ms` after `start_ms` (Splunk.AckTimeout).
// Transient query failures (busy, no answer) keep polling. `now_ms` and `sleep_ms` are the clock.
AckWaitResult WaitForAck(int64_t ack_id, int64_t start_ms, int64_t timeout_ms, int64_t interval_ms,
                         const std::function<int64_t()>& now_ms,
                         const std::function<void(int64_t)>& sleep_ms,
                         const std::function<AckPoll(int64_t)>& query);

}  // namespace sluice::splunk_sink
