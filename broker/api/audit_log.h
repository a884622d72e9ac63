// The API's audit log, as CloudTrail keeps one for AWS: a JSON line per call, denied and failed
// ones included, with when, who (the access key id its signature used, `unauthenticated` when
// it failed, `anonymous` on a listener without auth, `admin` for the admin endpoint's /api), from
// where, what (kinesis:PutRecords), on what (the stream or delivery stream ARN) and the outcome
// (`ok` or the error type) with the HTTP status and the request id the client got. Secrets,
// signatures and record data are never written.
//
// Files: <dir>/audit.log (owner-only), rotated to audit.log.1 .. audit.log.<keep> past
// `max_bytes`. Each line is written with one write(2) (a call's line is never torn by a
// concurrent one); not synced per call (a power cut may lose the last lines, as the page cache
// would lose them for any log).
//
// THREADING: Record is thread-safe (the listener's loop and its put workers share one log).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/status.h"

namespace sluice::broker::api {

struct AuditEntry {
  int64_t time_ms = 0;
  std::string_view request_id;
  std::string_view source;     // "ip:port"
  std::string_view principal;  // access key id, or unauthenticated / anonymous / admin
  std::string_view action;     // "kinesis:PutRecords"
  std::string_view resource;   // an ARN, or "" for calls on none
  std::string_view result;     // "ok" or the error type
  int status = 200;
  bool tls = false;
  int64_t records = -1;  // records a put call carried (-1: not a put)
};

class AuditLog {
 public:
  struct Options {
    std::filesystem::path dir;
    uint64_t max_bytes = 64ull << 20;
    int keep = 5;
  };
  static Result<std::unique_ptr<AuditLog>> Open(Options options);
  ~AuditLog();

  void Record(const AuditEntry& entry);
  uint64_t lines() const { return lines_.load(std::memory_order_relaxed); }
  uint64_t write_errors() const { return errors_.load(std::memory_order_relaxed); }
  const std::filesystem::path& path() const { return path_; }

  // The JSON line of `entry` (with its newline); exposed for tests.
  static std::string Line(const AuditEntry& entry);

 private:
  explicit AuditLog(Options options);
  Status OpenFile();
  void RotateLocked();

  Options options_;
  std::filesystem::path path_;
  std::mutex mu_;
  int fd_ = -1;
  uint64_t size_ = 0;
  std::atomic<uint64_t> lines_{0};
  std::atomic<uint64_t> errors_{0};
};

}  // namespace sluice::broker::api
