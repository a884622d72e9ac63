// KPL aggregated records (the Kinesis Producer Library's public format, which KCL, Firehose and
// aws-kinesis-agg de-aggregate): many user records in one Kinesis record.
//
//   F3 89 9A C2 | protobuf AggregatedRecord | MD5 of the protobuf bytes (16 bytes)
//   AggregatedRecord { repeated string partition_key_table = 1;
//                      repeated string explicit_hash_key_table = 2;
//                      repeated Record records = 3; }
//   Record { required uint64 partition_key_index = 1; optional uint64 explicit_hash_key_index = 2;
//            required bytes data = 3; repeated Tag tags = 4; }
//
// The three messages are written by hand (tags, varints, lengths): a protobuf library for them
// would be a larger dependency than the code. Explicit hash keys and tags are never written here
// (the outer record carries the shard's hash key); the decoder accepts them.
//
// THREADING: an aggregator is used by one thread; Deaggregate is pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sluice::kinesis {

inline constexpr char kKplMagic[4] = {'\xF3', '\x89', '\x9A', '\xC2'};

class KplAggregator {
 public:
  // The size of the finished record if a record with `key` and `data` were added now.
  size_t SizeWith(std::string_view key, std::string_view data) const;
  size_t size() const { return kOverhead + keys_bytes_ + records_.size(); }
  size_t count() const { return count_; }
  bool empty() const { return count_ == 0; }
  void Add(std::string_view key, std::string_view data);
  // Appends the aggregated record (magic, protobuf, MD5) to *out.
  void Finish(std::string* out) const;
  void Clear();

 private:
  static constexpr size_t kOverhead = 4 + 16;  // magic and MD5
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // Partition key -> its index in the table (looked up without a copy of the key).
  std::unordered_map<std::string, uint64_t, Hash, std::equal_to<>> index_;
  std::string keys_;  // the encoded partition_key_table entries
  size_t keys_bytes_ = 0;
  std::string records_;  // the encoded records entries
  size_t count_ = 0;
};

struct UserRecord {
  std::string partition_key;
  std::string explicit_hash_key;  // "" when none
  std::string data;
};

// The user records of a Kinesis record: false when it is not an aggregated record (no magic, a
// wrong MD5, or a malformed message), in which case a reader takes it as one plain record.
bool Deaggregate(std::string_view record, std::vector<UserRecord>* out);

}  // namespace sluice::kinesis
