#include "buffer/error_output.h"

#include <errno.h>
#include <fcntl.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include "core/base64.h"
#include "core/fd.h"
#include "core/log.h"

namespace sluice::buffer {

void AppendErrorLine(const FailedRecord& r, int64_t attempt_ending_ms, std::string* out) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("attemptsMade");
  w.Int(r.attempts);
  w.Key("arrivalTimestamp");
  w.Int64(r.arrival_ms);
  w.Key("errorCode");
  w.String(r.error_code.data(), static_cast<rapidjson::SizeType>(r.error_code.size()));
  w.Key("errorMessage");
  w.String(r.error_message.data(), static_cast<rapidjson::SizeType>(r.error_message.size()));
  w.Key("attemptEndingTimestamp");
  w.Int64(attempt_ending_ms);
  if (!r.shard_id.empty()) {
    w.Key("kinesisRecordMetadata");
    w.StartObject();
    w.Key("shardId");
    w.String(r.shard_id.data(), static_cast<rapidjson::SizeType>(r.shard_id.size()));
    w.Key("sequenceNumber");
    w.String(r.sequence_number.data(), static_cast<rapidjson::SizeType>(r.sequence_number.size()));
    w.EndObject();
  }
  w.Key("rawData");
  std::string b64;
  Base64Append(r.data, &b64);
  w.String(b64.data(), static_cast<rapidjson::SizeType>(b64.size()));
  w.EndObject();
  out->append(sb.GetString(), sb.GetSize());
  out->push_back('\n');
}

bool SpillWarner::Note(std::string_view type, std::string_view code, std::string_view message,
                       uint64_t records, int64_t now_mono_ms) {
  uint64_t batches, total;
  {
    std::lock_guard<std::mutex> lock(mu_);
    held_batches_ += 1;
    held_records_ += records;
    if (logged_ && now_mono_ms - last_ms_ < interval_ms_) return false;
    logged_ = true;
    last_ms_ = now_mono_ms;
    batches = held_batches_;
    total = held_records_;
    held_batches_ = held_records_ = 0;
  }
  SLUICE_LOG(Warn, "records sent to the error output")
      .With("delivery", delivery_)
      .With("sink", sink_)
      .With("type", type)
      .With("errorCode", code)
      .With("error", message.substr(0, 300))
      .With("records", total)
      .With("batches", batches);
  return true;
}

Status WriteObjectFile(const std::filesystem::path& root, std::string_view key,
                       std::string_view data) {
  std::filesystem::path path = root / std::filesystem::path(std::string(key));
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) return IoError("mkdir " + path.parent_path().string() + ": " + ec.message());
  return WriteFileAtomically(path, data);
}

Status ErrorWriter::Write(std::string_view key, std::span<const FailedRecord> records,
                          int64_t ending_ms) {
  scratch_.clear();
  for (const FailedRecord& r : records) AppendErrorLine(r, ending_ms, &scratch_);
  if (!encryptor_) return WriteObjectFile(root_, key, scratch_);
  RETURN_IF_ERROR(encryptor_->Encrypt(scratch_, &sealed_));
  return WriteObjectFile(root_, std::string(key) + ".enc", sealed_);
}

}  // namespace sluice::buffer
