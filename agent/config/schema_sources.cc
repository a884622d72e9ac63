// The schema of `sources[]`: agent flows (agent::FlowOptions).
#include <string>

#include "agent/config/checks.h"
#include "agent/config/schema_internal.h"
#include "agent/tail/partition_key.h"

// The tables use designated initializers and leave defaulted members out on purpose; GCC 12
// warns about that even though every member has a default member initializer.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace sluice::config {
namespace {

using agent::ProcessingStep;

Status SetStepPattern(LoadContext& c, const Value& v) {
  int captures = 0;
  Status error = CheckRegex(v.text, &captures);
  if (error.ok()) c.step->custom_pattern = v.text;
  return error;
}

Status SetPaths(LoadContext& c, const Value& v) {
  if (v.list.empty()) return Refuse("give at least one path");
  for (const std::string& path : v.list) {
    if (path.empty()) return Refuse("a path is empty");
  }
  c.flow->paths = v.list;
  return Status::Ok();
}

Status SetPartitionKey(LoadContext& c, const Value& v) {
  agent::FlowOptions& f = *c.flow;
  const std::string& t = v.text;
  f.partition_key_arg.clear();
  if (t == "random") {
    f.partition_key = agent::PartitionKeyKind::kRandom;
  } else if (t == "deterministic") {
    f.partition_key = agent::PartitionKeyKind::kDeterministic;
  } else if (t == "file") {
    f.partition_key = agent::PartitionKeyKind::kFile;
  } else if (t.rfind("field:", 0) == 0 && t.size() > 6) {
    f.partition_key = agent::PartitionKeyKind::kField;
    f.partition_key_arg = t.substr(6);
    // The check `sluice run` makes, so that `sluice check` refuses what run would.
    auto keyer = agent::PartitionKeyer::Create(f.partition_key, f.partition_key_arg, 1);
    if (!keyer.ok()) {
      std::string m = keyer.status().message();
      return Refuse(m.starts_with("partition_key: ") ? m.substr(15) : m);
    }
  } else if (t.rfind("regex:", 0) == 0 && t.size() > 6) {
    f.partition_key = agent::PartitionKeyKind::kRegex;
    f.partition_key_arg = t.substr(6);
    int captures = 0;
    Status error = CheckRegex(f.partition_key_arg, &captures);
    if (!error.ok()) return error;
    if (captures < 1)
      return Refuse("\"" + t + "\" needs a capture group: the key is the first group");
  } else {
    return Refuse(
        "\"" + t +
        "\" is not a partition key option (random, deterministic, file, field:<json path>, "
        "regex:<pattern>)");
  }
  return Status::Ok();
}

constexpr Field kMultilineFields[] = {
    {.key = "start_pattern",
     .doc = "Regular expression (PCRE2) matching the first line of each record.",
     .set = SET(int n = 0; Status e = CheckRegex(v.text, &n); if (!e.ok()) return e;
                c.flow->multiline_start_pattern = v.text)},
    {.key = "flush_timeout",
     .type = Type::kDuration,
     .default_text = "2s",
     .min = 10,
     .max = kHour,
     .doc = "Emit a pending record (or an unterminated last line) after this long without input.",
     .set = SET(c.flow->flush_timeout = v.duration)},
};
constexpr Section kMultilineSection{kMultilineFields};

constexpr Field kSourceErrorsFields[] = {
    {.key = "path",
     .required = true,
     .doc = "Directory of the source's error output (JSON lines, as a delivery's).",
     .set = SET(c.flow->errors_path = v.text)},
};
constexpr Section kSourceErrorsSection{kSourceErrorsFields};

constexpr Field kOnUnparsed = {
    .key = "on_unparsed",
    .type = Type::kEnum,
    .default_text = "pass_through",
    .choices = "pass_through|error_output",
    .doc = "A line that does not parse passes through unchanged or goes to the error output.",
    .set = SET(c.step->unparsed_to_error_output = v.text == "error_output")};

#define BEGIN_STEP(kind_value)                                                 \
  HOOK(c.flow->processing.emplace_back(); c.step = &c.flow->processing.back(); \
       c.step->kind = ProcessingStep::Kind::kind_value)

constexpr Field kSingleLineFields[] = {
    {.key = "separator",
     .doc = "Put between the joined lines, e.g. \" \"; default: none (as the Kinesis Agent).",
     .set = SET(c.step->separator = v.text)},
};
constexpr Section kSingleLineSection{kSingleLineFields, BEGIN_STEP(kSingleLine)};

constexpr Field kCsvFields[] = {
    {.key = "field_names",
     .type = Type::kStringList,
     .required = true,
     .doc = "JSON field name of each column, in order.",
     .set = SET(c.step->field_names = v.list)},
    {.key = "delimiter",
     .type = Type::kChar,
     .default_text = ",",
     .doc = "Column separator.",
     .set = SET(c.step->delimiter = v.text[0])},
    kOnUnparsed,
};
constexpr Section kCsvSection{kCsvFields, BEGIN_STEP(kCsvToJson)};

constexpr Field kLogToJsonFields[] = {
    {.key = "format",
     .type = Type::kEnum,
     .required = true,
     .choices = "common_apache|combined_apache|apache_error|syslog|rfc5424|custom",
     .doc = "Log format of the lines.",
     .set = SET(c.step->log_format = v.text)},
    {.key = "pattern",
     .doc = "format custom: PCRE2 pattern with one capture group per field.",
     .set = SET(return SetStepPattern(c, v);)},
    {.key = "field_names",
     .type = Type::kStringList,
     .doc = "Field names (required with custom; else they rename the format's fields).",
     .set = SET(c.step->field_names = v.list)},
    kOnUnparsed,
};
constexpr Section kLogToJsonSection {
  kLogToJsonFields, BEGIN_STEP(kLogToJson),
      HOOK(const ProcessingStep& s = *c.step; bool custom = s.log_format == "custom";
           if (custom && s.custom_pattern.empty()) return Refuse("format custom needs a pattern");
           if (!custom &&
               !s.custom_pattern.empty()) return Refuse("pattern is only for format custom");
           if (custom) {
             int n = 0;
             (void)CheckRegex(s.custom_pattern, &n);
             if (static_cast<size_t>(n) != s.field_names.size()) {
               return Refuse("the pattern has " + std::to_string(n) + " capture groups but " +
                             std::to_string(s.field_names.size()) + " field_names are given");
             }
           })
};

constexpr Field kAddMetadataFields[] = {
    {.key = "host",
     .type = Type::kBool,
     .default_text = "false",
     .doc = "Add the host name.",
     .set = SET(c.step->add_host = v.boolean)},
    {.key = "file",
     .type = Type::kBool,
     .default_text = "false",
     .doc = "Add the file path.",
     .set = SET(c.step->add_file = v.boolean)},
    {.key = "offset",
     .type = Type::kBool,
     .default_text = "false",
     .doc = "Add the record's byte offset in its file.",
     .set = SET(c.step->add_offset = v.boolean)},
    {.key = "timestamp",
     .type = Type::kBool,
     .default_text = "false",
     .doc = "Add the time the record was read.",
     .set = SET(c.step->add_timestamp = v.boolean)},
    {.key = "fields",
     .type = Type::kStringMap,
     .doc = "Static fields to add.",
     .set = SET(for (const auto& [k, val]
                     : v.map) c.step->static_fields[k] = val)},
};
constexpr Section kAddMetadataSection{kAddMetadataFields, BEGIN_STEP(kAddMetadata)};

constexpr Field kJsonFields[] = {
    kOnUnparsed,
};
constexpr Section kJsonSection{kJsonFields, BEGIN_STEP(kJson)};

constexpr Field kLogfmtFields[] = {
    kOnUnparsed,
};
constexpr Section kLogfmtSection{kLogfmtFields, BEGIN_STEP(kLogfmt)};

constexpr Field kGrepFields[] = {
    {.key = "regex",
     .required = true,
     .doc = "PCRE2 pattern the field (or the record) must match somewhere (anchor with ^ and $).",
     .set = SET(int n = 0; RETURN_IF_ERROR(CheckRegex(v.text, &n)); c.step->pattern = v.text)},
    {.key = "field",
     .doc = "The field to match, a dotted path into a JSON record (after json or log_to_json): "
            "\"path\", \"request.uri\"; its string, number or true/false. A record without it "
            "does not match. Unset: the whole record.",
     .set = SET(if (v.text.empty() || v.text.front() == '.' || v.text.back() == '.' ||
                    v.text.find("..") != std::string::npos) return Refuse("\"" + v.text +
                                                                          "\" is not a dotted "
                                                                          "path of field names");
                c.step->field = v.text)},
    {.key = "mode",
     .type = Type::kEnum,
     .default_text = "keep",
     .choices = "keep|drop",
     .doc = "keep: only matching records go on (as Fluent Bit's Regex); drop: matching records "
            "are dropped (as its Exclude). Dropped records are counted, and their bytes count as "
            "read for the checkpoint.",
     .set = SET(c.step->drop = v.text == "drop")},
};
constexpr Section kGrepSection{kGrepFields, BEGIN_STEP(kGrep)};

constexpr Field kProcessingVariants[] = {
    {.key = "single_line",
     .type = Type::kObject,
     .doc = "Join a multi-line record into one line.",
     .section = &kSingleLineSection},
    {.key = "csv_to_json",
     .type = Type::kObject,
     .doc = "Turn a CSV line into a JSON object.",
     .section = &kCsvSection},
    {.key = "log_to_json",
     .type = Type::kObject,
     .doc = "Parse a log line into a JSON object.",
     .section = &kLogToJsonSection},
    {.key = "add_metadata",
     .type = Type::kObject,
     .doc = "Wrap the record with metadata (host, file, offset, timestamp, fields).",
     .section = &kAddMetadataSection},
    {.key = "json",
     .type = Type::kObject,
     .doc = "Take a JSON object line as the record: the steps after it see its fields.",
     .section = &kJsonSection},
    {.key = "grep",
     .type = Type::kObject,
     .doc = "Keep or drop records by a field (or the record) matching a pattern.",
     .section = &kGrepSection},
    {.key = "logfmt",
     .type = Type::kObject,
     .doc = "Parse key=value pairs (logfmt) into a JSON object.",
     .section = &kLogfmtSection},
};
constexpr Section kProcessingSection{kProcessingVariants};

constexpr Field kSourceFields[] = {
    {.key = "name",
     .required = true,
     .doc = "Flow name (checkpoints are kept under it).",
     .set = SET(c.flow->name = v.text; c.source_names.push_back(RefOf(v));
                return CheckName(v.text, 128);)},
    {.key = "paths",
     .type = Type::kStringList,
     .required = true,
     .doc = "Globs of files to follow: *, ?, [...], ** in any component.",
     .set = SET(return SetPaths(c, v);)},
    {.key = "exclude",
     .type = Type::kStringList,
     .doc = "Globs of files to leave out.",
     .set = SET(c.flow->exclude = v.list)},
    {.key = "stream",
     .required = true,
     .doc = "Stream that receives the records.",
     .set = SET(c.flow->stream = v.text; c.stream_refs.push_back(RefOf(v)))},
    {.key = "initial_position",
     .type = Type::kEnum,
     .default_text = "end_of_file",
     .choices = "start_of_file|end_of_file",
     .doc = "Where to start in files that have no checkpoint at start-up.",
     .set = SET(c.flow->initial_position = v.text == "start_of_file"
                                               ? agent::InitialPosition::kStartOfFile
                                               : agent::InitialPosition::kEndOfFile)},
    {.key = "partition_key",
     .default_text = "random",
     .doc = "random | deterministic | file | field:<json path> | regex:<pattern with a group>.",
     .set = SET(return SetPartitionKey(c, v);)},
    {.key = "multiline",
     .type = Type::kObject,
     .doc = "Records spanning several lines.",
     .section = &kMultilineSection},
    {.key = "skip_header_lines",
     .type = Type::kInt,
     .default_text = "0",
     .min = 0,
     .max = 1000000,
     .doc = "Lines skipped at the start of each file read from offset 0.",
     .set = SET(c.flow->skip_header_lines = int(v.integer))},
    {.key = "max_record_size",
     .type = Type::kSize,
     .default_text = "1048320",
     .min = 1,
     .max = kMiB,
     .doc = "Longer records are truncated (1 MiB less 256 bytes for the key).",
     .set = SET(c.flow->max_record_size = v.size)},
    {.key = "truncated_record_terminator",
     .default_text = "\n",
     .doc = "Appended to a truncated record.",
     .set = SET(c.flow->truncated_record_terminator = v.text)},
    {.key = "processing",
     .type = Type::kVariantList,
     .doc = "Ordered processing steps: single_line, csv_to_json, log_to_json, add_metadata, json, "
            "grep, logfmt (see docs/configuration.md, processing steps).",
     .section = &kProcessingSection},
    {.key = "errors",
     .type = Type::kObject,
     .doc = "Error output of lines a step with on_unparsed: error_output could not parse "
            "(default: <data_dir>/agent/<name>/errors).",
     .section = &kSourceErrorsSection},
    {.key = "rotate_wait",
     .type = Type::kDuration,
     .default_text = "30s",
     .min = 0,
     .max = kDay,
     .doc = "How long a rotated-away file is still drained.",
     .set = SET(c.flow->rotate_wait = v.duration)},
    {.key = "close_inactive",
     .type = Type::kDuration,
     .default_text = "5m",
     .min = kSecond,
     .max = 7 * kDay,
     .doc = "Close a file idle this long; reopen it when it grows.",
     .set = SET(c.flow->close_inactive = v.duration)},
    {.key = "rescan_interval",
     .type = Type::kDuration,
     .default_text = "10s",
     .min = 100,
     .max = kHour,
     .doc = "Period of the full rescan for new files.",
     .set = SET(c.flow->rescan_interval = v.duration)},
    {.key = "max_open_files",
     .type = Type::kInt,
     .default_text = "1024",
     .min = 1,
     .max = 1000000,
     .doc = "Bound on files held open by this flow.",
     .set = SET(c.flow->max_open_files = int(v.integer))},
    {.key = "max_buffer_size",
     .type = Type::kSize,
     .default_text = "16MiB",
     .min = 64 * kKiB,
     .max = kGiB,
     .doc = "Bound on bytes read but not yet accepted by the broker.",
     .set = SET(c.flow->max_buffer_bytes = v.size)},
    {.key = "poll_interval",
     .type = Type::kDuration,
     .default_text = "1s",
     .min = 10,
     .max = kHour,
     .doc = "How often files are checked when inotify cannot watch them.",
     .set = SET(c.flow->poll_interval = v.duration)},
    {.key = "checkpoint_interval",
     .type = Type::kDuration,
     .default_text = "1s",
     .min = 0,
     .max = kHour,
     .doc = "At most one checkpoint write per file per interval.",
     .set = SET(c.flow->checkpoint_interval = v.duration)},
    {.key = "read_block_size",
     .type = Type::kSize,
     .default_text = "256KiB",
     .min = 4 * kKiB,
     .max = 64 * kMiB,
     .doc = "Bytes per read(2).",
     .set = SET(c.flow->read_block_size = v.size)},
    {.key = "batch_max_records",
     .type = Type::kInt,
     .default_text = "500",
     .min = 1,
     .max = 500,
     .doc = "Records per put into the broker.",
     .set = SET(c.flow->batch_max_records = int(v.integer))},
    {.key = "batch_max_bytes",
     .type = Type::kSize,
     .default_text = "4MiB",
     .min = kKiB,
     .max = 5 * kMiB,
     .doc = "Bytes per put into the broker.",
     .set = SET(c.flow->batch_max_bytes = v.size)},
};
}  // namespace

constexpr Section kSourceSection {
  kSourceFields, HOOK(c.config->sources.emplace_back(); c.flow = &c.config->sources.back()),
      HOOK(if (c.flow->truncated_record_terminator.size() >= c.flow->max_record_size) return Refuse(
               "truncated_record_terminator must be shorter than "
               "max_record_size");)
};

}  // namespace sluice::config
