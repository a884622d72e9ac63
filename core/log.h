// Structured logging on stderr: one line per event, logfmt (default) or JSON lines.
//   SLUICE_LOG(Info, "file rotated").With("path", p).With("inode", ino);
// The line is written when the temporary is destroyed, with one write(2). Never pass secrets:
// values under keys named like secrets (secret, token, password, key material) are redacted.
// Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::log {

enum class Level : int { kDebug = 0, kInfo, kWarn, kError };
enum class Format { kLogfmt, kJson };

void SetLevel(Level level);
Level GetLevel();
void SetFormat(Format format);
// Parses "debug", "info", "warn", "error".
bool ParseLevel(std::string_view text, Level* out);

// Whether a failure that repeats with each attempt of one batch (1-based) is logged at this
// attempt: the first and every tenth, so that it is loud without a line per retry. The one rule
// of the delivery engine and of the sinks (plugins/common/sink_util.h).
inline bool LoudAttempt(uint64_t attempt) { return attempt == 1 || attempt % 10 == 0; }

class Line final {
 public:
  Line(Level level, std::string_view msg);
  ~Line();
  Line(const Line&) = delete;
  Line& operator=(const Line&) = delete;

  Line& With(std::string_view key, std::string_view value);
  Line& With(std::string_view key, const char* value) { return With(key, std::string_view(value)); }
  Line& With(std::string_view key, const std::string& value) {
    return With(key, std::string_view(value));
  }
  Line& With(std::string_view key, int64_t value);
  Line& With(std::string_view key, uint64_t value);
  Line& With(std::string_view key, int value) { return With(key, static_cast<int64_t>(value)); }
  Line& With(std::string_view key, unsigned value) {
    return With(key, static_cast<uint64_t>(value));
  }
  Line& With(std::string_view key, double value);

 private:
  bool enabled_;
  std::string buf_;
};

}  // namespace sluice::log

#define SLUICE_LOG(level, msg) ::sluice::log::Line(::sluice::log::Level::k##level, (msg))
