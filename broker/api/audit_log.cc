#include "broker/api/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "core/json.h"
#include "core/log.h"

namespace sluice::broker::api {

namespace {

void Iso8601(int64_t ms, std::string* out) {
  time_t secs = static_cast<time_t>(ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[96];
  snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
           static_cast<int>(ms % 1000));
  out->append(buf);
}

void Field(std::string* out, const char* key, std::string_view value) {
  out->push_back(',');
  AppendJsonString(key, out);
  out->push_back(':');
  AppendJsonString(value, out);
}

}  // namespace

std::string AuditLog::Line(const AuditEntry& e) {
  std::string out = "{\"time\":\"";
  Iso8601(e.time_ms, &out);
  out.push_back('"');
  Field(&out, "request_id", e.request_id);
  Field(&out, "source", e.source);
  Field(&out, "principal", e.principal);
  Field(&out, "action", e.action);
  Field(&out, "resource", e.resource);
  Field(&out, "result", e.result);
  out += ",\"status\":" + std::to_string(e.status);
  out += e.tls ? ",\"tls\":true" : ",\"tls\":false";
  if (e.records >= 0) out += ",\"records\":" + std::to_string(e.records);
  out += "}\n";
  return out;
}

AuditLog::AuditLog(Options options) : options_(std::move(options)) {
  path_ = options_.dir / "audit.log";
}

AuditLog::~AuditLog() {
  if (fd_ >= 0) close(fd_);
}

Result<std::unique_ptr<AuditLog>> AuditLog::Open(Options options) {
  if (options.keep < 1) options.keep = 1;
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) return IoError("audit log: create " + options.dir.string() + ": " + ec.message());
  chmod(options.dir.c_str(), 0700);
  std::unique_ptr<AuditLog> log(new AuditLog(std::move(options)));
  RETURN_IF_ERROR(log->OpenFile());
  return log;
}

Status AuditLog::OpenFile() {
  int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("audit log: open " + path_.string(), errno);
  struct stat st;
  size_ = fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
  return Status::Ok();
}

void AuditLog::RotateLocked() {
  // audit.log.<keep> drops off; each older one moves up by one; the current becomes .1.
  for (int i = options_.keep; i >= 1; --i) {
    std::filesystem::path from =
        i == 1 ? path_ : std::filesystem::path(path_.string() + "." + std::to_string(i - 1));
    std::filesystem::path to(path_.string() + "." + std::to_string(i));
    std::error_code ec;
    if (std::filesystem::exists(from, ec)) std::filesystem::rename(from, to, ec);
  }
  if (Status st = OpenFile(); !st.ok()) {
    ++errors_;
    SLUICE_LOG(Error, "audit log rotation failed").With("error", st.ToString());
  }
}

void AuditLog::Record(const AuditEntry& entry) {
  std::string line = Line(entry);
  std::lock_guard<std::mutex> lock(mu_);
  if (fd_ < 0) {
    ++errors_;
    return;
  }
  if (size_ > 0 && size_ + line.size() > options_.max_bytes) RotateLocked();
  ssize_t n = write(fd_, line.data(), line.size());
  if (n != static_cast<ssize_t>(line.size())) {
    if (errors_++ == 0) {
      SLUICE_LOG(Error, "audit log write failed; later failures are counted, not logged")
          .With("path", path_.string())
          .With("error", n < 0 ? std::strerror(errno) : "short write");
    }
    return;
  }
  size_ += line.size();
  lines_.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace sluice::broker::api
