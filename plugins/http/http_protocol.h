// The HTTP endpoint sink's pure protocol logic: request bodies for Firehose's HTTP endpoint
// delivery protocol (version 1.0) and for plain receivers (`raw` mode), how a batch is cut into
// requests, and ClassifyResponse for both modes. No I/O.
// THREADING: pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "plugins/common/sink_util.h"
#include "sluice_sink.hpp"

namespace sluice::http_sink {

// Firehose's limits for one request.
inline constexpr size_t kMaxRecordsPerRequest = 10000;
inline constexpr size_t kMaxBodyBytes = 64u << 20;  // before compression

enum class Mode { kFirehose, kRaw };
enum class RawFormat { kNdjson, kJsonArray };

// One request's share of a batch: records [first, first + count).
struct Chunk {
  size_t first = 0;
  size_t count = 0;
};

// Cuts the batch into requests of at most `max_records` records and `max_body` body bytes
// (estimated exactly for Firehose bodies: base64 plus envelope). A record that alone exceeds
// `max_body` gets a request of its own (the endpoint then answers 413).
std::vector<Chunk> PlanChunks(const Batch& batch, Mode mode, size_t max_records, size_t max_body);

// The Firehose request id of a chunk: a GUID derived from the batch id and the chunk's first
// record id, so every retry of the same records carries the same id.
std::string RequestIdFor(const Batch& batch, const Chunk& chunk);

// Appends {"requestId":..,"timestamp":..,"records":[{"data":"<base64>"},..]} to *out.
void AppendFirehoseBody(std::string_view request_id, int64_t timestamp_ms, const Batch& batch,
                        const Chunk& chunk, std::string* out);

// Appends the records as NDJSON (each record, then "\n" unless it ends with one) or as a JSON
// array of the records' texts (records must be JSON values; a trailing newline is dropped).
void AppendRawBody(RawFormat format, const Batch& batch, const Chunk& chunk, std::string* out);

// The verdict on an endpoint's answer (plugins/common's SinkVerdict).
using Classification = sink::SinkVerdict;

// Firehose mode. `status` 0 means no answer (connect failure, timeout), `transport_error` then
// says why. Only 200 with a JSON body whose requestId equals `request_id` is success; 413 is
// permanent; everything else, including an answer that does not follow the spec, is retried.
Classification ClassifyResponse(long status, std::string_view body, std::string_view request_id,
                                std::string_view transport_error = {});

// Raw mode: 2xx ok; 408, 429, 5xx and no answer retry (honouring `retry_after_ms`); 401/403
// retry loudly; other statuses reject.
Classification ClassifyRawResponse(long status, std::string_view body, uint32_t retry_after_ms,
                                   std::string_view transport_error = {});

}  // namespace sluice::http_sink
