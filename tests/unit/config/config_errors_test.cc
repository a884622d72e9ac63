// A table of bad configurations and the exact messages they produce.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "agent/config/config.h"

namespace sluice::config {
namespace {

struct BadCase {
  const char* name;
  const char* yaml;
  const char* message;  // the whole Status message: every error, one per line
};

// Shared heads: a stream `app-logs` and a valid delivery skeleton.
#define HEAD "data_dir: d\nstreams: [{name: app-logs}]\n"

const BadCase kBadCases[] = {
    {"EmptyDocument", "", "sluice.yaml:1:1: data_dir: required key is missing"},
    {"RootIsAList", "- a\n", "sluice.yaml:1:1: expected a map, got a list"},
    {"SyntaxError", "data_dir: [a\n",
     "sluice.yaml:2:1: YAML syntax error: end of sequence flow not found"},
    // yaml-cpp 0.7 stalls on these and LoadAll would allocate forever (yaml_adapter.cc).
    {"StalledParserAtStart",
     ",ae    retry_backof {base: 1s, cap: 1m}\n\n    backup: ncurrency: 2\n",
     "sluice.yaml:1:1: YAML syntax error: unexpected ',' (not the start of a key, a value or a "
     "list item)"},
    {"StalledParserAfterADocument", "data_dir: a\n---\n,\n",
     "sluice.yaml:3:1: YAML syntax error: unexpected ',' (not the start of a key, a value or a "
     "list item)"},
    {"AdminOnAPublicAddress", "data_dir: d\nadmin: {listen: 0.0.0.0:4195}\n",
     "sluice.yaml:2:8: admin: \"0.0.0.0:4195\" is not a loopback address; the admin endpoint "
     "serves /reload and the Kinesis API (/api): give auth (token_file) to listen on other "
     "interfaces"},
    {"TransformBufferIntervalIsRefused",
     HEAD "deliveries: [{name: d, stream: app-logs, sink: {type: file},\n"
          "  transform: {exec: [t], buffer: {interval: 10s}}}]\n",
     "sluice.yaml:4:45: deliveries[0].transform.buffer.interval: not accepted: a transform runs on "
     "each delivery batch as it flushes (the delivery's buffer.interval bounds the wait); remove "
     "this key"},
    {"PartitionKeyFieldPathWithEmptySegment",
     HEAD "sources: [{name: f, paths: [x], stream: app-logs, partition_key: \"field:user..id\"}]\n",
     "sluice.yaml:3:66: sources[0].partition_key: field path \"user..id\" is empty"},
    {"AtTimestampWithoutTimestamp",
     HEAD "deliveries: [{name: a, stream: app-logs, initial_position: at_timestamp, "
          "sink: {type: file}}]\n",
     "sluice.yaml:3:14: deliveries[0]: initial_position: at_timestamp and initial_timestamp go "
     "together"},
    {"BadInitialTimestamp",
     HEAD "deliveries: [{name: a, stream: app-logs, initial_position: at_timestamp, "
          "initial_timestamp: yesterday, sink: {type: file}}]\n",
     "sluice.yaml:3:93: deliveries[0].initial_timestamp: expected an RFC 3339 UTC time "
     "(2026-01-02T03:04:05Z) or seconds since the epoch"},
    {"TwoDocuments", "data_dir: a\n---\ndata_dir: b\n",
     "sluice.yaml:3:1: the file holds 2 YAML documents; sluice reads exactly one"},
    {"RequiredKeyWithoutValue", "data_dir:\n",
     "sluice.yaml:1:1: data_dir: required key has no value"},
    {"UnknownKeyDidYouMean", "data_dir: d\nplugin_dir: [x]\n",
     "sluice.yaml:2:1: plugin_dir: unknown key 'plugin_dir' (did you mean 'plugin_dirs'?)"},
    {"UnknownKeyFarFromAll", "data_dir: d\nfrobnicate: 1\n",
     "sluice.yaml:2:1: frobnicate: unknown key 'frobnicate'"},
    {"UnknownNestedKey", "data_dir: d\nstreams:\n  - name: s\n    shrads: 2\n",
     "sluice.yaml:4:5: streams[0].shrads: unknown key 'shrads' (did you mean 'shards'?)"},
    {"DuplicateKey", "data_dir: a\ndata_dir: b\n",
     "sluice.yaml:2:1: data_dir: duplicate key (first at line 1)"},
    {"BadDuration",
     HEAD "deliveries:\n  - name: a\n    stream: app-logs\n    sink: {type: file}\n"
          "    buffer:\n      interval: 90x\n",
     "sluice.yaml:8:17: deliveries[0].buffer.interval: \"90x\" is not a duration (use e.g. "
     "250ms, 30s, 5m, 24h)"},
    {"DurationWithoutUnit", "data_dir: d\nbroker: {iterator_ttl: 30}\n",
     "sluice.yaml:2:24: broker.iterator_ttl: \"30\" is not a duration: the unit is missing (ms, "
     "s, m, h, d)"},
    {"DurationOutOfRange", "data_dir: d\nstreams: [{name: s, retention: 12h}]\n",
     "sluice.yaml:2:32: streams[0].retention: \"12h\" is out of range 24h..8760h"},
    {"RetentionNotWholeHours", "data_dir: d\nstreams: [{name: s, retention: 1441m}]\n",
     "sluice.yaml:2:32: streams[0].retention: \"1441m\" is not a whole number of hours"},
    {"SizeOutOfRange",
     HEAD "sources: [{name: f, paths: [x], stream: app-logs, max_record_size: 2MiB}]\n",
     "sluice.yaml:3:68: sources[0].max_record_size: \"2MiB\" is out of range 1B..1MiB"},
    {"SegmentSizeOutOfRange", "data_dir: d\nbroker: {segment_size: 4KiB}\n",
     "sluice.yaml:2:24: broker.segment_size: \"4KiB\" is out of range 64KiB..3GiB"},
    {"ListenerLimitsOutOfRange",
     "data_dir: d\nadmin: {max_connections: 0}\nbroker: {api: {idle_timeout: 10ms}}\n",
     "sluice.yaml:2:26: admin.max_connections: 0 is out of range 1..65536\n"
     "sluice.yaml:3:30: broker.api.idle_timeout: \"10ms\" is out of range 100ms..24h"},
    {"BadSize", "data_dir: d\nbroker: {disk_quota: 5MB5}\n",
     "sluice.yaml:2:22: broker.disk_quota: \"5MB5\" is not a size (use e.g. 512KiB, 5MiB, 1GiB)"},
    {"IntOutOfRange", "data_dir: d\nstreams: [{name: s, shards: 0}]\n",
     "sluice.yaml:2:29: streams[0].shards: 0 is out of range 1..1000"},
    {"NotAnInteger", "data_dir: d\nstreams: [{name: s, shards: two}]\n",
     "sluice.yaml:2:29: streams[0].shards: \"two\" is not an integer"},
    {"EnumDidYouMean", "data_dir: d\nstreams: [{name: s, fsync: intervall}]\n",
     "sluice.yaml:2:28: streams[0].fsync: \"intervall\" is not one of always, interval, never "
     "(did you mean 'interval'?)"},
    {"NotABoolean", HEAD "deliveries: [{name: a, direct_put: yes, sink: {type: file}}]\n",
     "sluice.yaml:3:36: deliveries[0].direct_put: \"yes\" is not a boolean (true or false)"},
    {"ListWhereIntExpected", "data_dir: d\nstreams: [{name: s, shards: [1]}]\n",
     "sluice.yaml:2:29: streams[0].shards: expected an integer, got a list"},
    {"MapWhereListExpected", "data_dir: d\nstreams: {name: s}\n",
     "sluice.yaml:2:10: streams: expected a list, got a map"},
    {"MapWhereStringListExpected", HEAD "sources: [{name: f, paths: {a: b}, stream: app-logs}]\n",
     "sluice.yaml:3:28: sources[0].paths: expected a list of strings, got a map"},
    {"MissingRequiredInListItem", "data_dir: d\nstreams: [{shards: 1}]\n",
     "sluice.yaml:2:11: streams[0].name: required key is missing"},
    {"BadName", "data_dir: d\nstreams: [{name: a b}]\n",
     "sluice.yaml:2:18: streams[0].name: \"a b\" is not a valid name (1 to 128 of A-Z a-z 0-9 _ "
     ". -)"},
    {"DuplicateStreamNames", "data_dir: d\nstreams:\n  - name: s\n  - name: s\n",
     "sluice.yaml:4:11: streams[1].name: duplicate stream name \"s\" (first at line 3)"},
    {"DuplicateSourceNames",
     HEAD "sources:\n  - {name: f, paths: [x], stream: app-logs}\n"
          "  - {name: f, paths: [y], stream: app-logs}\n",
     "sluice.yaml:5:12: sources[1].name: duplicate source name \"f\" (first at line 4)"},
    {"DuplicateDeliveryNames",
     HEAD "deliveries:\n  - {name: a, stream: app-logs, sink: {type: file}}\n"
          "  - {name: a, stream: app-logs, sink: {type: file}}\n",
     "sluice.yaml:5:12: deliveries[1].name: duplicate delivery name \"a\" (first at line 4)"},
    {"UndeclaredStream", HEAD "sources: [{name: f, paths: [x], stream: app-log}]\n",
     "sluice.yaml:3:41: sources[0].stream: stream \"app-log\" is not declared under streams (did "
     "you mean 'app-logs'?)"},
    {"UndeclaredStreamOfDelivery",
     HEAD "deliveries: [{name: a, stream: other, sink: {type: file}}]\n",
     "sluice.yaml:3:32: deliveries[0].stream: stream \"other\" is not declared under streams"},
    {"MissingVariable", "data_dir: ${SLUICE_TEST_UNSET_VARIABLE}\n",
     "sluice.yaml:1:11: data_dir: environment variable SLUICE_TEST_UNSET_VARIABLE is not set and "
     "has no default (write ${SLUICE_TEST_UNSET_VARIABLE:-value} to give one)"},
    {"BadVariableReference", "data_dir: d\nplugin_dirs: [\"${1x}\"]\n",
     "sluice.yaml:2:15: plugin_dirs[0]: \"${1x}\" is not a variable reference (use ${NAME} or "
     "${NAME:-default})"},
    {"UnknownStepDidYouMean",
     HEAD "sources: [{name: f, paths: [x], stream: app-logs, processing: [single_lines]}]\n",
     "sluice.yaml:3:64: sources[0].processing[0]: unknown step 'single_lines' (did you mean "
     "'single_line'?); steps are single_line, csv_to_json, log_to_json, add_metadata, json, grep, "
     "logfmt, regex, timestamp, modify, mask, sample, throttle, lua"},
    {"BareStepMissingItsOptions",
     HEAD "sources: [{name: f, paths: [x], stream: app-logs, processing: [csv_to_json]}]\n",
     "sluice.yaml:3:64: sources[0].processing[0].csv_to_json.field_names: required key is "
     "missing"},
    {"EmptyPath", HEAD "sources: [{name: f, paths: [''], stream: app-logs}]\n",
     "sluice.yaml:3:28: sources[0].paths: a path is empty"},
    {"StepOptionUnknown",
     HEAD "sources: [{name: f, paths: [x], stream: app-logs,\n"
          "            processing: [csv_to_json: {field_names: [a], delimter: ';'}]}]\n",
     "sluice.yaml:4:58: sources[0].processing[0].csv_to_json.delimter: unknown key 'delimter' "
     "(did you mean 'delimiter'?)"},
    {"DelimiterNotOneChar",
     HEAD "sources: [{name: f, paths: [x], stream: app-logs,\n"
          "            processing: [csv_to_json: {field_names: [a], delimiter: ab}]}]\n",
     "sluice.yaml:4:69: sources[0].processing[0].csv_to_json.delimiter: \"ab\" is not a single "
     "character"},
    {"CustomLogFormatWithoutPattern",
     HEAD "sources: [{name: f, paths: [x], stream: app-logs,\n"
          "            processing: [log_to_json: {format: custom}]}]\n",
     "sluice.yaml:4:39: sources[0].processing[0].log_to_json: format custom needs a pattern"},
    {"CustomPatternFieldCountMismatch",
     HEAD "sources: [{name: f, paths: [x], stream: app-logs,\n"
          "            processing: [log_to_json: {format: custom, pattern: '(a)(b)', "
          "field_names: [x]}]}]\n",
     "sluice.yaml:4:39: sources[0].processing[0].log_to_json: the pattern has 2 capture groups "
     "but 1 field_names are given"},
    {"BadRegex",
     HEAD "sources: [{name: f, paths: [x], stream: app-logs, multiline: {start_pattern: 'a('}}]\n",
     "sluice.yaml:3:78: sources[0].multiline.start_pattern: \"a(\" is not a valid regular "
     "expression: missing closing parenthesis at offset 2"},
    {"MultilinePatternAndPreset",
     HEAD "sources: [{name: f, paths: [x], stream: app-logs,\n"
          "            multiline: {start_pattern: '^x', preset: java}}]\n",
     "sluice.yaml:4:54: sources[0].multiline.preset: give start_pattern or preset, not both"},
    {"UnknownMultilinePreset",
     HEAD "sources: [{name: f, paths: [x], stream: app-logs, multiline: {preset: ruby}}]\n",
     "sluice.yaml:3:71: sources[0].multiline.preset: \"ruby\" is not one of java, python, go, "
     "docker, cri"},
    {"BadPartitionKey",
     HEAD "sources: [{name: f, paths: [x], stream: app-logs, partition_key: hash}]\n",
     "sluice.yaml:3:66: sources[0].partition_key: \"hash\" is not a partition key option (random, "
     "deterministic, file, field:<json path>, regex:<pattern>)"},
    {"RegexPartitionKeyWithoutGroup",
     HEAD "sources: [{name: f, paths: [x], stream: app-logs, partition_key: 'regex:a+'}]\n",
     "sluice.yaml:3:66: sources[0].partition_key: \"regex:a+\" needs a capture group: the key is "
     "the first group"},
    {"TerminatorLongerThanRecord",
     HEAD "sources: [{name: f, paths: [x], stream: app-logs, max_record_size: 2,\n"
          "            truncated_record_terminator: '...'}]\n",
     "sluice.yaml:3:11: sources[0]: truncated_record_terminator must be shorter than "
     "max_record_size"},
    {"DeliveryWithoutSource", HEAD "deliveries: [{name: a, sink: {type: file}}]\n",
     "sluice.yaml:3:14: deliveries[0]: give a stream to read, a source, or direct_put: true"},
    {"DeliveryWithBothSources",
     HEAD "deliveries: [{name: a, stream: app-logs, direct_put: true, sink: {type: file}}]\n",
     "sluice.yaml:3:14: deliveries[0]: give one of stream, source, direct_put: true"},
    {"DeliveryWithStreamAndKafkaSource",
     HEAD "deliveries: [{name: a, stream: app-logs, sink: {type: file},\n"
          "  source: {type: kafka, brokers: 'h:9092', topics: [t], group: g}}]\n",
     "sluice.yaml:3:14: deliveries[0]: give one of stream, source, direct_put: true"},
    {"KafkaSourceOwnedProperty",
     HEAD "deliveries: [{name: a, sink: {type: file}, source: {type: kafka, brokers: 'h:9092',\n"
          "  topics: [t], group: g, properties: {enable.auto.commit: 'true'}}}]\n",
     "sluice.yaml:4:38: deliveries[0].source.properties: \"enable.auto.commit\" is set by the "
     "source; remove it"},
    {"KafkaSourceWithoutGroup",
     HEAD "deliveries: [{name: a, sink: {type: file}, source: {type: kafka, brokers: 'h:9092',\n"
          "  topics: [t]}}]\n",
     "sluice.yaml:3:52: deliveries[0].source: group: required key is missing (type: kafka)"},
    {"KinesisSourceWithKafkaKey",
     HEAD "deliveries: [{name: a, sink: {type: file}, source: {type: kinesis, stream: s,\n"
          "  endpoint: 'http://h:1', group: g}}]\n",
     "sluice.yaml:4:34: deliveries[0].source.group: not a key of type: kinesis"},
    {"KinesisSourceKafkaKeyFirst",
     HEAD "deliveries: [{name: a, sink: {type: file}, source: {brokers: 'h:9092', type: kinesis,\n"
          "  stream: s, endpoint: 'http://h:1'}}]\n",
     "sluice.yaml:3:52: deliveries[0].source: brokers is not a key of type: kinesis"},
    {"KinesisSourceWithoutEndpoint",
     HEAD "deliveries: [{name: a, sink: {type: file}, source: {type: kinesis, stream: s}}]\n",
     "sluice.yaml:3:52: deliveries[0].source: endpoint: required key is missing (type: kinesis)"},
    {"KinesisLeaseTableWithoutTable",
     HEAD "deliveries: [{name: a, sink: {type: file}, source: {type: kinesis, stream: s,\n"
          "  endpoint: 'http://h:1', lease_table: {endpoint: 'http://h:2'}}}]\n",
     "sluice.yaml:4:40: deliveries[0].source.lease_table.table: required key is missing"},
    {"KinesisLeaseTableBadName",
     HEAD "deliveries: [{name: a, sink: {type: file}, source: {type: kinesis, stream: s,\n"
          "  endpoint: 'http://h:1', lease_table: {table: 'my leases'}}}]\n",
     "sluice.yaml:4:48: deliveries[0].source.lease_table.table: \"my leases\" is not a valid "
     "name (1 to 255 of A-Z a-z 0-9 _ . -)"},
    {"KinesisLeaseTableFailoverTooShort",
     HEAD "deliveries: [{name: a, sink: {type: file}, source: {type: kinesis, stream: s,\n"
          "  endpoint: 'http://h:1', lease_table: {table: tbl, failover_time: 100ms}}}]\n",
     "sluice.yaml:4:68: deliveries[0].source.lease_table.failover_time: \"100ms\" is out of "
     "range 1s..10m"},
    {"FileSourceWithoutPaths", HEAD "sources: [{name: f, stream: app-logs}]\n",
     "sluice.yaml:3:11: sources[0]: paths: required key is missing (type: file)"},
    {"SyslogWithoutListen", HEAD "sources: [{name: s, type: syslog, stream: app-logs}]\n",
     "sluice.yaml:3:11: sources[0]: listen: required key is missing (type: syslog)"},
    {"SyslogWithPaths",
     HEAD "sources: [{name: s, paths: [x], type: syslog, listen: 'udp://127.0.0.1:5514',\n"
          "  stream: app-logs}]\n",
     "sluice.yaml:3:11: sources[0]: paths is not a key of type: syslog"},
    {"FileWithListen",
     HEAD "sources: [{name: f, paths: [x], stream: app-logs, listen: 'tcp://127.0.0.1:1'}]\n",
     "sluice.yaml:3:11: sources[0]: listen is not a key of type: file"},
    {"SyslogListenWithoutScheme",
     HEAD "sources: [{name: s, type: syslog, stream: app-logs, listen: '127.0.0.1:5514'}]\n",
     "sluice.yaml:3:61: sources[0].listen: \"127.0.0.1:5514\" is not udp://host:port or "
     "tcp://host:port"},
    {"SyslogUnknownFormat",
     HEAD "sources: [{name: s, type: syslog, stream: app-logs, listen: 'udp://127.0.0.1:1',\n"
          "  format: cef}]\n",
     "sluice.yaml:4:11: sources[0].format: \"cef\" is not one of raw, rfc3164, rfc5424, auto"},
    {"ExecWithoutCommand", HEAD "sources: [{name: e, type: exec, stream: app-logs}]\n",
     "sluice.yaml:3:11: sources[0]: command: required key is missing (type: exec)"},
    {"ExecEmptyCommand", HEAD "sources: [{name: e, type: exec, stream: app-logs, command: []}]\n",
     "sluice.yaml:3:60: sources[0].command: give the command to run"},
    {"StdinWithIntervalOfExec",
     HEAD "sources: [{name: i, type: stdin, stream: app-logs, interval: 10s}]\n",
     "sluice.yaml:3:11: sources[0]: interval is not a key of type: stdin"},
    {"UnknownSourceType", HEAD "sources: [{name: j, type: kafka, stream: app-logs}]\n",
     "sluice.yaml:3:27: sources[0].type: \"kafka\" is not one of file, syslog, stdin, exec, "
     "journal"},
    {"JournalPriorityNotAName",
     HEAD "sources: [{name: j, type: journal, stream: app-logs, journal: {priority: loud}}]\n",
     "sluice.yaml:3:74: sources[0].journal.priority: \"loud\" is not a priority (0..7 or emerg, "
     "alert, crit, err, warning, notice, info, debug)"},
    {"JournalPriorityOutOfRange",
     HEAD "sources: [{name: j, type: journal, stream: app-logs, journal: {priority: 8}}]\n",
     "sluice.yaml:3:74: sources[0].journal.priority: \"8\" is not a priority (0..7 or emerg, "
     "alert, crit, err, warning, notice, info, debug)"},
    {"JournalMatchNotAFieldName",
     HEAD "sources: [{name: j, type: journal, stream: app-logs,\n"
          "  journal: {matches: {_SYSTEMD_UNIT: a.service, unit: b}}}]\n",
     "sluice.yaml:4:22: sources[0].journal.matches: \"unit\" is not a journal field name (A-Z, "
     "0-9 and _, not starting with a digit, at most 64 bytes)"},
    {"JournalMatchValueNotAString",
     HEAD "sources: [{name: j, type: journal, stream: app-logs,\n"
          "  journal: {matches: {PRIORITY: [1, 2]}}}]\n",
     "sluice.yaml:4:33: sources[0].journal.matches.PRIORITY: expected a string, got a list"},
    {"JournalUnknownKey",
     HEAD "sources: [{name: j, type: journal, stream: app-logs, journal: {unit: [a]}}]\n",
     "sluice.yaml:3:64: sources[0].journal.unit: unknown key 'unit' (did you mean 'units'?)"},
    {"JournalEmptyUnit",
     HEAD "sources: [{name: j, type: journal, stream: app-logs, journal: {units: [a, '']}}]\n",
     "sluice.yaml:3:71: sources[0].journal.units: a unit is empty"},
    {"JournalOnAFileSource",
     HEAD "sources: [{name: f, paths: [x], stream: app-logs, journal: {units: [a]}}]\n",
     "sluice.yaml:3:11: sources[0]: journal is not a key of type: file"},
    {"JournalWithListenOfSyslog",
     HEAD "sources: [{name: j, type: journal, stream: app-logs, listen: 'udp://127.0.0.1:1'}]\n",
     "sluice.yaml:3:11: sources[0]: listen is not a key of type: journal"},
    {"GrepWithoutRegex",
     HEAD
     "sources: [{name: a, paths: [/x], stream: app-logs, processing: [grep: {field: path}]}]\n",
     "sluice.yaml:3:71: sources[0].processing[0].grep: give regex or rules, one of them"},
    {"GrepBadPattern",
     HEAD
     "sources: [{name: a, paths: [/x], stream: app-logs, processing: [grep: {regex: '(a'}]}]\n",
     "sluice.yaml:3:79: sources[0].processing[0].grep.regex: \"(a\" is not a valid regular "
     "expression: missing closing parenthesis at offset 2"},
    {"GrepBadField",
     HEAD "sources: [{name: a, paths: [/x], stream: app-logs, processing: [grep: {regex: x, "
          "field: a..b}]}]\n",
     "sluice.yaml:3:89: sources[0].processing[0].grep.field: \"a..b\" is not a dotted path of "
     "field names"},
    {"GrepRulesAndField",
     HEAD "sources: [{name: a, paths: [/x], stream: app-logs, processing: [grep: {field: x, "
          "rules: [{field: a, regex: b}]}]}]\n",
     "sluice.yaml:3:71: sources[0].processing[0].grep: field goes inside each rule"},
    {"GrepRuleWithoutRegex",
     HEAD "sources: [{name: a, paths: [/x], stream: app-logs, processing: [grep: {"
          "rules: [{field: a}]}]}]\n",
     "sluice.yaml:3:80: sources[0].processing[0].grep.rules[0].regex: required key is missing"},
    {"RegexTypeUnknown",
     HEAD "sources: [{name: a, paths: [/x], stream: app-logs, processing: [regex: {"
          "pattern: '(?<n>x)', types: {n: integer}}]}]\n",
     "sluice.yaml:3:100: sources[0].processing[0].regex.types: type \"integer\" of n is none of "
     "string, int, float, bool"},
    {"TimestampFormatUnknown",
     HEAD "sources: [{name: a, paths: [/x], stream: app-logs, processing: [timestamp: {"
          "field: ts, format: yyyy-mm-dd}]}]\n",
     "sluice.yaml:3:96: sources[0].processing[0].timestamp.format: time format \"yyyy-mm-dd\" is "
     "none of rfc3339, epoch, epoch_ms, epoch_us, epoch_ns, common_log and has no strptime "
     "conversion (%Y, %H, ...)"},
    {"TimestampBadOffset",
     HEAD "sources: [{name: a, paths: [/x], stream: app-logs, processing: [timestamp: {"
          "field: ts, utc_offset: '2'}]}]\n",
     "sluice.yaml:3:100: sources[0].processing[0].timestamp.utc_offset: \"2\" is not an offset "
     "like +02:00 or -05:30"},
    {"ModifyBadPath",
     HEAD "sources: [{name: a, paths: [/x], stream: app-logs, processing: [modify: {"
          "rename: {a..b: c}}]}]\n",
     "sluice.yaml:3:82: sources[0].processing[0].modify.rename: \"a..b\" is not a dotted path of "
     "field names"},
    {"MaskPatternWithoutPattern",
     HEAD "sources: [{name: a, paths: [/x], stream: app-logs, processing: [mask: {"
          "kind: pattern}]}]\n",
     "sluice.yaml:3:71: sources[0].processing[0].mask: pattern is for kind pattern, which needs "
     "it"},
    {"MaskHashWithoutSecret",
     HEAD "sources: [{name: a, paths: [/x], stream: app-logs, processing: [mask: {"
          "kind: email, with: hash}]}]\n",
     "sluice.yaml:3:71: sources[0].processing[0].mask: hash_secret is for with hash, which needs "
     "it"},
    {"MaskReplacementWithQuote",
     HEAD "sources: [{name: a, paths: [/x], stream: app-logs, processing: [mask: {"
          "kind: email, replacement: 'a\"b'}]}]\n",
     "sluice.yaml:3:98: sources[0].processing[0].mask.replacement: the replacement may not hold a "
     "quote, backslash or control character"},
    {"LuaStepSyntaxError",
     HEAD "sources: [{name: a, paths: [/x], stream: app-logs, processing: [lua: {"
          "call: f, code: 'function f( return 1 end'}]}]\n",
     "sluice.yaml:3:70: sources[0].processing[0].lua: code:1: <name> or '...' expected near "
     "'return'"},
    {"LuaStepMissingFunction",
     HEAD "sources: [{name: a, paths: [/x], stream: app-logs, processing: [lua: {"
          "call: g, code: 'function f() end'}]}]\n",
     "sluice.yaml:3:70: sources[0].processing[0].lua: code defines no function 'g'"},
    {"ThrottleRateZero",
     HEAD "sources: [{name: a, paths: [/x], stream: app-logs, processing: [throttle: {"
          "rate: 0}]}]\n",
     "sluice.yaml:3:82: sources[0].processing[0].throttle.rate: 0 is out of range 1..1000000000"},
    {"KinesisConsumerNameWithoutEfo",
     HEAD "deliveries: [{name: a, sink: {type: file}, source: {type: kinesis, stream: s,\n"
          "  endpoint: 'http://h:1', consumer_name: fanout}}]\n",
     "sluice.yaml:3:52: deliveries[0].source: consumer_name names an enhanced fan-out consumer: "
     "set consumer: efo"},
    {"KinesisConsumerUnknown",
     HEAD "deliveries: [{name: a, sink: {type: file}, source: {type: kinesis, stream: s,\n"
          "  endpoint: 'http://h:1', consumer: push}}]\n",
     "sluice.yaml:4:37: deliveries[0].source.consumer: \"push\" is not one of polling, efo"},
    {"KafkaSourceWithLeaseTable",
     HEAD "deliveries: [{name: a, sink: {type: file}, source: {type: kafka, brokers: 'h:9092',\n"
          "  topics: [t], group: g, lease_table: {table: tbl}}}]\n",
     "sluice.yaml:4:39: deliveries[0].source.lease_table: not a key of type: kafka"},
    {"KafkaSourceUnknownType",
     HEAD "deliveries: [{name: a, sink: {type: file}, source: {type: pulsar, brokers: 'h:9092',\n"
          "  topics: [t], group: g}}]\n",
     "sluice.yaml:3:59: deliveries[0].source.type: \"pulsar\" is not one of kafka, kinesis"},
    {"DeliveryWithoutSink", HEAD "deliveries: [{name: a, stream: app-logs}]\n",
     "sluice.yaml:3:14: deliveries[0].sink: required key is missing"},
    {"SinkWithoutType", HEAD "deliveries: [{name: a, stream: app-logs, sink: {path: x}}]\n",
     "sluice.yaml:3:48: deliveries[0].sink.type: required key is missing"},
    {"SinkIsolationUnknown",
     HEAD "deliveries: [{name: a, stream: app-logs, sink: {type: file, isolation: thread}}]\n",
     "sluice.yaml:3:72: deliveries[0].sink.isolation: expected in_process or process"},
    {"SinkCallTimeoutOutOfRange",
     HEAD "deliveries: [{name: a, stream: app-logs, sink: {type: file, call_timeout: 200ms}}]\n",
     "sluice.yaml:3:75: deliveries[0].sink.call_timeout: expected a duration from 1s to 1h, such "
     "as 30s"},
    {"TransformIsolationUnknown",
     HEAD "deliveries: [{name: a, stream: app-logs, sink: {type: file},\n"
          "              transform: {plugin: p, isolation: fork}}]\n",
     "sluice.yaml:4:49: deliveries[0].transform.isolation: \"fork\" is not one of in_process, "
     "process"},
    {"TwoTransformKinds",
     HEAD "deliveries: [{name: a, stream: app-logs, sink: {type: file},\n"
          "              transform: {exec: [x], plugin: p}}]\n",
     "sluice.yaml:4:46: deliveries[0].transform.plugin: give only one of exec, http, plugin, lua"},
    {"TransformWithoutKind",
     HEAD
     "deliveries: [{name: a, stream: app-logs, sink: {type: file}, transform: {retries: 1}}]\n",
     "sluice.yaml:3:73: deliveries[0].transform: give one of exec, http, plugin, lua"},
    {"LuaAfterExec",
     HEAD "deliveries: [{name: a, stream: app-logs, sink: {type: file},\n"
          "              transform: {exec: [x], lua: {script: t.lua, call: cb}}}]\n",
     "sluice.yaml:4:43: deliveries[0].transform.lua: give only one of exec, http, plugin, lua"},
    {"LuaWithoutCall",
     HEAD "deliveries: [{name: a, stream: app-logs, sink: {type: file},\n"
          "              transform: {lua: {script: t.lua}}}]\n",
     "sluice.yaml:4:32: deliveries[0].transform.lua.call: required key is missing"},
    {"LuaScriptAndCode",
     HEAD "deliveries: [{name: a, stream: app-logs, sink: {type: file},\n"
          "              transform: {lua: {script: t.lua, code: x, call: cb}}}]\n",
     "sluice.yaml:4:32: deliveries[0].transform.lua: give one of script, code"},
    {"LuaWithoutScript",
     HEAD "deliveries: [{name: a, stream: app-logs, sink: {type: file},\n"
          "              transform: {lua: {call: cb}}}]\n",
     "sluice.yaml:4:32: deliveries[0].transform.lua: give one of script, code"},
    {"LuaBudgetOutOfRange",
     HEAD "deliveries: [{name: a, stream: app-logs, sink: {type: file},\n"
          "              transform: {lua: {script: t.lua, call: cb, budget: 1m}}}]\n",
     "sluice.yaml:4:66: deliveries[0].transform.lua.budget: \"1m\" is out of range 1ms..10s"},
    {"TransformBadUrl",
     HEAD "deliveries: [{name: a, stream: app-logs, sink: {type: file}, transform: {http: x}}]\n",
     "sluice.yaml:3:80: deliveries[0].transform.http: \"x\" is not an http:// or https:// URL"},
    {"PartitionKeyNotAPath",
     HEAD "deliveries: [{name: a, stream: app-logs, sink: {type: file},\n"
          "              partitioning: {keys: {c: customer}}}]\n",
     "sluice.yaml:4:36: deliveries[0].partitioning.keys: \"customer\" is not a JSON path (.a.b)"},
    {"BackoffBaseAboveCap",
     HEAD "deliveries: [{name: a, stream: app-logs, sink: {type: file},\n"
          "              retry_backoff: {base: 5m, cap: 1m}}]\n",
     "sluice.yaml:4:30: deliveries[0].retry_backoff: base must not exceed cap"},
    {"ApiOnNonLoopbackWithoutAuth", "data_dir: d\nbroker:\n  api:\n    listen: 0.0.0.0:4567\n",
     "sluice.yaml:4:5: broker.api: \"0.0.0.0:4567\" is not a loopback address; add auth "
     "credentials to listen on other interfaces"},
    {"ApiOnNonLoopbackWithoutTls",
     "data_dir: d\nbroker:\n  api:\n    listen: 0.0.0.0:4567\n"
     "    auth: [{access_key_id: AK, secret_access_key_env: HOME}]\n",
     "sluice.yaml:4:5: broker.api: \"0.0.0.0:4567\" is not a loopback address; give tls "
     "(cert_file, key_file) so that records and signed requests do not cross the network in "
     "clear, or set allow_plaintext: true"},
    {"ApiTlsWithoutKey", "data_dir: d\nbroker:\n  api:\n    tls: {cert_file: /nonexistent/c.pem}\n",
     "sluice.yaml:4:10: broker.api.tls.key_file: required key is missing"},
    {"PolicyWithoutAllow",
     "data_dir: d\nbroker:\n  api:\n    auth:\n      - access_key_id: AK\n"
     "        secret_access_key_env: HOME\n        policy: {deny: [\"kinesis:*\"]}\n",
     "sluice.yaml:7:17: broker.api.auth[0].policy.allow: required key is missing"},
    {"PolicyBadAction",
     "data_dir: d\nbroker:\n  api:\n    auth:\n      - access_key_id: AK\n"
     "        secret_access_key_env: HOME\n        policy: {allow: [PutRecords]}\n",
     "sluice.yaml:7:17: broker.api.auth[0].policy: allow: \"PutRecords\" is not an action "
     "(service:Operation, e.g. kinesis:PutRecords, kinesis:Get*, firehose:*)"},
    {"PolicyAndDocument",
     "data_dir: d\nbroker:\n  api:\n    auth:\n      - access_key_id: AK\n"
     "        secret_access_key_env: HOME\n        policy: {allow: [\"kinesis:*\"]}\n"
     "        policy_document: '{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"kinesis:*\", "
     "\"Resource\": \"*\"}}'\n",
     "sluice.yaml:5:9: broker.api.auth[0]: give one of policy and policy_document"},
    {"PolicyDocumentWithCondition",
     "data_dir: d\nbroker:\n  api:\n    auth:\n      - access_key_id: AK\n"
     "        secret_access_key_env: HOME\n"
     "        policy_document: '{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"kinesis:*\", "
     "\"Resource\": \"*\", \"Condition\": {}}}'\n",
     "sluice.yaml:7:26: broker.api.auth[0].policy_document: policy document: Statement.Condition "
     "is not supported here; a policy is checked only for the credential it is given to, on "
     "actions and resources"},
    {"BadListenAddress", "data_dir: d\nadmin: {listen: localhost}\n",
     "sluice.yaml:2:17: admin.listen: \"localhost\" is not a listen address (use host:port, e.g. "
     "127.0.0.1:4567)"},
    {"CredentialSecretsUnreadable",
     "data_dir: d\nbroker:\n  api:\n    auth:\n      - access_key_id: AK\n"
     "        secret_access_key_env: SLUICE_TEST_UNSET_VARIABLE\n"
     "        secret_access_key_file: /nonexistent/x\n",
     "sluice.yaml:6:32: broker.api.auth[0].secret_access_key_env: environment variable "
     "SLUICE_TEST_UNSET_VARIABLE is not set\nsluice.yaml:7:33: "
     "broker.api.auth[0].secret_access_key_file: cannot read \"/nonexistent/x\": No such file or "
     "directory"},
    {"CredentialWithoutSecret", "data_dir: d\nbroker: {api: {auth: [{access_key_id: AK}]}}\n",
     "sluice.yaml:2:23: broker.api.auth[0]: give exactly one of secret_access_key, "
     "secret_access_key_env, secret_access_key_file"},
    {"CredentialWithTwoSecrets",
     "data_dir: d\nbroker: {api: {auth: [{access_key_id: AK, secret_access_key: a,\n"
     "                              secret_access_key_env: HOME}]}}\n",
     "sluice.yaml:2:23: broker.api.auth[0]: give exactly one of secret_access_key, "
     "secret_access_key_env, secret_access_key_file"},
    {"ManyErrorsAtOnceInFileOrder",
     "data_dir: d\n"
     "streams:\n"
     "  - name: app-logs\n"
     "    shards: 5000\n"
     "    retention: 1h\n"
     "sources:\n"
     "  - name: f\n"
     "    paths: [x]\n"
     "    stream: app-log\n"
     "    initial_positon: end_of_file\n"
     "deliveries:\n"
     "  - name: a\n"
     "    stream: app-logs\n"
     "    buffer: {size: 1XB, interval: 90x}\n"
     "    compression: gzp\n",
     "sluice.yaml:4:13: streams[0].shards: 5000 is out of range 1..1000\n"
     "sluice.yaml:5:16: streams[0].retention: \"1h\" is out of range 24h..8760h\n"
     "sluice.yaml:9:13: sources[0].stream: stream \"app-log\" is not declared under streams (did "
     "you mean 'app-logs'?)\n"
     "sluice.yaml:10:5: sources[0].initial_positon: unknown key 'initial_positon' (did you mean "
     "'initial_position'?)\n"
     "sluice.yaml:12:5: deliveries[0].sink: required key is missing\n"
     "sluice.yaml:14:20: deliveries[0].buffer.size: \"1XB\" is not a size (use e.g. 512KiB, 5MiB, "
     "1GiB)\n"
     "sluice.yaml:14:35: deliveries[0].buffer.interval: \"90x\" is not a duration (use e.g. "
     "250ms, 30s, 5m, 24h)\n"
     "sluice.yaml:15:18: deliveries[0].compression: \"gzp\" is not one of none, gzip, zip, "
     "snappy, hadoop_snappy (did you mean 'gzip'?)"},
    {"FirehoseApiUnknownSinkType", "data_dir: d\nfirehose_api:\n  s4: {endpoint: x}\n",
     "sluice.yaml:3:3: firehose_api.s4: unknown key 's4' (did you mean 's3'?)"},
    {"FirehoseApiSinkIsNotAMap", "data_dir: d\nfirehose_api: {s3: [a, b]}\n",
     "sluice.yaml:2:20: firehose_api.s3: expected a map of the plugin's options, got a list"},
    {"FirehoseApiIsNotAMap", "data_dir: d\nfirehose_api: s3\n",
     "sluice.yaml:2:15: firehose_api: expected a map, got a string"},
    {"FirehoseApiSecretFromUnsetVariable",
     "data_dir: d\nfirehose_api:\n  splunk: {token_env: SLUICE_TEST_UNSET_VARIABLE}\n",
     "sluice.yaml:3:23: firehose_api.splunk.token_env: environment variable "
     "SLUICE_TEST_UNSET_VARIABLE is not set"},
};

class BadConfigTest : public testing::TestWithParam<BadCase> {};

TEST_P(BadConfigTest, ReportsExactMessage) {
  const BadCase& c = GetParam();
  Result<Config> r = LoadConfigText(c.yaml, "sluice.yaml");
  ASSERT_FALSE(r.ok()) << c.name;
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), c.message) << c.name;
}

