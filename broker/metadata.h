// Stream metadata: options, shards (ranges, lineage, epochs, open/closed), consumers and their
// checkpoints. Stored as JSON in <stream dir>/stream.json, replaced atomically (write, fsync,
// rename). Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "broker/broker.h"

namespace sluice::broker {

struct ShardMeta {
  uint32_t index = 0;
  uint128 start = 0;
  uint128 end = 0;
  int64_t parent = -1;    // index of ParentShardId, -1 for none
  int64_t adjacent = -1;  // index of AdjacentParentShardId, -1 for none
  uint64_t epoch = 0;
  bool open = true;
  uint64_t end_offset = 0;  // the shard's end offset once closed
  int64_t created_ms = 0;
  int64_t closed_ms = 0;
  bool expired = false;  // closed and past retention: gone from listings, files removed
};

struct StreamMeta {
  StreamOptions options;
  std::vector<ShardMeta> shards;  // shards[i].index == i
  std::map<std::string, std::map<uint32_t, uint64_t>, std::less<>> consumers;
  // When each consumer was registered (wall-clock ms); absent for consumers of data directories
  // written before it was kept.
  std::map<std::string, int64_t, std::less<>> consumer_created_ms;
};

std::string EncodeStreamMeta(const StreamMeta& meta);
// `where` names the file in error messages.
Result<StreamMeta> DecodeStreamMeta(std::string_view json, const std::string& where);

std::string ShardId(uint32_t index);  // "shardId-000000000000"

}  // namespace sluice::broker
