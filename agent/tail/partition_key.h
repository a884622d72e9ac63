// PartitionKeyer: the partition key of each record, by the flow's `partition_key` option:
// random | deterministic (MD5 hex of the record) | file (the path) | field:<json path> |
// regex:<pattern with one capture group>. A record without the field or match gets the
// deterministic key instead, and the fallback is counted. Keys are 1..256 bytes.
//
// THREADING: not thread-safe (reuses a JSON document and regex match data); one per flow.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/tail/flow_options.h"
#include "agent/tail/regex.h"
#include "core/hash_key.h"
#include "core/json.h"
#include "core/status.h"

namespace sluice::agent {

inline constexpr size_t kMaxPartitionKey = 256;

class PartitionKeyer final {
 public:
  // `arg`: the JSON path ("a.b.c", optionally starting "$.") or the regex.
  static Result<std::unique_ptr<PartitionKeyer>> Create(PartitionKeyKind kind,
                                                        const std::string& arg, uint64_t seed);
  ~PartitionKeyer();

  // Appends the key of `data` (read from `file`) to `*out`. For `random` it also draws the
  // 128-bit hash key the record is routed by into *hash_key and returns true: uniform over the
  // hash space as the MD5 of a random key is, without hashing each record. False otherwise (the
  // stream hashes the key).
  bool AppendKey(std::string_view data, std::string_view file, std::string* out,
                 uint128* hash_key = nullptr);
  uint64_t fallbacks() const { return fallbacks_; }

 private:
  PartitionKeyer() = default;
  void AppendDeterministic(std::string_view data, std::string* out);
  bool AppendField(std::string_view data, std::string* out);

  PartitionKeyKind kind_ = PartitionKeyKind::kRandom;
  std::vector<std::string> path_;
  std::unique_ptr<Regex> re_;
  std::vector<std::string_view> groups_;
  JsonArena arena_;  // field keys: each line is parsed here
  uint64_t rng_ = 0;
  uint64_t fallbacks_ = 0;
};

}  // namespace sluice::agent
