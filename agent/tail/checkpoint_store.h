// CheckpointStore: the durable per-file positions of one flow, kept in one JSON file
// `<checkpoint_dir>/<flow>.json` and replaced atomically (write a temporary, fsync, rename, fsync
// the directory). The flow writes it in batches, never per record, and only with offsets the
// broker has made durable.
//
// THREADING: not thread-safe; used from the loop thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "agent/tail/file_identity.h"
#include "core/status.h"

namespace sluice::agent {

struct FileCheckpoint {
  std::string path;  // last path the file was seen under (informational)
  FileId id;
  Fingerprint fingerprint;
  uint64_t offset = 0;       // resume here: past the last durable record
  uint32_t prefix_len = 0;   // bytes before `offset` covered by prefix_hash
  uint64_t prefix_hash = 0;  // hash of [offset - prefix_len, offset)
};

// Where a flow's position tags past this checkpoint are (agent/tail/source_position.h): every
// position put with a tag numbered up to `seq` is in the checkpoint's offsets; later tags are at
// or past `shards` (shard index, offset) of the flow's stream, or in shards not listed.
struct TagScan {
  uint64_t seq = 0;
  std::vector<std::pair<uint32_t, uint64_t>> shards;
};

struct FlowCheckpoint {
  std::vector<FileCheckpoint> files;
  bool has_tags = false;  // written by a version that tags its puts
  TagScan tags;
};

class CheckpointStore final {
 public:
  // Creates `dir` if needed. `flow_name` names the file; characters outside [A-Za-z0-9._-] become
  // '_'.
  CheckpointStore(std::filesystem::path dir, std::string_view flow_name);

  // Reads the checkpoint file; an absent file is no checkpoints. A malformed file is an error
  // naming the file and what is wrong.
  Result<FlowCheckpoint> Load() const;
  // Replaces the checkpoint file with `entries` (and `tags`, may be null), atomically and
  // durably.
  Status Save(const std::vector<FileCheckpoint>& entries, const TagScan* tags = nullptr);

  const std::filesystem::path& path() const { return path_; }
  uint64_t writes() const { return writes_; }

 private:
  std::filesystem::path dir_;
  std::filesystem::path path_;
  uint64_t writes_ = 0;
};

}  // namespace sluice::agent
