#include "buffer/error_output.h"

#include <errno.h>
#include <fcntl.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include "core/base64.h"
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
      .With("type", type)
      .With("errorCode", code)
      .With("error", message.substr(0, 300))
      .With("records", total)
      .With("batches", batches);
  return true;
}

Status WriteFileAtomically(const std::filesystem::path& root, std::string_view key,
                           std::string_view data) {
  std::filesystem::path final_path = root / std::filesystem::path(std::string(key));
  std::filesystem::path dir = final_path.parent_path();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError("mkdir " + dir.string() + ": " + ec.message());
  std::filesystem::path tmp = dir / (".tmp-" + final_path.filename().string());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return ErrnoError("open " + tmp.string(), errno);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return ErrnoError("write " + tmp.string(), err);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoError("fsync " + tmp.string(), err);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
    return ErrnoError("rename " + final_path.string(), errno);
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

Status ErrorWriter::Write(std::string_view key, std::span<const FailedRecord> records,
                          int64_t ending_ms) {
  scratch_.clear();
  for (const FailedRecord& r : records) AppendErrorLine(r, ending_ms, &scratch_);
  if (!encryptor_) return WriteFileAtomically(root_, key, scratch_);
  RETURN_IF_ERROR(encryptor_->Encrypt(scratch_, &sealed_));
  return WriteFileAtomically(root_, std::string(key) + ".enc", sealed_);
}

}  // namespace sluice::buffer
