// Options of one agent flow (a `sources:` entry): which files to follow, how to frame and process
// their lines, and which stream receives the records. Plain data, filled by the config loader.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "agent/tail/input_options.h"
#include "core/lua_record.h"

namespace sluice::agent {

enum class InitialPosition { kStartOfFile, kEndOfFile };
enum class PartitionKeyKind { kRandom, kDeterministic, kFile, kField, kRegex };

struct ProcessingStep {
  enum class Kind {
    kSingleLine,
    kCsvToJson,
    kLogToJson,
    kAddMetadata,
    kJson,
    kGrep,
    kLogfmt,
    kRegex,
    kTimestamp,
    kModify,
    kMask,
    kSample,
    kThrottle,
    kLua,
  };
  Kind kind = Kind::kSingleLine;
  // single_line: put between the joined lines (Kinesis Agent joins with none)
  std::string separator;
  // csv_to_json
  std::vector<std::string> field_names;
  char delimiter = ',';
  // log_to_json: common_apache, combined_apache, apache_error, syslog, rfc5424, custom
  std::string log_format;
  std::string custom_pattern;  // PCRE2 pattern with one group per field name (custom)
  // add_metadata
  bool add_host = false, add_file = false, add_offset = false, add_timestamp = false;
  bool add_kubernetes = false;  // pod, namespace, container from a container log's path
  std::map<std::string, std::string> static_fields;
  // grep: keep (or, `drop`, drop) the records whose field (a dotted path into a JSON record;
  // empty: the whole record) matches `pattern` (PCRE2). A record without the field does not
  // match.
  std::string field;
  std::string pattern;
  bool drop = false;
  // grep with several rules: each a field (may be empty: the record) and a pattern, combined by
  // `any` (or) or all (and).
  struct GrepRule {
    std::string field;
    std::string pattern;
  };
  std::vector<GrepRule> rules;
  bool any = false;
  // regex: `pattern` with named groups parsed from `field` (empty: the record); `types` converts
  // a group's text (string, int, float, bool).
  std::vector<std::pair<std::string, std::string>> types;
  // timestamp: `field`'s value parsed by `time_format` (rfc3339, epoch, epoch_ms, epoch_us,
  // epoch_ns, common_log, or a strptime format with %L for fractions) is the record's event time;
  // `utc_offset_s` applies to formats without a zone.
  std::string time_format;
  int32_t utc_offset_s = 0;
  // modify: applied in this order.
  std::vector<std::pair<std::string, std::string>> rename, hard_rename, copy, hard_copy, add, set;
  std::vector<std::string> remove;  // names or name prefixes ending in *
  std::string nest_under;           // nest: move the `nest_keys` (or prefix*) under this object
  std::vector<std::string> nest_keys;
  std::string lift_key;  // lift: move this object's members up, names prefixed `lift_prefix`
  std::string lift_prefix;
  // mask: `mask_kind` (ipv4, ipv6, email, credit_card, pattern with `pattern`) found in `field`
  // (empty: the whole record) replaced by `mask_with`: redact (`replacement`), prefix (keep
  // `keep` leading bits of an address or characters of another match) or hash (keyed
  // HMAC-SHA-256 under `hash_key`, hex).
  std::string mask_kind;
  std::string mask_with = "redact";
  std::string replacement = "[REDACTED]";
  int keep = 0;
  std::string hash_key;
  // sample: keep 1 record in `rate` (by `field`'s value when given, so one key is all kept or
  // all dropped). throttle: at most `rate` records per `interval` per value of `field`.
  int64_t rate = 1;
  std::chrono::milliseconds interval{1000};
  int max_keys = 10000;
  // lua: the script (or code), its function, the budget per call and the state's memory.
  LuaOptions lua;
  // What to do with a line that does not parse: pass it through unparsed (default) or send it to
  // the error output.
  bool unparsed_to_error_output = false;
};

struct FlowOptions {
  std::string name;
  SourceType type = SourceType::kFile;  // file: paths below; else the options of that type
  SyslogOptions syslog;
  ExecOptions exec;
  JournalOptions journal;
  std::vector<std::string> paths;    // globs: *, ?, [...], ** in any component
  std::vector<std::string> exclude;  // globs
  std::string stream;
  InitialPosition initial_position = InitialPosition::kEndOfFile;
  PartitionKeyKind partition_key = PartitionKeyKind::kRandom;
  std::string partition_key_arg;  // json path for kField, pattern for kRegex
  // multiline
  std::string multiline_start_pattern;  // empty: one record per line
  std::string multiline_preset;         // java|python|go|docker|cri (not with a start pattern)
  std::chrono::milliseconds flush_timeout{2000};
  int skip_header_lines = 0;
  uint64_t max_record_size = (1u << 20) - 256;
  std::string truncated_record_terminator = "\n";
  std::vector<ProcessingStep> processing;
  // Lines a step with `on_unparsed: error_output` could not parse are written here as JSON-lines
  // objects in the delivery error output's shape; empty: <checkpoint dir>/errors.
  std::string errors_path;
  std::chrono::milliseconds rotate_wait{30000};
  // A file deleted while open is let go once it has not grown for this long.
  std::chrono::milliseconds deleted_wait{2000};
  std::chrono::milliseconds close_inactive{5 * 60 * 1000};
  std::chrono::milliseconds rescan_interval{10000};
  int max_open_files = 1024;
  uint64_t max_buffer_bytes = 16u << 20;  // bound on bytes read but not yet accepted
  // Tailer tuning (defaults suit most hosts).
  std::chrono::milliseconds poll_interval{1000};  // stat every file this often without inotify
  std::chrono::milliseconds checkpoint_interval{1000};  // at most one checkpoint write per interval
  uint64_t read_block_size = 256u << 10;                // one read(2) per block
  int batch_max_records = 500;                          // records per PutBatch
  uint64_t batch_max_bytes = 4u << 20;                  // bytes per PutBatch
};

}  // namespace sluice::agent
