// The schema of `sources[]`: agent flows (agent::FlowOptions).
#include <cstdio>
#include <string>

#include "agent/config/checks.h"
#include "agent/config/schema_internal.h"
#include "agent/config/secrets.h"
#include "agent/input/journal_entry.h"
#include "agent/tail/event_time.h"
#include "agent/tail/partition_key.h"
#include "core/lua_record.h"

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
  c.source_keys.push_back("paths");
  return Status::Ok();
}

// A key of one source type, written in the file (defaults apply to every type silently).
#define GIVEN(key) \
  if (v.node != nullptr) c.source_keys.push_back(key)

// The type that owns each type-specific key.
std::string_view KeyType(std::string_view key) {
  if (key == "paths" || key == "exclude") return "file";
  if (key == "command" || key == "restart_delay" || key == "interval") return "exec";
  if (key == "journal") return "journal";
  return "syslog";
}

Status SetSyslogListen(LoadContext& c, const Value& v) {
  std::string_view t = v.text;
  if (!t.starts_with("udp://") && !t.starts_with("tcp://")) {
    return Refuse("\"" + v.text + "\" is not udp://host:port or tcp://host:port");
  }
  ListenAddress address;
  RETURN_IF_ERROR(ParseListen(t.substr(6), &address));
  c.flow->syslog.listen = v.text;
  c.source_keys.push_back("listen");
  return Status::Ok();
}

