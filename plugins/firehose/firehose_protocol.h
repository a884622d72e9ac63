// The Firehose PutRecordBatch call, as the `firehose` sink makes it: which records go in which
// call, the request body, what the answer says of each record.
//
// Limits (AWS's): at most 500 records and 4 MiB per call, a record at most 1,000 KiB (1,024,000
// bytes) of data. The body is the JSON protocol (`X-Amz-Target: Firehose_20150804.PutRecordBatch`),
// Data in base64; the answer's `RequestResponses` hold a RecordId or an ErrorCode per record.
//
// THREADING: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "plugins/common/aws_json.h"

namespace sluice::firehose {

inline constexpr size_t kMaxRecordsPerCall = 500;
inline constexpr size_t kMaxBytesPerCall = 4u << 20;
inline constexpr size_t kMaxRecordBytes = 1000u * 1024;

// One record to put: its index in the batch and its data; `newline` appends "\n" to it.
struct BatchEntry {
  size_t index;
  std::string_view data;
};

std::vector<sink::CallRange> PlanCalls(const std::vector<BatchEntry>& entries, bool newline,
                                       size_t max_records = kMaxRecordsPerCall,
                                       size_t max_bytes = kMaxBytesPerCall);

// Ok when the record can be put; else InvalidArgument saying why not: over 1,000 KiB (with its
// newline).
Status CheckRecord(std::string_view data, bool newline);

// Appends the PutRecordBatch body for entries [range.first, +count) to *out.
void AppendPutRecordBatchBody(std::string_view delivery_stream,
                              const std::vector<BatchEntry>& entries, sink::CallRange range,
                              bool newline, std::string* out);

// Reads a PutRecordBatch answer (see sink::ParseAwsBatchAnswer).
sink::AwsBatchAnswer ParsePutRecordBatchAnswer(long status, std::string_view body, size_t expected,
                                               std::string_view transport = {});

}  // namespace sluice::firehose
