// Shard iterators: opaque, tamper-proof, expiring tokens naming (stream, shard, offset).
//
// A token is base64(payload || HMAC-SHA256(key, payload)[0..16)) with payload
//   version u8 (1) | shard index u32 | offset u64 | issued ms i64 | stream name bytes
// (little-endian). The key is 32 random bytes kept in <data_dir>/iterator.key (mode 0600), so
// tokens survive a restart and cannot be forged to reach another stream or shard. A token is
// refused with kExpired once ttl has passed since issue (by the broker's Clock, wall time).
//
// THREADING: IteratorCodec is immutable after Open; every method is thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "broker/broker.h"
#include "core/clock.h"
#include "core/status.h"

namespace sluice::broker {

enum class IteratorType {
  kTrimHorizon,
  kLatest,
  kAtSequenceNumber,
  kAfterSequenceNumber,
  kAtTimestamp,
};

// "TRIM_HORIZON", "LATEST", "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "AT_TIMESTAMP".
Result<IteratorType> ParseIteratorType(std::string_view name);

struct IteratorPosition {
  std::string stream;
  uint32_t shard_index = 0;
  uint64_t offset = 0;
  int64_t issued_ms = 0;
};

class IteratorCodec final {
 public:
  // Loads the key from data_dir/iterator.key, creating it on first use. `clock` is not owned.
  static Result<std::unique_ptr<IteratorCodec>> Open(const std::filesystem::path& data_dir,
                                                     const Clock* clock,
                                                     std::chrono::milliseconds ttl);
  // For tests: a codec with a given 32-byte key.
  IteratorCodec(std::string key, const Clock* clock, std::chrono::milliseconds ttl);

  std::string Encode(std::string_view stream, uint32_t shard_index, uint64_t offset) const;
  // kInvalidArgument for a malformed or forged token, kExpired past the ttl.
  Result<IteratorPosition> Decode(std::string_view token) const;

 private:
  std::string key_;
  const Clock* clock_;
  std::chrono::milliseconds ttl_;
};

// The offset where an iterator of `type` starts. `sequence_number` is read for AT_/AFTER_
// SEQUENCE_NUMBER (it must belong to this shard's epoch), `timestamp_ms` for AT_TIMESTAMP.
Result<uint64_t> IteratorStartOffset(const Stream& stream, uint32_t shard_index, IteratorType type,
                                     std::string_view sequence_number, int64_t timestamp_ms);

// GetShardIterator in one call: resolves the start and encodes the token.
Result<std::string> GetShardIterator(const IteratorCodec& codec, const Stream& stream,
                                     uint32_t shard_index, IteratorType type,
                                     std::string_view sequence_number, int64_t timestamp_ms);

}  // namespace sluice::broker