INSTANTIATE_TEST_SUITE_P(Table, BadConfigTest, testing::ValuesIn(kBadCases),
                         [](const testing::TestParamInfo<BadCase>& info) {
                           return std::string(info.param.name);
                         });

// Secret values never appear in messages, even when the entry holding them is wrong.
TEST(ConfigErrorsTest, SecretValuesAreNotEchoed) {
  setenv("SLUICE_TEST_SECRET_B", "swordfish", 1);
  Result<Config> r = LoadConfigText(
      "data_dir: d\n"
      "broker:\n"
      "  api:\n"
      "    auth: [{access_key_id: AK, secret_access_key: hunter2,\n"
      "            secret_access_key_env: SLUICE_TEST_SECRET_B}]\n",
      "s.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "s.yaml:4:12: broker.api.auth[0]: give exactly one of secret_access_key, "
            "secret_access_key_env, secret_access_key_file");
  EXPECT_EQ(r.status().message().find("hunter2"), std::string::npos);
  EXPECT_EQ(r.status().message().find("swordfish"), std::string::npos);
}

}  // namespace
}  // namespace sluice::config

namespace sluice::config {
namespace {

// Hostile documents end in an error, quickly, never a crash or a hang.
TEST(ConfigErrorsTest, HostileDocumentsAreRefused) {
  std::string laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'i'; ++c) {
    std::string prev(1, static_cast<char>(c - 1));
    laughs += std::string(1, c) + ": &" + std::string(1, c) + " [";
    for (int i = 0; i < 10; ++i) laughs += (i ? ", *" : "*") + prev;
    laughs += "]\n";
  }
  Result<Config> r = LoadConfigText(laughs, "l.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "l.yaml:1:20: the document expands to more than 100000 values (through aliases?)");

  r = LoadConfigText(std::string(100000, '['), "d.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().rfind("d.yaml:1:1: YAML syntax error: ", 0), 0u)
      << r.status().message();

  // Millions of short values are refused by counting parser events, before any node is built
  // (this took 18 s and 900 MB when the count ran on the built tree).
  std::string many = "streams: [";
  for (int i = 0; i < 2000000; ++i) many += "a,";
  auto t0 = std::chrono::steady_clock::now();
  r = LoadConfigText(many + "a]\n", "m.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "m.yaml:1:200005: the file holds more than 100000 values");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));

  std::string nested = "data_dir: d\nx: ";
  for (int i = 0; i < 70; ++i) nested += "[";
  r = LoadConfigText(nested + std::string(70, ']') + "\n", "n.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "n.yaml:2:68: nesting is deeper than 64 levels");

  r = LoadConfigText("data_dir: *nope\n", "u.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "u.yaml:1:11: YAML syntax error: the referenced anchor is not defined");
}

// TLS sections load their files when the config is read: `sluice check` names a missing file,
// a key that others can read and a key that is not the certificate's; good files load, and a
// public address is taken with tls or with allow_plaintext said explicitly.
TEST(TlsConfigTest, ListenersLoadTheirFilesWhenTheConfigIsRead) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("sluice-config-tls-" + std::to_string(getpid()));
  std::string make = std::string("bash '") + SLUICE_SOURCE_DIR +
                     "/tests/integration/tls/make_certs.sh' '" + dir.string() + "'";
  ASSERT_EQ(std::system(make.c_str()), 0);
  const std::string d = dir.string();
  auto load = [](const std::string& text) { return LoadConfigText(text, "t.yaml"); };

  auto ok =
      load("data_dir: x\nadmin:\n  tls: {cert_file: " + d + "/server.pem, key_file: " + d +
           "/server.key}\nbroker:\n  api:\n    listen: 0.0.0.0:4567\n"
           "    auth: [{access_key_id: AK, secret_access_key_env: HOME}]\n"
           "    tls: {cert_file: " +
           d + "/server.pem, key_file: " + d + "/server.key, client_ca_file: " + d + "/ca.pem}\n");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  ASSERT_TRUE(ok->broker.api.tls.has_value());
  EXPECT_EQ(ok->broker.api.tls->client_ca_file, d + "/ca.pem");
  ASSERT_TRUE(ok->admin.tls.has_value());
  EXPECT_EQ(ok->admin.tls->key_file, d + "/server.key");

  auto plain = load(
      "data_dir: x\nbroker:\n  api:\n    listen: 0.0.0.0:4567\n"
      "    auth: [{access_key_id: AK, secret_access_key_env: HOME}]\n"
      "    allow_plaintext: true\n");
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  EXPECT_TRUE(plain->broker.api.allow_plaintext);

  auto missing = load(
      "data_dir: x\nbroker:\n  api:\n    tls: {cert_file: /nonexistent/c.pem, "
      "key_file: " +
      d + "/server.key}\n");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message().rfind(
                "t.yaml:4:10: broker.api.tls: cert_file: cannot load /nonexistent/c.pem", 0),
            0u)
      << missing.status().message();

  auto mismatch = load("data_dir: x\nadmin:\n  tls: {cert_file: " + d +
                       "/server.pem, key_file: " + d + "/client.key}\n");
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.status().message(), "t.yaml:3:8: admin.tls: the key in " + d +
                                             "/client.key does not match the "
                                             "certificate in " +
                                             d + "/server.pem");

  fs::copy_file(dir / "server.key", dir / "open.key");
  fs::permissions(dir / "open.key", fs::perms::others_read, fs::perm_options::add);
  auto open = load("data_dir: x\nadmin:\n  tls: {cert_file: " + d + "/server.pem, key_file: " + d +
                   "/open.key}\n");
  ASSERT_FALSE(open.ok());
  EXPECT_NE(open.status().message().find("key_file: " + d + "/open.key is readable by others"),
            std::string::npos)
      << open.status().message();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace sluice::config
