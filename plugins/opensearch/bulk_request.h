// The OpenSearch sink's pure protocol logic: Firehose's index rotation names, _bulk NDJSON
// bodies, and ClassifyResponse for a _bulk answer, item by item. No I/O.
// THREADING: pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "plugins/common/sink_util.h"
#include "sluice_sink.hpp"

namespace sluice::opensearch_sink {

enum class Rotation { kNoRotation, kOneHour, kOneDay, kOneWeek, kOneMonth };

// "NoRotation" ... "OneMonth" (Firehose's IndexRotationPeriod names); false when unknown.
bool ParseRotation(std::string_view name, Rotation* out);

// The index for a record that arrived at `arrival_ms` (UTC), named as Firehose names it:
// myindex, myindex-2016-02-25-13, myindex-2016-02-25, myindex-2016-w08, myindex-2016-02.
// Weeks start on Sunday and are numbered as strftime's %U (week 1 starts on the year's first
// Sunday; the days before it are w00), which reproduces Firehose's documented example; the year
// is the calendar year of the record.
void AppendIndexName(std::string_view base, Rotation rotation, int64_t arrival_ms,
                     std::string* out);

enum class Action { kIndex, kCreate };

// Appends one action line and one source line to a _bulk body:
//   {"index":{"_index":"<index>","_id":"<id>"}}\n<source>\n
// `id` empty: the cluster assigns one. `type_name` empty: no _type (OpenSearch has none).
void AppendBulkItem(Action action, std::string_view index, std::string_view type_name,
                    std::string_view id, std::string_view source, std::string* out);

// The source line of a record: its bytes without a trailing newline. False when the record
// cannot be a _bulk source line (empty, or a newline inside).
bool SourceLine(std::string_view data, std::string_view* line);

// The outcome of one _bulk item (or of all, when the request as a whole failed).
struct ItemResult {
  enum class Verdict { kOk, kRetry, kReject } verdict = Verdict::kOk;
  int status = 0;
  std::string error_type;    // e.g. mapper_parsing_exception
  std::string error_reason;  // the cluster's reason
};

// The verdict on a _bulk answer: for the whole request (action), or per item (per_item: items
// holds one result per request item, in order; action is kOk).
struct BulkClassification : sink::SinkVerdict {
  bool per_item = false;
  std::vector<ItemResult> items;
};

// Classifies the answer to a _bulk request of `item_count` items sent with `action`.
// 200 (or 201) with "errors":false: ok. With "errors":true: per item, where 2xx is ok, 409 on
// create is ok (the document with this id exists: a replay), 429 and 5xx retry, 401/403 retry,
// anything else (mapping errors, ...) rejects. A 200 body that is not a bulk answer for exactly
// `item_count` items retries. Other statuses follow the common rule (408/429/5xx/no answer
// retry honouring Retry-After, 401/403 retry loudly, other 4xx reject).
BulkClassification ClassifyResponse(long status, std::string_view body, size_t item_count,
                                    Action action, uint32_t retry_after_ms = 0,
                                    std::string_view transport_error = {});

// The reason text of a rejected document, in the shape of Firehose's
// AmazonOpenSearchService-failed record fields:
//   {"errorCode":"400","errorMessage":"...","esDocumentId":"...","esIndexName":"..."}
std::string RejectReason(const ItemResult& item, std::string_view doc_id, std::string_view index);

}  // namespace sluice::opensearch_sink
