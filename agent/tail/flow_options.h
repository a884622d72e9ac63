// Options of one agent flow (a `sources:` entry): which files to follow, how to frame and process
// their lines, and which stream receives the records. Plain data, filled by the config loader.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sluice::agent {

enum class InitialPosition { kStartOfFile, kEndOfFile };
enum class PartitionKeyKind { kRandom, kDeterministic, kFile, kField, kRegex };

struct ProcessingStep {
  enum class Kind { kSingleLine, kCsvToJson, kLogToJson, kAddMetadata, kJson, kGrep, kLogfmt };
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
  std::map<std::string, std::string> static_fields;
  // grep: keep (or, `drop`, drop) the records whose field (a dotted path into a JSON record;
  // empty: the whole record) matches `pattern` (PCRE2). A record without the field does not
  // match.
  std::string field;
  std::string pattern;
  bool drop = false;
  // What to do with a line that does not parse: pass it through unparsed (default) or send it to
  // the error output.
  bool unparsed_to_error_output = false;
};

struct FlowOptions {
  std::string name;
  std::vector<std::string> paths;    // globs: *, ?, [...], ** in any component
  std::vector<std::string> exclude;  // globs
  std::string stream;
  InitialPosition initial_position = InitialPosition::kEndOfFile;
  PartitionKeyKind partition_key = PartitionKeyKind::kRandom;
  std::string partition_key_arg;  // json path for kField, pattern for kRegex
  // multiline
  std::string multiline_start_pattern;  // empty: one record per line
  std::chrono::milliseconds flush_timeout{2000};
  int skip_header_lines = 0;
  uint64_t max_record_size = (1u << 20) - 256;
  std::string truncated_record_terminator = "\n";
  std::vector<ProcessingStep> processing;
  // Lines a step with `on_unparsed: error_output` could not parse are written here as JSON-lines
  // objects in the delivery error output's shape; empty: <checkpoint dir>/errors.
  std::string errors_path;
  std::chrono::milliseconds rotate_wait{30000};
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
