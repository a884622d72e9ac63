// The schema of sluice.yaml: every key, its type, default, range and doc, in one place.
// docs/configuration.md is generated from these tables (a test keeps them in step).
#include <string>

#include "agent/config/checks.h"
#include "agent/config/schema.h"
#include "agent/config/secrets.h"

// The tables use designated initializers and leave defaulted members out on purpose; GCC 12
// warns about that even though every member has a default member initializer.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace sluice::config {
namespace {

using agent::ProcessingStep;
using std::chrono::milliseconds;

constexpr int64_t kKiB = 1024, kMiB = 1024 * 1024, kGiB = kMiB * 1024;
constexpr int64_t kSecond = 1000, kMinute = 60 * kSecond, kHour = 60 * kMinute, kDay = 24 * kHour;

// A setter: the body sees `c` (LoadContext&) and `v` (const Value&) and may `return "message";`.
#define SET(...)                                                                         \
  +[]([[maybe_unused]] LoadContext& c, [[maybe_unused]] const Value& v) -> std::string { \
    __VA_ARGS__;                                                                         \
    return std::string();                                                                \
  }
#define HOOK(...)                                       \
  +[]([[maybe_unused]] LoadContext& c) -> std::string { \
    __VA_ARGS__;                                        \
    return std::string();                               \
  }

NameRef RefOf(const Value& v) {
  NameRef ref{v.text, v.path, 0, 0};
  if (v.node != nullptr) {
    ref.line = v.node->line;
    ref.column = v.node->column;
  }
  return ref;
}

std::string SetStepPattern(LoadContext& c, const Value& v) {
  int captures = 0;
  std::string error = CheckRegex(v.text, &captures);
  if (error.empty()) c.step->custom_pattern = v.text;
  return error;
}

std::string AddSecret(LoadContext& c, std::string value) {
  if (++c.credential_secrets == 1) c.credential->secret_access_key = std::move(value);
  return "";
}

// ---- log, admin, broker ----------------------------------------------------------------------

constexpr Field kLogFields[] = {
    {.key = "level",
     .type = Type::kEnum,
     .default_text = "info",
     .choices = "debug|info|warn|error",
     .doc = "Least severe level written to stderr.",
     .set = SET(log::ParseLevel(v.text, &c.config->log.level))},
    {.key = "format",
     .type = Type::kEnum,
     .default_text = "logfmt",
     .choices = "logfmt|json",
     .doc = "Log line format: logfmt or JSON lines.",
     .set =
         SET(c.config->log.format = v.text == "json" ? log::Format::kJson : log::Format::kLogfmt)},
};
constexpr Section kLogSection{kLogFields};

constexpr Field kAdminFields[] = {
    {.key = "listen",
     .default_text = "127.0.0.1:4195",
     .doc = "Admin HTTP endpoint (/health, /metrics, /status): host:port.",
     .set = SET(return ParseListen(v.text, &c.config->admin.listen))},
};
constexpr Section kAdminSection{kAdminFields};

constexpr Field kCredentialFields[] = {
    {.key = "access_key_id",
     .required = true,
     .doc = "Access key id clients sign with.",
     .set = SET(c.credential->access_key_id = v.text)},
    {.key = "secret_access_key",
     .doc = "The secret, inline (the file must not be world-readable).",
     .set = SET(return AddSecret(c, v.text))},
    {.key = "secret_access_key_env",
     .doc = "Name of an environment variable holding the secret.",
     .set = SET(std::string secret; std::string e = SecretFromEnv(v.text, &secret);
                if (!e.empty()) return e; return AddSecret(c, std::move(secret)))},
    {.key = "secret_access_key_file",
     .doc = "File holding the secret (trailing newline ignored; not world-readable).",
     .set = SET(std::string secret; std::string e = SecretFromFile(v.text, &secret);
                if (!e.empty()) return e; return AddSecret(c, std::move(secret)))},
};
constexpr Section kCredentialSection {
  kCredentialFields,
      HOOK(c.config->broker.api.auth.emplace_back();
           c.credential = &c.config->broker.api.auth.back(); c.credential_secrets = 0),
      HOOK(if (c.credential_secrets != 1) return "give exactly one of secret_access_key, "
                                                 "secret_access_key_env, secret_access_key_file")
};

constexpr Field kApiFields[] = {
    {.key = "listen",
     .doc = "Kinesis-compatible API address, host:port; omit to turn the API off. Without auth it "
            "must be a loopback address.",
     .set = SET(ListenAddress a; std::string e = ParseListen(v.text, &a); if (!e.empty()) return e;
                c.config->broker.api.listen = a)},
    {.key = "auth",
     .type = Type::kObjectList,
     .doc = "Credentials whose SigV4 signatures are accepted; empty: no authentication.",
     .section = &kCredentialSection},
    {.key = "max_body_size",
     .type = Type::kSize,
     .default_text = "16MiB",
     .min = kMiB,
     .max = kGiB,
     .doc = "Largest request body accepted (larger: HTTP 413).",
     .set = SET(c.config->broker.api.max_body_size = v.size)},
};
constexpr Section kApiSection {
  kApiFields, nullptr,
      HOOK(const ApiOptions& api = c.config->broker.api;
           if (api.listen && api.auth.empty() && !IsLoopbackHost(api.listen->host)) return "\"" +
           api.listen->text +
           "\" is not a loopback address; add auth credentials to listen "
           "on other interfaces")
};

constexpr Field kBrokerFields[] = {
    {.key = "api",
     .type = Type::kObject,
     .doc = "The Kinesis-compatible API server.",
     .section = &kApiSection},
    {.key = "disk_quota",
     .type = Type::kSize,
     .default_text = "0",
     .doc = "Bound on the bytes under data_dir; puts past it are refused (back-pressure). 0: none.",
     .set = SET(c.config->broker.disk_quota = v.size)},
    {.key = "iterator_ttl",
     .type = Type::kDuration,
     .default_text = "5m",
     .min = kSecond,
     .max = kDay,
     .doc = "Lifetime of a shard iterator.",
     .set = SET(c.config->broker.iterator_ttl = v.duration)},
};
constexpr Section kBrokerSection{kBrokerFields};

// ---- streams -----------------------------------------------------------------------------------

constexpr Field kStreamFields[] = {
    {.key = "name",
     .required = true,
     .doc = "Stream name (1-128 of A-Z a-z 0-9 _ . -).",
     .set = SET(c.stream->name = v.text; c.stream_names.push_back(RefOf(v));
                return CheckName(v.text, 128))},
    {.key = "shards",
     .type = Type::kInt,
     .default_text = "1",
     .min = 1,
     .max = 1000,
     .doc = "Number of shards at creation.",
     .set = SET(c.stream->shards = int(v.integer))},
    {.key = "retention",
     .type = Type::kDuration,
     .default_text = "24h",
     .min = 24 * kHour,
     .max = 8760 * kHour,
     .doc = "How long records are kept, in whole hours.",
     .set = SET(if (v.duration.count() % kHour != 0) return "\"" + v.text +
                    "\" is not a whole number of hours";
                c.stream->retention_hours = v.duration.count() / kHour)},
    {.key = "fsync",
     .type = Type::kEnum,
     .default_text = "interval",
     .choices = "always|interval|never",
     .doc =
         "When appends reach the disk: every put, every fsync_interval (group commit), or never.",
     .set = SET(c.stream->fsync = v.text == "always"     ? broker::FsyncPolicy::kAlways
                                  : v.text == "interval" ? broker::FsyncPolicy::kInterval
                                                         : broker::FsyncPolicy::kNever)},
    {.key = "fsync_interval",
     .type = Type::kDuration,
     .default_text = "100ms",
     .min = 1,
     .max = kMinute,
     .doc = "Group-commit period with fsync: interval.",
     .set = SET(c.stream->fsync_interval = v.duration)},
    {.key = "mode",
     .type = Type::kEnum,
     .default_text = "unlimited",
     .choices = "unlimited|provisioned",
     .doc = "provisioned enforces Kinesis per-shard limits; unlimited enforces none.",
     .set = SET(c.stream->mode = v.text == "provisioned" ? broker::CapacityMode::kProvisioned
                                                         : broker::CapacityMode::kUnlimited)},
};
constexpr Section kStreamSection {
  kStreamFields, HOOK(c.config->streams.emplace_back(); c.stream = &c.config->streams.back())
};

// ---- sources -----------------------------------------------------------------------------------

std::string SetPartitionKey(LoadContext& c, const Value& v) {
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
  } else if (t.rfind("regex:", 0) == 0 && t.size() > 6) {
    f.partition_key = agent::PartitionKeyKind::kRegex;
    f.partition_key_arg = t.substr(6);
    int captures = 0;
    std::string error = CheckRegex(f.partition_key_arg, &captures);
    if (!error.empty()) return error;
    if (captures < 1) return "\"" + t + "\" needs a capture group: the key is the first group";
  } else {
    return "\"" + t +
           "\" is not a partition key option (random, deterministic, file, field:<json path>, "
           "regex:<pattern>)";
  }
  return "";
}

