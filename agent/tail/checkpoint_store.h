// CheckpointStore: the durable per-file positions of one flow, kept in one JSON file
// `<checkpoint_dir>/<flow>.json` and replaced atomically (write a temporary, fsync, rename, fsync
// the directory). The flow writes it in batches, never per record, and only with offsets the
// broker has made durable.
//
// A full disk refuses the temporary file, and a file the daemon was reading may then be named
// nowhere durable (renamed out of the globs meanwhile, a restart would not find it). So beside
// the file is a spare, `<flow>.json.spare`, its space reserved (posix_fallocate, twice the
// checkpoint's size, at least 16 KiB) after each write that had room: when the replacement
// fails, the checkpoint is written into the spare in place (one pwrite and fdatasync, no new
// blocks) under a header with its length and CRC32C. Every checkpoint carries a serial; Load
// takes the spare when it is whole and newer than the file.
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
  uint64_t serial = 0;  // counts the flow's checkpoints (0: a version that did not count)
  std::vector<FileCheckpoint> files;
  bool has_tags = false;  // written by a version that tags its puts
  TagScan tags;
};

class CheckpointStore final {
 public:
  // Creates `dir` if needed. `flow_name` names the file; characters outside [A-Za-z0-9._-] become
  // '_'.
  CheckpointStore(std::filesystem::path dir, std::string_view flow_name);

  // Reads the checkpoint file (or the spare, when it is whole and newer); an absent file is no
  // checkpoints. A malformed file is an error naming the file and what is wrong; a torn spare
  // is ignored.
  Result<FlowCheckpoint> Load() const;
  // Replaces the checkpoint file with `entries` (and `tags`, may be null), atomically and
  // durably; when that fails, writes them into the spare. The error is the file's when both fail.
  Status Save(const std::vector<FileCheckpoint>& entries, const TagScan* tags = nullptr);

  const std::filesystem::path& path() const { return path_; }
  const std::filesystem::path& spare_path() const { return spare_path_; }
  uint64_t writes() const { return writes_; }
  uint64_t spare_writes() const { return spare_writes_; }

 private:
  Result<FlowCheckpoint> Parse(std::string_view text, const std::filesystem::path& from) const;
  // Reserves room in the spare for a checkpoint of `size` bytes (failures left for next time).
  void GrowSpare(size_t size);
  Status WriteSpare(std::string_view json);

  std::filesystem::path dir_;
  std::filesystem::path path_;
  std::filesystem::path spare_path_;
  uint64_t writes_ = 0;
  uint64_t spare_writes_ = 0;
  mutable uint64_t serial_ = 0;  // the highest serial loaded or saved
  mutable bool serial_known_ = false;
  int64_t spare_size_ = -1;  // bytes reserved in the spare; -1: not looked at yet
};

}  // namespace sluice::agent
