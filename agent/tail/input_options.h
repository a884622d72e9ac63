// Options of the sources that are not file tails (`sources[].type`: syslog, stdin, exec,
// journal). Plain data, filled by the config loader; see agent/input for what reads them.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sluice::agent {

enum class SourceType { kFile, kSyslog, kStdin, kExec, kJournal };

struct SyslogOptions {
  std::string listen;  // udp://host:port or tcp://host:port
  enum class Format { kRaw, kRfc3164, kRfc5424, kAuto };
  Format format = Format::kAuto;
  uint64_t max_message_size = 64u << 10;  // longer messages are truncated (and counted)
  int max_connections = 256;              // TCP: more are refused (closed at once)
  std::chrono::milliseconds idle_timeout{5 * 60 * 1000};  // TCP: close a silent connection
};

struct ExecOptions {
  std::vector<std::string> command;               // argv; no shell
  std::chrono::milliseconds restart_delay{1000};  // first delay; doubles up to 30 s
  std::chrono::milliseconds interval{0};          // > 0: run this often instead of continuously
};

struct JournalOptions {
  std::string directory;                       // empty: the system journal
  std::vector<std::string> units;              // _SYSTEMD_UNIT matches (any of)
  int priority = -1;                           // 0..7: PRIORITY at most this; -1: all
  std::map<std::string, std::string> matches;  // FIELD=value matches (all of)
};

}  // namespace sluice::agent
