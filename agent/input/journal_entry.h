// Systemd journal entries and matches as the journal source (journal_source.h) needs them, apart
// from libsystemd so that they can be tested on plain field lists.
//
// An entry becomes one JSON object: "__REALTIME_TIMESTAMP" first (microseconds since the epoch,
// a string of digits as `journalctl -o json` writes it), then every field of the entry in the
// journal's order. A field that occurs more than once becomes an array of its values. A value
// that is not valid UTF-8 or holds a NUL byte is binary: it is written base64 under the field's
// name with "_base64" appended (journal field names are upper case, so no real field collides),
// e.g. "COREDUMP_base64". Other control characters are JSON-escaped.
//
// A record longer than the flow's max_record_size stays a valid JSON object: the value that
// crosses the bound is cut (at a UTF-8 boundary), later fields that do not fit are left out.
//
// THREADING: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agent/tail/input_options.h"

namespace sluice::agent {

// A journal field name: upper-case letters, digits and '_', not starting with a digit, at most
// 64 bytes (what journald accepts; a leading '_' names a trusted field).
inline bool IsJournalFieldName(std::string_view name) {
  if (name.empty() || name.size() > 64 || (name[0] >= '0' && name[0] <= '9')) return false;
  for (char c : name) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

// A syslog priority: "0".."7" or its name (emerg, alert, crit, err, warning, notice, info, debug;
// also error, warn, panic as journalctl takes them); -1 when it is neither.
inline int ParseJournalPriority(std::string_view text) {
  if (text.size() == 1 && text[0] >= '0' && text[0] <= '7') return text[0] - '0';
  constexpr std::pair<std::string_view, int> kNames[] = {
      {"emerg", 0},   {"panic", 0}, {"alert", 1},  {"crit", 2}, {"err", 3},  {"error", 3},
      {"warning", 4}, {"warn", 4},  {"notice", 5}, {"info", 6}, {"debug", 7}};
  for (const auto& [name, value] : kNames) {
    if (text == name) return value;
  }
  return -1;
}

// A unit as _SYSTEMD_UNIT holds it: a name without a type suffix gets ".service" (journalctl -u).
std::string JournalUnitName(std::string_view unit);

// The sd_journal_add_match strings ("FIELD=value") of `opts`: one per unit, one per priority up
// to `priority`, one per match. sd-journal ORs the matches of one field and ANDs different
// fields, so this reads (any unit) AND (any of the priorities) AND every other match.
std::vector<std::string> JournalMatches(const JournalOptions& opts);

// Replaces `*out` with the JSON object of one entry: `fields` as sd_journal_enumerate_data
// gives them ("NAME=value"; an item without '=' is skipped), `realtime_us` its time. At most
// `max_size` bytes (at least "{}"); returns whether something was cut or left out.
bool JournalEntryToJson(std::span<const std::string_view> fields, uint64_t realtime_us,
                        uint64_t max_size, std::string* out);

}  // namespace sluice::agent
