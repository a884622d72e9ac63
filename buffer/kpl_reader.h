// Reading KPL aggregated records (the Kinesis Producer Library's format, which the KCL and
// Firehose de-aggregate) for the kinesis delivery source, without copying their user records:
//
//   F3 89 9A C2 | protobuf AggregatedRecord | MD5 of the protobuf bytes (16 bytes)
//   AggregatedRecord { repeated string partition_key_table = 1;
//                      repeated string explicit_hash_key_table = 2;
//                      repeated Record records = 3; }
//   Record { required uint64 partition_key_index = 1; optional uint64 explicit_hash_key_index = 2;
//            required bytes data = 3; repeated Tag tags = 4; }
//
// plugins/kinesis/kpl.h writes this format for the kinesis sink (and has a copying decoder
// there); the buffer library does not depend on a sink's code, and a source reads every record
// of a stream, so this reader hands out views into the record and reuses its tables.
// Explicit hash keys and tags are skipped.
//
// THREADING: a KplReader is used by one thread; the views it hands out point into the record
// given to Read and stay valid while it does.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace sluice::buffer {

inline constexpr char kKplMagic[4] = {'\xF3', '\x89', '\x9A', '\xC2'};

class KplReader {
 public:
  enum class Kind {
    kPlain,       // no magic: one plain record
    kAggregated,  // records() holds its user records (possibly none)
    kBad,         // the magic, but a wrong MD5 or a malformed message: take it as a plain record
  };
  struct UserRecord {
    std::string_view partition_key;
    std::string_view data;
  };

  Kind Read(std::string_view record);
  // The user records of the last Read that returned kAggregated, in order.
  const std::vector<UserRecord>& records() const { return records_; }

 private:
  bool Parse(std::string_view message);
  std::vector<std::string_view> keys_;
  std::vector<uint64_t> key_index_;  // per user record, checked against keys_ at the end
  std::vector<UserRecord> records_;
};

}  // namespace sluice::buffer
