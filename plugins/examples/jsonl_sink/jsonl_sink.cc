// The `jsonl` example sink: appends every record to one file as a JSON line
//   {"id":"<record id>","arrival_ms":<ms>,"data":"<record text>"}
// A record sink (it gets the records, not a rendered object), so it can answer per record: a
// record over `max_record_bytes` is rejected to the error output while the others are written.
//
// Each batch is one write(2) with O_APPEND, so concurrent instances (the delivery's workers)
// never interleave lines. Record ids are stable across retries and replays: a reader can drop
// the duplicates an at-least-once replay may produce.
//
// THREADING: the host creates one instance per worker and never re-enters one.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "sluice_sink.hpp"

namespace {

const sluice_option_def kOptions[] = {
    {"path", SLUICE_OPT_STRING, nullptr, "File the JSON lines are appended to.", 1, nullptr},
    {"max_record_bytes", SLUICE_OPT_SIZE, "64KiB",
     "Records larger than this are rejected to the error output.", 0, nullptr},
    {"fsync", SLUICE_OPT_BOOL, "true", "fdatasync the file before answering.", 0, nullptr},
    {nullptr, SLUICE_OPT_STRING, nullptr, nullptr, 0, nullptr},
};

// Appends `s` as the body of a JSON string.
void AppendEscaped(std::string_view s, std::string* out) {
  for (char c : s) {
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          *out += buf;
        } else {
          *out += c;
        }
    }
  }
}

class JsonlSink final : public sluice::Sink {
 public:
  static sluice::Created<sluice::Sink> Create(const sluice::Options& opts, sluice::Host host) {
    auto sink = std::make_unique<JsonlSink>();
    std::string path = opts.Get("path");
    sink->fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (sink->fd_ < 0) {
      return sluice::Created<sluice::Sink>::Error("open " + path + ": " + std::strerror(errno));
    }
    sink->max_record_bytes_ = static_cast<size_t>(opts.GetSize("max_record_bytes", 65536));
    sink->fsync_ = opts.GetBool("fsync", true);
    sink->host_ = host;
    return sink;
  }
  ~JsonlSink() override {
    if (fd_ >= 0) ::close(fd_);
  }

  sluice::Outcome Send(const sluice::Batch& batch) override {
    buffer_.clear();  // reused across batches
    std::vector<sluice::RecordOutcome> outcomes;
    size_t rejected = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      sluice::Record r = batch.record(i);
      if (r.data.size() > max_record_bytes_) {
        if (outcomes.empty()) outcomes.resize(batch.size());
        outcomes[i] = sluice::RecordOutcome::Reject("record larger than max_record_bytes");
        ++rejected;
        continue;
      }
      buffer_ += "{\"id\":\"";
      AppendEscaped(r.record_id, &buffer_);
      char mid[48];
      int n = std::snprintf(mid, sizeof mid, "\",\"arrival_ms\":%lld,\"data\":\"",
                            static_cast<long long>(r.arrival_ms));
      buffer_.append(mid, static_cast<size_t>(n));
      AppendEscaped(r.data, &buffer_);
      buffer_ += "\"}\n";
    }
    size_t done = 0;
    while (done < buffer_.size()) {
      ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        // The disk may come back (ENOSPC freed): let the host retry with back-off.
        return sluice::Outcome::Retry("Jsonl.WriteFailed", std::strerror(errno), 1000);
      }
      done += static_cast<size_t>(n);
    }
    if (fsync_ && ::fdatasync(fd_) != 0) {
      return sluice::Outcome::Retry("Jsonl.SyncFailed", std::strerror(errno), 1000);
    }
    host_.Count("lines_written", batch.size() - rejected);
    if (rejected > 0) return sluice::Outcome::Partial(std::move(outcomes));
    return sluice::Outcome::Ok();
  }

 private:
  int fd_ = -1;
  size_t max_record_bytes_ = 65536;
  bool fsync_ = true;
  sluice::Host host_;
  std::string buffer_;
};

}  // namespace

// The delivery policy: This example's own choice: small local appends, 1 KiB-16 MiB (1 MiB), 0-60 s
// (5 s), retries up to 10 min (1 min).
static constexpr sluice_delivery_policy kJsonlPolicy = sluice::MakePolicy(
    {1 << 10, 1 << 20, 16 << 20}, {0, 5000, 60000}, {60000, 600000}, "jsonl-failed");

SLUICE_EXPORT_SINK_WITH_POLICY(JsonlSink, "jsonl", SLUICE_KIND_RECORD_SINK, 0, kOptions, "1.0",
                               "Appends records to a file as JSON lines (an example plugin).",
                               &kJsonlPolicy)
