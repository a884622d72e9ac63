// Opaque, tamper-proof pagination NextTokens handed to Kinesis clients (ListShards, ListStreams,
// ListStreamConsumers); shard iterators use the broker's IteratorCodec. A token is base64(payload |
// HMAC-SHA256(key, payload)[0..16)). The key is kept in <data_dir>/api_token.key (32 random bytes,
// mode 0600, created once), so NextTokens issued before a restart still page on after it; tokens
// expire by their issue time (the operations' TTL), not with the process.
//
// THREADING: immutable after Create; all methods are const and thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/status.h"

namespace sluice::broker::api {

struct TokenFields {
  uint8_t kind = 0;  // what the token is for; a token of another kind is rejected
  int64_t issued_ms = 0;
  uint32_t shard_index = 0;
  uint64_t offset = 0;
  std::string name;   // stream name or a pagination key, up to 255 bytes
  std::string extra;  // a second string (e.g. the stream for a NextToken), up to 255 bytes
};

inline constexpr uint8_t kTokenListShards = 2;
inline constexpr uint8_t kTokenListStreams = 3;
inline constexpr uint8_t kTokenListConsumers = 4;

class TokenCodec final {
 public:
  // A codec with a fresh random key, kept by nothing (tokens die with the codec).
  static Result<TokenCodec> Create();
  // The codec of a data directory: the key in <data_dir>/api_token.key, created (random, 0600,
  // written whole before it appears under its name) when absent or not a key. Instances that
  // open one directory at once all get the key that won the creation.
  static Result<TokenCodec> Open(const std::filesystem::path& data_dir);
  // A codec with a given key (tests).
  explicit TokenCodec(std::string key) : key_(std::move(key)) {}

  std::string Encode(const TokenFields& fields) const;
  // kInvalidArgument for anything malformed, forged or of another kind.
  Result<TokenFields> Decode(std::string_view token, uint8_t kind) const;

 private:
  std::string key_;
};

}  // namespace sluice::broker::api