// After every key of a source: its keys belong to its type, and the type's required keys are
// there.
Status CheckSourceType(LoadContext& c) {
  const agent::FlowOptions& f = *c.flow;
  std::string_view type = "file";
  if (f.type == agent::SourceType::kSyslog) type = "syslog";
  if (f.type == agent::SourceType::kStdin) type = "stdin";
  if (f.type == agent::SourceType::kExec) type = "exec";
  if (f.type == agent::SourceType::kJournal) type = "journal";
  for (const std::string& key : c.source_keys) {
    if (KeyType(key) != type) {
      return Refuse(key + " is not a key of type: " + std::string(type));
    }
  }
  if (type == "file" && f.paths.empty()) {
    return Refuse("paths: required key is missing (type: file)");
  }
  if (type == "syslog" && f.syslog.listen.empty()) {
    return Refuse("listen: required key is missing (type: syslog)");
  }
  if (type == "exec" && f.exec.command.empty()) {
    return Refuse("command: required key is missing (type: exec)");
  }
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

constexpr std::string_view kOneMultiline = "give start_pattern or preset, not both";

constexpr Field kMultilineFields[] = {
    {.key = "start_pattern",
     .doc = "Regular expression (PCRE2) matching the first line of each record.",
     .set = SET(int n = 0; Status e = CheckRegex(v.text, &n); if (!e.ok()) return e;
                if (!c.flow->multiline_preset.empty()) return Refuse(std::string(kOneMultiline));
                c.flow->multiline_start_pattern = v.text)},
    {.key = "preset",
     .type = Type::kEnum,
     .choices = "java|python|go|docker|cri",
     .doc = "Built-in grouping instead of a start_pattern: java, python and go join a stack "
            "trace's lines into one record; docker and cri join a container runtime's partial "
            "lines and emit each line as a JSON object (log, stream, time). See "
            "docs/configuration.md, multiline records.",
     .set = SET(
         if (!c.flow->multiline_start_pattern.empty()) return Refuse(std::string(kOneMultiline));
         c.flow->multiline_preset = v.text)},
    {.key = "flush_timeout",
     .type = Type::kDuration,
     .default_text = "2s",
     .min = 10,
     .max = kHour,
     .doc = "Emit a pending record (or an unterminated last line) after this long without input.",
     .set = SET(c.flow->flush_timeout = v.duration)},
};
constexpr Section kMultilineSection{kMultilineFields};

Status SetJournalPriority(LoadContext& c, const Value& v) {
  const int p = agent::ParseJournalPriority(v.text);
  if (p < 0) {
    return Refuse("\"" + v.text +
                  "\" is not a priority (0..7 or emerg, alert, crit, err, warning, notice, info, "
                  "debug)");
  }
  c.flow->journal.priority = p;
  return Status::Ok();
}

Status SetJournalMatches(LoadContext& c, const Value& v) {
  for (const auto& [field, value] : v.map) {
    if (!agent::IsJournalFieldName(field)) {
      return Refuse("\"" + field +
                    "\" is not a journal field name (A-Z, 0-9 and _, not starting with a digit, "
                    "at most 64 bytes)");
    }
    c.flow->journal.matches[field] = value;
  }
  return Status::Ok();
}

constexpr Field kJournalFields[] = {
    {.key = "directory",
     .doc = "Directory of journal files to read (e.g. /var/log/journal/<machine-id>, or what "
            "systemd-journal-remote writes); default: the local system journal.",
     .set = SET(if (v.text.empty()) return Refuse("give a directory");
                c.flow->journal.directory = v.text)},
    {.key = "units",
     .type = Type::kStringList,
     .doc = "Only entries of these units (_SYSTEMD_UNIT, any of them; a name without a suffix "
            "gets .service, as journalctl -u).",
     .set = SET(for (const std::string& u
                     : v.list) if (u.empty()) return Refuse("a unit is empty");
                c.flow->journal.units = v.list)},
    {.key = "priority",
     .doc = "Only entries of this priority or a more urgent one: 0..7 or emerg, alert, crit, err, "
            "warning, notice, info, debug (PRIORITY <= n).",
     .set = SET(return SetJournalPriority(c, v);)},
    {.key = "matches",
     .type = Type::kStringMap,
     .doc = "Only entries whose FIELD has this value, {FIELD: value, ...}: different fields must "
            "all match (and units and priority with them), as journalctl FIELD=value does.",
     .set = SET(return SetJournalMatches(c, v);)},
};
constexpr Section kJournalSection{kJournalFields, HOOK(c.source_keys.push_back("journal"))};

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
    {.key = "kubernetes",
     .type = Type::kBool,
     .default_text = "false",
     .doc = "Add \"kubernetes\": {pod_name, namespace_name, container_name, container_id or "
            "pod_uid} read from a container log's path (/var/log/containers/<pod>_<namespace>_"
            "<container>-<id>.log or /var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log); "
            "no API server is asked.",
     .set = SET(c.step->add_kubernetes = v.boolean)},
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

Status CheckDottedPath(const std::string& t) {
  if (t.empty() || t.front() == '.' || t.back() == '.' || t.find("..") != std::string::npos) {
    return Refuse("\"" + t + "\" is not a dotted path of field names");
  }
  return Status::Ok();
}

constexpr Field kGrepRuleFields[] = {
    {.key = "regex",
     .required = true,
     .doc = "PCRE2 pattern the field (or the record) must match somewhere.",
     .set = SET(int n = 0; RETURN_IF_ERROR(CheckRegex(v.text, &n));
                c.step->rules.back().pattern = v.text)},
    {.key = "field",
     .doc = "The field to match, a dotted path; unset: the whole record.",
     .set = SET(RETURN_IF_ERROR(CheckDottedPath(v.text)); c.step->rules.back().field = v.text)},
};
constexpr Section kGrepRuleSection{kGrepRuleFields, HOOK(c.step->rules.emplace_back())};

constexpr Field kGrepFields[] = {
    {.key = "regex",
     .doc = "PCRE2 pattern the field (or the record) must match somewhere (anchor with ^ and $). "
            "Give regex (and field) or rules.",
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
    {.key = "rules",
     .type = Type::kObjectList,
     .doc = "Several {field, regex} rules instead of one, combined by op.",
     .section = &kGrepRuleSection},
    {.key = "op",
     .type = Type::kEnum,
     .default_text = "and",
     .choices = "and|or",
     .doc = "rules: a record matches when all of them match (and) or any does (or).",
     .set = SET(c.step->any = v.text == "or")},
};
constexpr Section kGrepSection {
  kGrepFields, BEGIN_STEP(kGrep),
      HOOK(const ProcessingStep& s = *c.step;
           if (s.pattern.empty() ==
               s.rules.empty()) return Refuse("give regex or rules, one of them");
           if (!s.rules.empty() && !s.field.empty()) return Refuse("field goes inside each rule"))
};

constexpr Field kRegexFields[] = {
    {.key = "pattern",
     .required = true,
     .doc = "PCRE2 pattern whose named groups ((?<name>...)) become fields.",
     .set = SET(int n = 0; RETURN_IF_ERROR(CheckRegex(v.text, &n)); c.step->pattern = v.text)},
    {.key = "field",
     .doc = "Parse this field (a dotted path) and add the groups to the record; unset: parse the "
            "record's text into a new record of the groups.",
     .set = SET(RETURN_IF_ERROR(CheckDottedPath(v.text)); c.step->field = v.text)},
    {.key = "types",
     .type = Type::kStringMap,
     .doc = "Group name to type: string (default), int, float, bool. A text that is not of its "
            "type stays a string.",
     .set = SET(for (const auto& [k, t]
                     : v.map) {
       if (t != "string" && t != "int" && t != "float" && t != "bool")
         return Refuse("type \"" + t + "\" of " + k + " is none of string, int, float, bool");
       c.step->types.emplace_back(k, t);
     })},
    kOnUnparsed,
};
constexpr Section kRegexSection{kRegexFields, BEGIN_STEP(kRegex)};

Status SetUtcOffset(LoadContext& c, const Value& v) {
  const std::string& t = v.text;
  int h = 0, m = 0;
  char sign = t.empty() ? 0 : t[0];
  if ((sign != '+' && sign != '-') || t.size() != 6 || t[3] != ':' ||
      std::sscanf(t.c_str() + 1, "%2d:%2d", &h, &m) != 2 || h > 23 || m > 59) {
    return Refuse("\"" + t + "\" is not an offset like +02:00 or -05:30");
  }
  c.step->utc_offset_s = (sign == '-' ? -1 : 1) * (h * 3600 + m * 60);
  return Status::Ok();
}

constexpr Field kTimestampFields[] = {
    {.key = "field",
     .required = true,
     .doc = "The field holding the time (a dotted path).",
     .set = SET(RETURN_IF_ERROR(CheckDottedPath(v.text)); c.step->field = v.text)},
    {.key = "format",
     .default_text = "rfc3339",
     .doc = "rfc3339, epoch (seconds), epoch_ms, epoch_us, epoch_ns, common_log (nginx/Apache "
            "10/Oct/2000:13:55:36 -0700), or a strptime format (%Y-%m-%d %H:%M:%S; %L for the "
            "fraction of a second).",
     .set = SET(auto p = agent::EventTimeParser::Create(v.text);
                if (!p.ok()) return Refuse(p.status().message()); c.step->time_format = v.text)},
    {.key = "utc_offset",
     .default_text = "+00:00",
     .doc = "Offset of times written without a zone.",
     .set = SET(return SetUtcOffset(c, v);)},
    kOnUnparsed,
};
constexpr Section kTimestampSection{kTimestampFields, BEGIN_STEP(kTimestamp)};

Status SetPairs(std::vector<std::pair<std::string, std::string>>* out, const Value& v,
                bool value_is_field) {
  for (const auto& [k, val] : v.map) {
    RETURN_IF_ERROR(CheckDottedPath(k));
    if (value_is_field) RETURN_IF_ERROR(CheckDottedPath(val));
    out->emplace_back(k, val);
  }
  return Status::Ok();
}

constexpr Field kNestFields[] = {
    {.key = "under",
     .required = true,
     .doc = "Object the keys move into (made when absent).",
     .set = SET(c.step->nest_under = v.text)},
    {.key = "keys",
     .type = Type::kStringList,
     .required = true,
     .doc = "Top-level names to move, or prefixes ending in *.",
     .set = SET(c.step->nest_keys = v.list)},
};
constexpr Section kNestSection{kNestFields};

constexpr Field kLiftFields[] = {
    {.key = "key",
     .required = true,
     .doc = "Object (a dotted path) whose members move to the top level; it is removed.",
     .set = SET(RETURN_IF_ERROR(CheckDottedPath(v.text)); c.step->lift_key = v.text)},
    {.key = "prefix",
     .doc = "Put before each lifted name.",
     .set = SET(c.step->lift_prefix = v.text)},
};
constexpr Section kLiftSection{kLiftFields};

constexpr Field kModifyFields[] = {
    {.key = "rename",
     .type = Type::kStringMap,
     .doc = "from: to, when to is absent.",
     .set = SET(return SetPairs(&c.step->rename, v, true);)},
    {.key = "hard_rename",
     .type = Type::kStringMap,
     .doc = "from: to, replacing to.",
     .set = SET(return SetPairs(&c.step->hard_rename, v, true);)},
    {.key = "copy",
     .type = Type::kStringMap,
     .doc = "from: to, when to is absent.",
     .set = SET(return SetPairs(&c.step->copy, v, true);)},
    {.key = "hard_copy",
     .type = Type::kStringMap,
     .doc = "from: to, replacing to.",
     .set = SET(return SetPairs(&c.step->hard_copy, v, true);)},
    {.key = "add",
     .type = Type::kStringMap,
     .doc = "field: value (a string), when the field is absent.",
     .set = SET(return SetPairs(&c.step->add, v, false);)},
    {.key = "set",
     .type = Type::kStringMap,
     .doc = "field: value (a string), replacing it.",
     .set = SET(return SetPairs(&c.step->set, v, false);)},
    {.key = "remove",
     .type = Type::kStringList,
     .doc = "Fields to remove (dotted paths), or top-level prefixes ending in *.",
     .set = SET(c.step->remove = v.list)},
    {.key = "nest",
     .type = Type::kObject,
     .doc = "Move fields under an object.",
     .section = &kNestSection},
    {.key = "lift",
     .type = Type::kObject,
     .doc = "Move an object's fields up.",
     .section = &kLiftSection},
    kOnUnparsed,
};
constexpr Section kModifySection{kModifyFields, BEGIN_STEP(kModify)};

constexpr Field kMaskFields[] = {
    {.key = "kind",
     .type = Type::kEnum,
     .required = true,
     .choices = "ipv4|ipv6|email|credit_card|pattern",
     .doc = "What to find: addresses, e-mail addresses, card numbers (Luhn-checked), or pattern.",
     .set = SET(c.step->mask_kind = v.text)},
    {.key = "field",
     .doc = "Mask in this field (a dotted path); unset: anywhere in the record.",
     .set = SET(RETURN_IF_ERROR(CheckDottedPath(v.text)); c.step->field = v.text)},
    {.key = "pattern",
     .doc = "kind pattern: the PCRE2 pattern to mask.",
     .set = SET(int n = 0; RETURN_IF_ERROR(CheckRegex(v.text, &n)); c.step->pattern = v.text)},
    {.key = "with",
     .type = Type::kEnum,
     .default_text = "redact",
     .choices = "redact|prefix|hash",
     .doc = "redact: the replacement; prefix: keep the first `keep` bits of an address (zeroing "
            "the rest) or characters of another finding, then the replacement; hash: a keyed "
            "HMAC-SHA-256 (32 hex digits) so equal values stay equal.",
     .set = SET(c.step->mask_with = v.text)},
    {.key = "replacement",
     .default_text = "[REDACTED]",
     .doc = "Text put for a finding (no quote, backslash or control character).",
     .set = SET(for (char ch
                     : v.text) if (ch == '"' || ch == '\\' ||
                                   static_cast<unsigned char>(ch) <
                                       0x20) return Refuse("the replacement may not hold a quote, "
                                                           "backslash or control "
                                                           "character");
                c.step->replacement = v.text)},
    {.key = "keep",
     .type = Type::kInt,
     .default_text = "0",
     .min = 0,
     .max = 128,
     .doc = "with prefix: bits of an address (24 keeps 203.0.113.0 of 203.0.113.7), or "
            "characters.",
     .set = SET(c.step->keep = int(v.integer))},
    {.key = "hash_secret",
     .doc = "with hash: the key of the HMAC (hash_secret_file / hash_secret_env to keep it out "
            "of the file).",
     .set = SET(c.step->hash_key = v.text)},
    {.key = "hash_secret_env",
     .doc = "with hash: name of an environment variable holding the key.",
     .set = SET(auto secret = SecretFromEnv(v.text); if (!secret.ok()) return secret.status();
                c.step->hash_key = std::move(*secret))},
    {.key = "hash_secret_file",
     .doc = "with hash: file holding the key (trailing newline ignored; not world-readable).",
     .set = SET(auto secret = SecretFromFile(v.text); if (!secret.ok()) return secret.status();
                c.step->hash_key = std::move(*secret))},
    kOnUnparsed,
};
constexpr Section kMaskSection {
  kMaskFields, BEGIN_STEP(kMask),
      HOOK(const ProcessingStep& s = *c.step;
           if ((s.mask_kind == "pattern") ==
               s.pattern.empty()) return Refuse("pattern is for kind pattern, which needs it");
           if ((s.mask_with == "hash") ==
               s.hash_key.empty()) return Refuse("hash_secret is for with hash, which needs it"))
};

constexpr Field kSampleFields[] = {
    {.key = "rate",
     .type = Type::kInt,
     .required = true,
     .min = 1,
     .max = 1000000000,
     .doc = "Keep one record in rate.",
     .set = SET(c.step->rate = v.integer)},
    {.key = "field",
     .doc = "Sample by this field's value (all records of a value kept, or none); unset, or "
            "absent from a record: every rate-th record.",
     .set = SET(RETURN_IF_ERROR(CheckDottedPath(v.text)); c.step->field = v.text)},
};
constexpr Section kSampleSection{kSampleFields, BEGIN_STEP(kSample)};

constexpr Field kThrottleFields[] = {
    {.key = "rate",
     .type = Type::kInt,
     .required = true,
     .min = 1,
     .max = 1000000000,
     .doc = "Records let through per interval (per value of field); the rest are dropped.",
     .set = SET(c.step->rate = v.integer)},
    {.key = "interval",
     .type = Type::kDuration,
     .default_text = "1s",
     .min = 1,
     .max = kDay,
     .doc = "The window the rate counts in.",
     .set = SET(c.step->interval = v.duration)},
    {.key = "field",
     .doc = "Count separately per value of this field (a dotted path); unset: one count.",
     .set = SET(RETURN_IF_ERROR(CheckDottedPath(v.text)); c.step->field = v.text)},
    {.key = "max_keys",
     .type = Type::kInt,
     .default_text = "10000",
     .min = 1,
     .max = 10000000,
     .doc = "Values counted separately at most; more share one count.",
     .set = SET(c.step->max_keys = int(v.integer))},
};
constexpr Section kThrottleSection{kThrottleFields, BEGIN_STEP(kThrottle)};

// Loads the script as the source will (one Lua state, dropped at once), so that `sluice check`
// names a syntax error, a failing top level or a missing function with the script's line.
Status CheckLuaStep(LoadContext& c) {
  LuaOptions lo = c.step->lua;
  if (lo.script.empty() == lo.code.empty()) return Refuse("give one of script, code");
  lo.code_name = "code";
  auto f = LuaRecordFunction::Create(lo);
  if (!f.ok()) {
    std::string m = f.status().message();
    return Refuse(m.starts_with("lua: ") ? m.substr(5) : m);
  }
  return Status::Ok();
}

constexpr Field kLuaFields[] = {
    {.key = "script",
     .doc = "Path of the Lua script, loaded once by the source (docs/processing.md, lua).",
     .set = SET(c.step->lua.script = v.text)},
    {.key = "code",
     .doc = "The Lua source inline, instead of a script file.",
     .set = SET(c.step->lua.code = v.text)},
    {.key = "call",
     .required = true,
     .doc = "Global function called for each record: code, timestamp, record = call(tag, "
            "timestamp, record), as Fluent Bit's Lua filter; code 1 sets the record's event "
            "time.",
     .set = SET(c.step->lua.call = v.text)},
    {.key = "budget",
     .type = Type::kDuration,
     .default_text = "10ms",
     .min = 1,
     .max = 10 * kSecond,
     .doc = "Time allowed for one call; past it the record fails.",
     .set = SET(c.step->lua.budget =
                    std::chrono::duration_cast<std::chrono::microseconds>(v.duration))},
    {.key = "memory_limit",
     .type = Type::kSize,
     .default_text = "64MiB",
     .min = kMiB,
     .max = 4 * kGiB,
     .doc = "Memory the source's Lua state may hold; past it the call fails.",
     .set = SET(c.step->lua.memory_limit = v.size)},
    {.key = "on_unparsed",
     .type = Type::kEnum,
     .default_text = "error_output",
     .choices = "pass_through|error_output",
     .doc = "A record whose call fails (a Lua error, the budget, the memory limit) goes to the "
            "error output with the message (default), or passes through unchanged.",
     .set = SET(c.step->unparsed_to_error_output = v.text == "error_output")},
};
constexpr Section kLuaSection{kLuaFields, BEGIN_STEP(kLua), CheckLuaStep};

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
    {.key = "regex",
     .type = Type::kObject,
     .doc = "Parse the record (or a field) with named groups, typed.",
     .section = &kRegexSection},
    {.key = "timestamp",
     .type = Type::kObject,
     .doc = "Take the record's event time from a field.",
     .section = &kTimestampSection},
    {.key = "modify",
     .type = Type::kObject,
     .doc = "Rename, copy, add, set, remove, nest and lift fields.",
     .section = &kModifySection},
    {.key = "mask",
     .type = Type::kObject,
     .doc = "Redact, truncate or hash addresses, e-mail, card numbers or a pattern.",
     .section = &kMaskSection},
    {.key = "sample",
     .type = Type::kObject,
     .doc = "Keep one record in N.",
     .section = &kSampleSection},
    {.key = "throttle",
     .type = Type::kObject,
     .doc = "At most N records per interval (per key); drop the rest.",
     .section = &kThrottleSection},
    {.key = "lua",
     .type = Type::kObject,
     .doc = "Call a Lua function on each record (Fluent Bit's Lua filter contract).",
     .section = &kLuaSection},
};
constexpr Section kProcessingSection{kProcessingVariants};

constexpr Field kSourceFields[] = {
    {.key = "name",
     .required = true,
     .doc = "Flow name (checkpoints are kept under it).",
     .set = SET(c.flow->name = v.text; c.source_names.push_back(RefOf(v));
                return CheckName(v.text, 128);)},
    {.key = "type",
     .type = Type::kEnum,
     .default_text = "file",
     .choices = "file|syslog|stdin|exec|journal",
     .doc = "What the source reads: files (file), a syslog listener (syslog), the daemon's "
            "standard input (stdin), a command's output (exec) or the systemd journal "
            "(journal); see docs/inputs.md.",
     .set = SET(using agent::SourceType; c.flow->type = v.text == "syslog"    ? SourceType::kSyslog
                                                        : v.text == "stdin"   ? SourceType::kStdin
                                                        : v.text == "exec"    ? SourceType::kExec
                                                        : v.text == "journal" ? SourceType::kJournal
                                                                              : SourceType::kFile)},
    {.key = "paths",
     .type = Type::kStringList,
     .doc = "type file (required): globs of files to follow: *, ?, [...], ** in any component.",
     .set = SET(return SetPaths(c, v);)},
    {.key = "exclude",
     .type = Type::kStringList,
     .doc = "type file: globs of files to leave out.",
     .set = SET(c.flow->exclude = v.list; GIVEN("exclude"))},
    {.key = "listen",
     .doc = "type syslog (required): udp://host:port (a message per datagram) or "
            "tcp://host:port (octet-counted or newline-framed). Syslog has no authentication: "
            "sluice check warns about a non-loopback host.",
     .set = SET(return SetSyslogListen(c, v);)},
    {.key = "format",
     .type = Type::kEnum,
     .default_text = "auto",
     .choices = "raw|rfc3164|rfc5424|auto",
     .doc = "type syslog: parse messages into JSON objects as RFC 3164, RFC 5424, either (auto), "
            "or keep them as received (raw). A message that does not parse is kept as received "
            "and counted as unparsed.",
     .set = SET(using F = agent::SyslogOptions::Format;
                c.flow->syslog.format = v.text == "raw"       ? F::kRaw
                                        : v.text == "rfc3164" ? F::kRfc3164
                                        : v.text == "rfc5424" ? F::kRfc5424
                                                              : F::kAuto;
                GIVEN("format"))},
    {.key = "max_message_size",
     .type = Type::kSize,
     .default_text = "64KiB",
     .min = 64,
     .max = kMiB - 256,
     .doc = "type syslog: longer messages are truncated (and counted).",
     .set = SET(c.flow->syslog.max_message_size = v.size; GIVEN("max_message_size"))},
    {.key = "max_connections",
     .type = Type::kInt,
     .default_text = "256",
     .min = 1,
     .max = 65536,
     .doc = "type syslog, tcp: more connections are closed at once (and counted).",
     .set = SET(c.flow->syslog.max_connections = int(v.integer); GIVEN("max_connections"))},
    {.key = "idle_timeout",
     .type = Type::kDuration,
     .default_text = "5m",
     .min = 100,
     .max = kDay,
     .doc = "type syslog, tcp: a connection silent this long is closed.",
     .set = SET(c.flow->syslog.idle_timeout = v.duration; GIVEN("idle_timeout"))},
    {.key = "command",
     .type = Type::kStringList,
     .doc = "type exec (required): the command and its arguments (no shell); its standard "
            "output, one record per line.",
     .set = SET(if (v.list.empty() || v.list[0].empty()) return Refuse("give the command to run");
                c.flow->exec.command = v.list; GIVEN("command"))},
    {.key = "restart_delay",
     .type = Type::kDuration,
     .default_text = "1s",
     .min = 10,
     .max = kHour,
     .doc = "type exec: wait this long before starting an exited command again; doubled after "
            "each quick exit, up to 30s.",
     .set = SET(c.flow->exec.restart_delay = v.duration; GIVEN("restart_delay"))},
    {.key = "interval",
     .type = Type::kDuration,
     .min = 10,
     .max = kDay,
     .doc = "type exec: run the command this often (each run to its end) instead of keeping "
            "it running.",
     .set = SET(c.flow->exec.interval = v.duration; GIVEN("interval"))},
    {.key = "journal",
     .type = Type::kObject,
     .doc = "type journal: what to read of the systemd journal (all of the local journal when "
            "absent).",
     .section = &kJournalSection},
    {.key = "stream",
     .required = true,
     .doc = "Stream that receives the records.",
     .set = SET(c.flow->stream = v.text; c.stream_refs.push_back(RefOf(v)))},
    {.key = "initial_position",
     .type = Type::kEnum,
     .default_text = "end_of_file",
     .choices = "start_of_file|end_of_file",
     .doc = "Where to start in files that have no checkpoint at start-up (type journal: the "
            "journal's head or only new entries, when there is no cursor).",
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
            "grep, logfmt, regex, timestamp, modify, mask, sample, throttle, lua "
            "(docs/processing.md).",
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
    {.key = "deleted_wait",
     .type = Type::kDuration,
     .default_text = "2s",
     .min = 0,
     .max = kDay,
     .doc = "How long a file deleted while open must not grow before it is let go (its writer "
            "may hold it open and write on); its space is freed then.",
     .set = SET(c.flow->deleted_wait = v.duration)},
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
  kSourceFields,
      HOOK(c.config->sources.emplace_back(); c.flow = &c.config->sources.back();
           c.source_keys.clear()),
      HOOK(if (c.flow->truncated_record_terminator.size() >= c.flow->max_record_size) return Refuse(
               "truncated_record_terminator must be shorter than "
               "max_record_size");
           return CheckSourceType(c);)
};

}  // namespace sluice::config
