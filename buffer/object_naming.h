// Object keys as Firehose writes them to S3: an evaluated prefix plus
// `<delivery>-<version>-YYYY-MM-dd-HH-mm-ss-<id><extension>`.
//
// Prefix expressions: `!{timestamp:<java DateTimeFormatter pattern>}` (UTC, at the arrival time
// of the oldest record in the object; letters y u M d H m s S, 'quoted' literals),
// `!{firehose:random-string}` (11 characters, fresh per occurrence),
// `!{firehose:error-output-type}` (error prefixes only), `!{partitionKeyFromQuery:k}` and
// `!{partitionKeyFromLambda:k}` (prefixes only). Rules as Firehose validates them: `!{` only
// opens an expression; a prefix without a timestamp expression gets `!{timestamp:yyyy/MM/dd/HH/}`
// appended; an error prefix must contain the error output type; at most 512 characters once
// evaluated. Pure functions and immutable values: thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sluice::buffer {

class PrefixTemplate final {
 public:
  enum class Kind { kPrefix, kErrorPrefix };

  // An empty prefix means the default: `yyyy/MM/dd/HH/`, or for an error prefix
  // `!{firehose:error-output-type}/yyyy/MM/dd/HH/`.
  static Result<PrefixTemplate> Parse(std::string_view text, Kind kind);

  // Evaluates the prefix at `ts_ms`. `partition_keys` supplies partitionKeyFrom* values (a
  // missing key is an error).
  Result<std::string> Render(
      int64_t ts_ms, std::string_view error_output_type, std::mt19937_64* rng,
      const std::map<std::string, std::string>* partition_keys = nullptr) const;

  const std::string& text() const { return text_; }
  // Whether the prefix names a partition key (its objects are written per key tuple).
  bool Keyed() const;
  // Whether it has a timestamp expression, and what those render at `ts_ms` (the records of one
  // object share it when they carry times of their own).
  bool Timed() const;
  std::string TimeBucket(int64_t ts_ms) const;

  // Checks the keys the prefix names against what the delivery can supply, as Firehose refuses
  // such a configuration: every !{partitionKeyFromQuery:k} must be one of `query_keys` (the
  // names under `partitioning.keys`; none at all without partitioning), and
  // !{partitionKeyFromLambda:k} needs a transform (`lambda_keys`). Without either, the prefix
  // must render (e.g. stay within 512 characters).
  Status CheckKeys(const std::vector<std::string>& query_keys, bool lambda_keys) const;

 private:
  enum class PartKind { kLiteral, kTimestamp, kRandom, kErrorType, kKeyFromQuery, kKeyFromLambda };
  struct Part {
    PartKind kind;
    std::string text;  // literal text, timestamp pattern (compiled) or key name
  };
  std::string text_;
  std::vector<Part> parts_;
};

// `<delivery>-<version>-YYYY-MM-dd-HH-mm-ss-<id>` at `ts_ms` (UTC).
std::string ObjectName(std::string_view delivery, int version, int64_t ts_ms, std::string_view id);
// A UUID-shaped id derived from `seed` (MD5), so the same batch always gets the same id.
std::string StableId(std::string_view seed);
// Formats `ts_ms` with a Java DateTimeFormatter pattern (UTC); the pattern must have passed
// Parse. Unknown letters are an error.
Result<std::string> FormatTimestamp(std::string_view pattern, int64_t ts_ms);

}  // namespace sluice::buffer
