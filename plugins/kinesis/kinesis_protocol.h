// The Kinesis Data Streams PutRecords call, as the `kinesis` sink makes it: which records go in
// which call, the request body, and what the answer says of each record.
//
// Limits (AWS's): at most 500 records and 5 MiB per call; a record's data plus its partition key
// at most 1 MiB; a partition key 1 to 256 Unicode characters. The body is the JSON protocol
// (`application/x-amz-json-1.1`, `X-Amz-Target: Kinesis_20131202.PutRecords`): Data in base64.
//
// THREADING: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "plugins/common/aws_json.h"

namespace sluice::kinesis {

inline constexpr size_t kMaxRecordsPerCall = 500;
inline constexpr size_t kMaxBytesPerCall = 5u << 20;  // data + partition keys
inline constexpr size_t kMaxRecordBytes = 1u << 20;   // data + partition key
inline constexpr size_t kMaxPartitionKeyChars = 256;

// One record to put: its index (in the batch, or of its aggregate), its data, its partition key
// and, when set, the explicit hash key that picks its shard instead of the key's MD5.
struct PutEntry {
  size_t index;
  std::string_view data;
  std::string_view key;
  std::string_view explicit_hash_key = {};
};

// Splits `entries` (in order) into calls within the limits: [first, first + count) of entries.
using sink::CallRange;
std::vector<CallRange> PlanCalls(const std::vector<PutEntry>& entries,
                                 size_t max_records = kMaxRecordsPerCall,
                                 size_t max_bytes = kMaxBytesPerCall);

// Ok when the record can be put; else InvalidArgument saying why not: over 1 MiB with its key, or
// a key that is empty, not UTF-8 or longer than 256 characters.
Status CheckRecord(std::string_view data, std::string_view key);

// Appends the PutRecords request body for entries [range.first, +count) to *out.
// Exactly one of `stream_name` and `stream_arn` is non-empty.
void AppendPutRecordsBody(std::string_view stream_name, std::string_view stream_arn,
                          const std::vector<PutEntry>& entries, CallRange range, std::string* out);

// What an answer says (see plugins/common/aws_json.h).
using PutRecordsAnswer = sink::AwsBatchAnswer;
// `status` 0: no answer (transport error, in `transport`).
PutRecordsAnswer ParsePutRecordsAnswer(long status, std::string_view body, size_t expected,
                                       std::string_view transport = {});

// One shard's hash key range, as ListShards answers it.
struct ShardRange {
  unsigned __int128 start, end;
  std::string start_text;  // decimal, as sent in ExplicitHashKey
};
// Reads a ListShards answer: the open shards' ranges (sorted by start) and the next token ("" at
// the end). False when the answer is not one.
bool ParseListShards(std::string_view body, std::vector<ShardRange>* shards,
                     std::string* next_token);

}  // namespace sluice::kinesis