constexpr Field kMultilineFields[] = {
    {.key = "start_pattern",
     .doc = "Regular expression (PCRE2) matching the first line of each record.",
     .set = SET(int n = 0; std::string e = CheckRegex(v.text, &n); if (!e.empty()) return e;
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

constexpr Section kSingleLineSection{{}, BEGIN_STEP(kSingleLine)};

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
     .set = SET(return SetStepPattern(c, v))},
    {.key = "field_names",
     .type = Type::kStringList,
     .doc = "Field names (required with custom; else they rename the format's fields).",
     .set = SET(c.step->field_names = v.list)},
    kOnUnparsed,
};
constexpr Section kLogToJsonSection {
  kLogToJsonFields, BEGIN_STEP(kLogToJson),
      HOOK(const ProcessingStep& s = *c.step; bool custom = s.log_format == "custom";
           if (custom && s.custom_pattern.empty()) return "format custom needs a pattern";
           if (!custom && !s.custom_pattern.empty()) return "pattern is only for format custom";
           if (custom) {
             int n = 0;
             (void)CheckRegex(s.custom_pattern, &n);
             if (static_cast<size_t>(n) != s.field_names.size()) {
               return "the pattern has " + std::to_string(n) + " capture groups but " +
                      std::to_string(s.field_names.size()) + " field_names are given";
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
};
constexpr Section kProcessingSection{kProcessingVariants};

constexpr Field kSourceFields[] = {
    {.key = "name",
     .required = true,
     .doc = "Flow name (checkpoints are kept under it).",
     .set = SET(c.flow->name = v.text; c.source_names.push_back(RefOf(v));
                return CheckName(v.text, 128))},
    {.key = "paths",
     .type = Type::kStringList,
     .required = true,
     .doc = "Globs of files to follow: *, ?, [...], ** in any component.",
     .set = SET(if (v.list.empty()) return "give at least one path"; c.flow->paths = v.list)},
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
     .set = SET(return SetPartitionKey(c, v))},
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
     .doc = "Ordered processing steps: single_line, csv_to_json, log_to_json, add_metadata.",
     .section = &kProcessingSection},
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
};
constexpr Section kSourceSection {
  kSourceFields, HOOK(c.config->sources.emplace_back(); c.flow = &c.config->sources.back()),
      HOOK(if (c.flow->truncated_record_terminator.size() >=
               c.flow->max_record_size) return "truncated_record_terminator must be shorter than "
                                               "max_record_size")
};

// ---- deliveries --------------------------------------------------------------------------------

constexpr Field kBufferFields[] = {
    {.key = "size",
     .type = Type::kSize,
     .min = 1,
     .max = 128 * kMiB,
     .doc = "Flush when this many bytes (before compression) are buffered. Unset: sink default.",
     .set = SET(c.delivery->buffer_size = v.size)},
    {.key = "interval",
     .type = Type::kDuration,
     .min = 0,
     .max = 900 * kSecond,
     .doc = "Flush when the oldest buffered record is this old. Unset: sink default.",
     .set = SET(c.delivery->buffer_interval = v.duration)},
};
constexpr Section kBufferSection{kBufferFields};

constexpr Field kEncryptionFields[] = {
    {.key = "keyring",
     .required = true,
     .doc = "Keyring file of master keys (must not be readable by group or others).",
     .set = SET(c.delivery->encryption_keyring = v.text)},
    {.key = "key_id",
     .doc = "Master key to wrap new data keys with. Unset: the keyring's newest.",
     .set = SET(c.delivery->encryption_key_id = v.text)},
};
constexpr Section kEncryptionSection{kEncryptionFields};

constexpr Field kTransformBufferFields[] = {
    {.key = "size",
     .type = Type::kSize,
     .default_text = "1MiB",
     .min = 1,
     .max = 3000000,
     .doc = "Records per invocation, in bytes.",
     .set = SET(c.delivery->transform.buffer_size = v.size)},
    {.key = "interval",
     .type = Type::kDuration,
     .default_text = "60s",
     .min = 0,
     .max = 900 * kSecond,
     .doc = "Invoke at the latest this long after the first record.",
     .set = SET(c.delivery->transform.buffer_interval = v.duration)},
};
constexpr Section kTransformBufferSection{kTransformBufferFields};

constexpr std::string_view kOneTransform = "give only one of exec, http, plugin";
using TransformKind = buffer::TransformOptions::Kind;

constexpr Field kTransformFields[] = {
    {.key = "exec",
     .type = Type::kStringList,
     .doc = "Command (argv) of a long-lived process: one JSON event per line in and out.",
     .set = SET(auto& t = c.delivery->transform;
                if (t.kind != TransformKind::kNone) return std::string(kOneTransform);
                if (v.list.empty()) return "give the command to run"; t.kind = TransformKind::kExec;
                t.exec = v.list)},
    {.key = "http",
     .doc = "URL invoked with the Lambda invoke shape.",
     .set = SET(auto& t = c.delivery->transform;
                if (t.kind != TransformKind::kNone) return std::string(kOneTransform);
                t.kind = TransformKind::kHttp; t.url = v.text; return CheckUrl(v.text))},
    {.key = "plugin",
     .doc = "Name of an in-process transform plugin.",
     .set = SET(auto& t = c.delivery->transform;
                if (t.kind != TransformKind::kNone) return std::string(kOneTransform);
                t.kind = TransformKind::kPlugin; t.plugin = v.text)},
    {.key = "buffer",
     .type = Type::kObject,
     .doc = "Batching of records per invocation.",
     .section = &kTransformBufferSection},
    {.key = "timeout",
     .type = Type::kDuration,
     .default_text = "60s",
     .min = 100,
     .max = 5 * kMinute,
     .doc = "Time allowed for one invocation.",
     .set = SET(c.delivery->transform.timeout = v.duration)},
    {.key = "retries",
     .type = Type::kInt,
     .default_text = "3",
     .min = 0,
     .max = 10,
     .doc = "Retries of a failed invocation before its records go to the error output.",
     .set = SET(c.delivery->transform.retries = int(v.integer))},
};
constexpr Section kTransformSection {
  kTransformFields, nullptr,
      HOOK(if (c.delivery->transform.kind ==
               TransformKind::kNone) return "give one of exec, http, plugin")
};

constexpr Field kPartitioningFields[] = {
    {.key = "keys",
     .type = Type::kStringMap,
     .doc = "Partition key name to JSON path of the record, e.g. customer: .customer.id.",
     .set = SET(for (const auto& [k, path]
                     : v.map) {
       if (path.empty() || path[0] != '.') return "\"" + path + "\" is not a JSON path (.a.b)";
       c.delivery->partition_keys.push_back(k + "=" + path);
     })},
    {.key = "max_active_partitions",
     .type = Type::kInt,
     .default_text = "500",
     .min = 1,
     .max = 10000,
     .doc = "Past this many open partitions, records go to the error output.",
     .set = SET(c.delivery->max_active_partitions = int(v.integer))},
};
constexpr Section kPartitioningSection{kPartitioningFields};

constexpr Field kErrorsFields[] = {
    {.key = "path",
     .required = true,
     .doc = "Directory of the local error output (JSON lines).",
     .set = SET(c.delivery->errors_path = v.text)},
};
constexpr Section kErrorsSection{kErrorsFields};

constexpr Field kBackupFields[] = {
    {.key = "mode",
     .type = Type::kEnum,
     .required = true,
     .choices = "failed_only|all",
     .doc = "Back up only failed records, or all records.",
     .set = SET(c.delivery->backup_mode = v.text)},
    {.key = "sink",
     .type = Type::kSink,
     .required = true,
     .doc = "The backup sink.",
     .set = SET(c.delivery->backup_sink = v.sink)},
};
constexpr Section kBackupSection{kBackupFields};

constexpr Field kDeliveryFields[] = {
    {.key = "name",
     .required = true,
     .doc = "Delivery stream name (1-64 of A-Z a-z 0-9 _ . -); its consumer name.",
     .set = SET(c.delivery->name = v.text; c.delivery_names.push_back(RefOf(v));
                return CheckName(v.text, 64))},
    {.key = "stream",
     .doc = "Broker stream read as a named consumer (or set direct_put).",
     .set = SET(c.delivery->stream = v.text; c.stream_refs.push_back(RefOf(v)))},
    {.key = "direct_put",
     .type = Type::kBool,
     .default_text = "false",
     .doc = "Take records from the Firehose-compatible API instead of a stream.",
     .set = SET(c.delivery->direct_put = v.boolean)},
    {.key = "buffer",
     .type = Type::kObject,
     .doc = "Buffering hints: whichever comes first.",
     .section = &kBufferSection},
    {.key = "record_delimiter",
     .doc = "Appended to each record in objects; empty: records as-is.",
     .set = SET(c.delivery->record_delimiter = v.text)},
    {.key = "compression",
     .type = Type::kEnum,
     .default_text = "none",
     .choices = "none|gzip|zip|snappy|hadoop_snappy",
     .doc = "Codec of delivered objects.",
     .set = SET(using buffer::Compression;
                c.delivery->compression = v.text == "gzip"            ? Compression::kGzip
                                          : v.text == "zip"           ? Compression::kZip
                                          : v.text == "snappy"        ? Compression::kSnappy
                                          : v.text == "hadoop_snappy" ? Compression::kHadoopSnappy
                                                                      : Compression::kNone)},
    {.key = "encryption",
     .type = Type::kObject,
     .doc = "AES-256-GCM envelope encryption of objects.",
     .section = &kEncryptionSection},
    {.key = "transform",
     .type = Type::kObject,
     .doc = "Transform hook (Firehose Lambda contract).",
     .section = &kTransformSection},
    {.key = "partitioning",
     .type = Type::kObject,
     .doc = "Dynamic partitioning.",
     .section = &kPartitioningSection},
    {.key = "retry_duration",
     .type = Type::kDuration,
     .min = 0,
     .max = 7200 * kSecond,
     .doc = "How long failed deliveries are retried. Unset: the sink's Firehose default.",
     .set = SET(c.delivery->retry_duration = v.duration)},
    {.key = "errors",
     .type = Type::kObject,
     .doc = "Error output (spillover).",
     .section = &kErrorsSection},
    {.key = "backup",
     .type = Type::kObject,
     .doc = "Backup of records to a second sink.",
     .section = &kBackupSection},
    {.key = "sink",
     .type = Type::kSink,
     .required = true,
     .doc = "Destination: type (the plugin name) plus the plugin's own options.",
     .set = SET(c.delivery->sink = v.sink)},
    {.key = "concurrency",
     .type = Type::kInt,
     .default_text = "1",
     .min = 1,
     .max = 64,
     .doc = "Batches delivered in parallel.",
     .set = SET(c.delivery->concurrency = int(v.integer))},
};
constexpr Section kDeliverySection {
  kDeliveryFields,
      HOOK(c.config->deliveries.emplace_back(); c.delivery = &c.config->deliveries.back()),
      HOOK(
          const buffer::DeliveryOptions& d = *c.delivery;
          if (d.direct_put && !d.stream.empty()) return "give stream or direct_put: true, not both";
          if (!d.direct_put && d.stream.empty()) return "give a stream to read or direct_put: true")
};

// ---- root
// ----------------------------------------------------------------------------------------

constexpr Field kRootFields[] = {
    {.key = "data_dir",
     .required = true,
     .doc = "Broker segments, checkpoints and the batch journal live here.",
     .set = SET(if (v.text.empty()) return "give a directory"; c.config->data_dir = v.text)},
    {.key = "plugin_dirs",
     .type = Type::kStringList,
     .doc = "Directories searched for sink and transform plugins (.so).",
     .set = SET(c.config->plugin_dirs = v.list)},
    {.key = "log", .type = Type::kObject, .doc = "Logging on stderr.", .section = &kLogSection},
    {.key = "admin", .type = Type::kObject, .doc = "Admin endpoint.", .section = &kAdminSection},
    {.key = "broker",
     .type = Type::kObject,
     .doc = "The embedded broker.",
     .section = &kBrokerSection},
    {.key = "streams",
     .type = Type::kObjectList,
     .doc = "Broker streams.",
     .section = &kStreamSection},
    {.key = "sources",
     .type = Type::kObjectList,
     .doc = "Agent flows: files tailed into streams.",
     .section = &kSourceSection},
    {.key = "deliveries",
     .type = Type::kObjectList,
     .doc = "Firehose-style delivery streams.",
     .section = &kDeliverySection},
};
constexpr Section kRootSection{kRootFields};

}  // namespace

const Section& RootSection() { return kRootSection; }

std::string_view TypeName(Type type) {
  switch (type) {
    case Type::kString:
      return "string";
    case Type::kBool:
      return "bool";
    case Type::kInt:
      return "integer";
    case Type::kDuration:
      return "duration";
    case Type::kSize:
      return "size";
    case Type::kEnum:
      return "enum";
    case Type::kChar:
      return "character";
    case Type::kStringList:
      return "list of strings";
    case Type::kStringMap:
      return "map of strings";
    case Type::kObject:
      return "map";
    case Type::kObjectList:
      return "list of maps";
    case Type::kVariantList:
      return "list of steps";
    case Type::kSink:
      return "sink";
  }
  return "?";
}

}  // namespace sluice::config
