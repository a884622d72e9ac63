// Error output (spill-over): records that were rejected or outlived their retry duration are
// written as JSON lines with Firehose's fields, one object per failed batch:
//   {"attemptsMade":3,"arrivalTimestamp":1700000000000,"errorCode":"Http.503",
//    "errorMessage":"...","attemptEndingTimestamp":1700000300000,"rawData":"<base64>"}
// Objects are written atomically (temporary file, fsync, rename, fsync of the directory) under a
// root directory, so the same key written twice (a replay) leaves one object.
//
// THREADING: an ErrorWriter belongs to one worker (it reuses a scratch buffer).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include "buffer/envelope.h"
#include "core/status.h"

namespace sluice::buffer {

struct FailedRecord {
  std::string_view data;
  int64_t arrival_ms = 0;
  int attempts = 0;
  std::string_view error_code;
  std::string_view error_message;
  // Where the record is in its source stream, when known: written as kinesisRecordMetadata
  // (the name Firehose's record transformation contract uses) so the record can be found.
  std::string shard_id;  // "shardId-000000000000"; empty: unknown
  std::string sequence_number;
};

// Says at warn that records went to the error output: at most one line per `interval_ms` for a
// delivery, the batches in between counted into the next line, so a spill is never silent and a
// spill storm does not flood the log. Thread-safe (the workers of a delivery share one).
class SpillWarner final {
 public:
  explicit SpillWarner(std::string delivery, std::string sink = "", int64_t interval_ms = 10000)
      : delivery_(std::move(delivery)), sink_(std::move(sink)), interval_ms_(interval_ms) {}
  // `type` is the error output type (http-endpoint-failed, partitioning-failed, ...), `code` and
  // `message` those of the first record. Returns whether a line was written.
  bool Note(std::string_view type, std::string_view code, std::string_view message,
            uint64_t records, int64_t now_mono_ms);

 private:
  const std::string delivery_;
  const std::string sink_;
  const int64_t interval_ms_;
  std::mutex mu_;
  bool logged_ = false;
  int64_t last_ms_ = 0;
  uint64_t held_batches_ = 0, held_records_ = 0;  // noted since the last line, not logged
};

// Appends one JSON line for `r` to *out.
void AppendErrorLine(const FailedRecord& r, int64_t attempt_ending_ms, std::string* out);

// Writes `data` to root/key atomically (core/fd's WriteFileAtomically), creating directories.
Status WriteObjectFile(const std::filesystem::path& root, std::string_view key,
                       std::string_view data);

class ErrorWriter final {
 public:
  // `encryptor`, when given (an encrypted delivery), seals each object as delivered objects are
  // sealed and its key gets ".enc": the records of an encrypted delivery never rest in clear.
  explicit ErrorWriter(std::filesystem::path root, std::unique_ptr<Encryptor> encryptor = nullptr)
      : root_(std::move(root)), encryptor_(std::move(encryptor)) {}
  const std::filesystem::path& root() const { return root_; }
  // Writes the records as one JSON-lines object at root/key (root/key.enc when encrypting).
  Status Write(std::string_view key, std::span<const FailedRecord> records, int64_t ending_ms);
  // The JSON lines of the last Write (in clear), until the next one.
  std::string_view last_object() const { return scratch_; }

 private:
  std::filesystem::path root_;
  std::unique_ptr<Encryptor> encryptor_;
  std::string scratch_, sealed_;
};

}  // namespace sluice::buffer
