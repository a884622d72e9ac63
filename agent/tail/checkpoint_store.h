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

class CheckpointStore final {
 public:
  // Creates `dir` if needed. `flow_name` names the file; characters outside [A-Za-z0-9._-] become
  // '_'.
  CheckpointStore(std::filesystem::path dir, std::string_view flow_name);

  // Reads the checkpoint file; an absent file is no checkpoints. A malformed file is an error
  // naming the file and what is wrong.
  Result<std::vector<FileCheckpoint>> Load() const;
  // Replaces the checkpoint file with `entries`, atomically and durably.
  Status Save(const std::vector<FileCheckpoint>& entries);

  const std::filesystem::path& path() const { return path_; }
  uint64_t writes() const { return writes_; }

 private:
  std::filesystem::path dir_;
  std::filesystem::path path_;
  uint64_t writes_ = 0;
};

}  // namespace sluice::agent
