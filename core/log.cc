#include "core/log.h"

#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>

#include "core/json.h"
#include "core/secret_key.h"

namespace sluice::log {
namespace {

std::atomic<Level> g_level{Level::kInfo};
std::atomic<Format> g_format{Format::kLogfmt};

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

bool NeedsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      return true;
    }
  }
  return false;
}

void AppendField(std::string_view key, std::string_view value, bool raw, std::string* out) {
  if (g_format.load() == Format::kJson) {
    out->push_back(',');
    AppendJsonString(key, out);
    out->push_back(':');
    if (raw) {
      *out += value;
    } else {
      AppendJsonString(value, out);
    }
    return;
  }
  out->push_back(' ');
  *out += key;
  out->push_back('=');
  if (!raw && NeedsQuotes(value)) {
    AppendJsonString(value, out);  // a quoted logfmt value is escaped as a JSON string
  } else {
    *out += value;
  }
}

}  // namespace

void SetLevel(Level level) { g_level = level; }
Level GetLevel() { return g_level.load(); }
void SetFormat(Format format) { g_format = format; }

bool ParseLevel(std::string_view text, Level* out) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (text == LevelName(l)) {
      *out = l;
      return true;
    }
  }
  return false;
}

Line::Line(Level level, std::string_view msg) : enabled_(level >= g_level.load()) {
  if (!enabled_) return;
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t{};
  gmtime_r(&ts.tv_sec, &t);
  char stamp[96];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", t.tm_year + 1900,
                t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, ts.tv_nsec / 1'000'000);
  if (g_format.load() == Format::kJson) {
    buf_ = "{\"ts\":\"";
    buf_ += stamp;
    buf_ += "\",\"level\":\"";
    buf_ += LevelName(level);
    buf_ += "\",\"msg\":";
    AppendJsonString(msg, &buf_);
  } else {
    buf_ = "ts=";
    buf_ += stamp;
    buf_ += " level=";
    buf_ += LevelName(level);
    AppendField("msg", msg, false, &buf_);
  }
}

Line::~Line() {
  if (!enabled_) return;
  if (g_format.load() == Format::kJson) buf_ += "}";
  buf_ += "\n";
  // One write so concurrent lines do not interleave; a failed log write has nowhere to go.
  ssize_t n = ::write(STDERR_FILENO, buf_.data(), buf_.size());
  (void)n;
}

Line& Line::With(std::string_view key, std::string_view value) {
  if (!enabled_) return *this;
  AppendField(key, IsSecretKey(key) ? std::string_view("[redacted]") : value, false, &buf_);
  return *this;
}

Line& Line::With(std::string_view key, int64_t value) {
  if (enabled_) AppendField(key, std::to_string(value), true, &buf_);
  return *this;
}

Line& Line::With(std::string_view key, uint64_t value) {
  if (enabled_) AppendField(key, std::to_string(value), true, &buf_);
  return *this;
}

Line& Line::With(std::string_view key, double value) {
  if (!enabled_) return *this;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", value);
  AppendField(key, buf, true, &buf_);
  return *this;
}

}  // namespace sluice::log
