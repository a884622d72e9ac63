// Good configurations load into the right values; defaults agree with the structs' own.
#include <gtest/gtest.h>

#include <filesystem>

#include "agent/config/config.h"

namespace sluice::config {
namespace {

using std::chrono::milliseconds;

Config MustLoad(std::string_view text) {
  Result<Config> c = LoadConfigText(text, "test.yaml");
  EXPECT_TRUE(c.ok()) << c.status().message();
  return c.ok() ? std::move(c).value() : Config{};
}

constexpr std::string_view kFull = R"(
data_dir: /tmp/sluice-data
plugin_dirs: [./plugins, /usr/lib/sluice/plugins]
log: {level: debug, format: json}
admin: {listen: "[::1]:9000", max_connections: 64, idle_timeout: 5s, request_timeout: 2s}
broker:
  api:
    listen: 0.0.0.0:4567
    max_connections: 10000
    idle_timeout: 10m
    request_timeout: 1m
    allow_plaintext: true
    auth:
      - {access_key_id: AKIDTEST, secret_access_key_env: SLUICE_TEST_SECRET}
    max_body_size: 32MiB
  disk_quota: 10GiB
  iterator_ttl: 90s
streams:
  - name: app-logs
    shards: 4
    retention: 168h
    fsync: always
    fsync_interval: 250ms
    mode: provisioned
  - name: other
sources:
  - name: web
    paths: ["./var/log/**/*.log", /var/log/syslog]
    exclude: "*.gz"
    stream: app-logs
    initial_position: start_of_file
    partition_key: "field:.user.id"
    multiline: {start_pattern: '^\d{4}-', flush_timeout: 500ms}
    skip_header_lines: 1
    max_record_size: 64KiB
    truncated_record_terminator: " [truncated]"
    processing:
      - single_line
      - csv_to_json: {field_names: [a, b], delimiter: "\t"}
      - log_to_json: {format: custom, pattern: '^(\S+) (\S+)$', field_names: [x, y],
                      on_unparsed: error_output}
      - add_metadata: {host: true, offset: true, fields: {env: prod, team: core}}
    rotate_wait: 1m
    close_inactive: 10m
    rescan_interval: 2s
    max_open_files: 50
    max_buffer_size: 4MiB
    poll_interval: 250ms
    checkpoint_interval: 5s
    read_block_size: 1MiB
    batch_max_records: 100
    batch_max_bytes: 1MiB
  - name: regex
    paths: [a.log]
    stream: other
    partition_key: 'regex:user=(\w+)'
deliveries:
  - name: archive
    stream: app-logs
    buffer: {size: 5MiB, interval: 0s}
    record_delimiter: "\n"
    compression: hadoop_snappy
    encryption: {keyring: /etc/sluice/keyring, key_id: k2}
    transform: {exec: [./enrich.py, --fast], buffer: {size: 256KiB},
                timeout: 30s, retries: 5}
    partitioning: {keys: {customer: .customer.id}, max_active_partitions: 20}
    retry_duration: 7200s
    retry_backoff: {base: 250ms, cap: 30s}
    errors: {path: ./var/errors}
    backup: {mode: failed_only, sink: {type: s3, bucket: backup}}
    concurrency: 4
    sink:
      type: s3
      bucket: logs
      prefix: "app/!{timestamp:yyyy/MM/dd}/"
      force_path_style: true
      tags: [a, b]
      headers: {x-a: "1"}
  - name: direct
    direct_put: true
    transform: {http: "http://127.0.0.1:9001/invoke"}
    sink: {type: http, url: "http://127.0.0.1:8080/", access_key: '${SLUICE_TEST_KEY:-k}'}
)";

TEST(ConfigLoadTest, FullConfigLoadsEveryValue) {
  setenv("SLUICE_TEST_SECRET", "s3cr3t", 1);
  Config c = MustLoad(kFull);
  EXPECT_EQ(c.source_file, "test.yaml");
  EXPECT_EQ(c.data_dir, "/tmp/sluice-data");
  EXPECT_EQ(c.plugin_dirs, (std::vector<std::string>{"./plugins", "/usr/lib/sluice/plugins"}));
  EXPECT_EQ(c.log.level, log::Level::kDebug);
  EXPECT_EQ(c.log.format, log::Format::kJson);
  EXPECT_EQ(c.admin.listen.host, "::1");
  EXPECT_EQ(c.admin.listen.port, 9000);
  ASSERT_TRUE(c.broker.api.listen.has_value());
  EXPECT_EQ(c.broker.api.listen->host, "0.0.0.0");
  EXPECT_EQ(c.broker.api.listen->port, 4567);
  ASSERT_EQ(c.broker.api.auth.size(), 1u);
  EXPECT_EQ(c.broker.api.auth[0].access_key_id, "AKIDTEST");
  EXPECT_EQ(c.broker.api.auth[0].secret_access_key, "s3cr3t");
  EXPECT_EQ(c.broker.api.max_body_size, 32u << 20);
  EXPECT_EQ(c.admin.limits.max_connections, 64);
  EXPECT_EQ(c.admin.limits.idle_timeout, milliseconds(5000));
  EXPECT_EQ(c.admin.limits.request_timeout, milliseconds(2000));
  EXPECT_EQ(c.broker.api.limits.max_connections, 10000);
  EXPECT_EQ(c.broker.api.limits.idle_timeout, milliseconds(600000));
  EXPECT_EQ(c.broker.api.limits.request_timeout, milliseconds(60000));
  EXPECT_EQ(c.broker.disk_quota, 10ull << 30);
  EXPECT_EQ(c.broker.iterator_ttl, milliseconds(90000));

  ASSERT_EQ(c.streams.size(), 2u);
  const broker::StreamOptions& s = c.streams[0];
  EXPECT_EQ(s.name, "app-logs");
  EXPECT_EQ(s.shards, 4);
  EXPECT_EQ(s.retention_hours, 168);
  EXPECT_EQ(s.fsync, broker::FsyncPolicy::kAlways);
  EXPECT_EQ(s.fsync_interval, milliseconds(250));
  EXPECT_EQ(s.mode, broker::CapacityMode::kProvisioned);
  EXPECT_EQ(c.streams[1].shards, 1);

  ASSERT_EQ(c.sources.size(), 2u);
  const agent::FlowOptions& f = c.sources[0];
  EXPECT_EQ(f.name, "web");
  EXPECT_EQ(f.paths, (std::vector<std::string>{"./var/log/**/*.log", "/var/log/syslog"}));
  EXPECT_EQ(f.exclude, (std::vector<std::string>{"*.gz"}));
  EXPECT_EQ(f.stream, "app-logs");
  EXPECT_EQ(f.initial_position, agent::InitialPosition::kStartOfFile);
  EXPECT_EQ(f.partition_key, agent::PartitionKeyKind::kField);
  EXPECT_EQ(f.partition_key_arg, ".user.id");
  EXPECT_EQ(f.multiline_start_pattern, "^\\d{4}-");
  EXPECT_EQ(f.flush_timeout, milliseconds(500));
  EXPECT_EQ(f.skip_header_lines, 1);
  EXPECT_EQ(f.max_record_size, 64u << 10);
  EXPECT_EQ(f.truncated_record_terminator, " [truncated]");
  ASSERT_EQ(f.processing.size(), 4u);
  using Kind = agent::ProcessingStep::Kind;
  EXPECT_EQ(f.processing[0].kind, Kind::kSingleLine);
  EXPECT_EQ(f.processing[1].kind, Kind::kCsvToJson);
  EXPECT_EQ(f.processing[1].field_names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(f.processing[1].delimiter, '\t');
  EXPECT_FALSE(f.processing[1].unparsed_to_error_output);
  EXPECT_EQ(f.processing[2].kind, Kind::kLogToJson);
  EXPECT_EQ(f.processing[2].log_format, "custom");
  EXPECT_EQ(f.processing[2].custom_pattern, "^(\\S+) (\\S+)$");
  EXPECT_TRUE(f.processing[2].unparsed_to_error_output);
  EXPECT_EQ(f.processing[3].kind, Kind::kAddMetadata);
  EXPECT_TRUE(f.processing[3].add_host);
  EXPECT_FALSE(f.processing[3].add_file);
  EXPECT_TRUE(f.processing[3].add_offset);
  EXPECT_FALSE(f.processing[3].add_timestamp);
  EXPECT_EQ(f.processing[3].static_fields,
            (std::map<std::string, std::string>{{"env", "prod"}, {"team", "core"}}));
  EXPECT_EQ(f.rotate_wait, milliseconds(60000));
  EXPECT_EQ(f.close_inactive, milliseconds(600000));
  EXPECT_EQ(f.rescan_interval, milliseconds(2000));
  EXPECT_EQ(f.max_open_files, 50);
  EXPECT_EQ(f.max_buffer_bytes, 4u << 20);
  EXPECT_EQ(f.poll_interval, milliseconds(250));
  EXPECT_EQ(f.checkpoint_interval, milliseconds(5000));
  EXPECT_EQ(f.read_block_size, 1u << 20);
  EXPECT_EQ(f.batch_max_records, 100);
  EXPECT_EQ(f.batch_max_bytes, 1u << 20);
  EXPECT_EQ(c.sources[1].partition_key, agent::PartitionKeyKind::kRegex);
  EXPECT_EQ(c.sources[1].partition_key_arg, "user=(\\w+)");

  ASSERT_EQ(c.deliveries.size(), 2u);
  const buffer::DeliveryOptions& d = c.deliveries[0];
  EXPECT_EQ(d.name, "archive");
  EXPECT_EQ(d.stream, "app-logs");
  EXPECT_FALSE(d.direct_put);
  EXPECT_EQ(d.buffer_size, std::optional<uint64_t>(5u << 20));
  EXPECT_EQ(d.buffer_interval, std::optional<milliseconds>(milliseconds(0)));
  EXPECT_EQ(d.record_delimiter, "\n");
  EXPECT_EQ(d.compression, buffer::Compression::kHadoopSnappy);
  EXPECT_EQ(d.encryption_keyring, "/etc/sluice/keyring");
  EXPECT_EQ(d.encryption_key_id, "k2");
  EXPECT_EQ(d.transform.kind, buffer::TransformOptions::Kind::kExec);
  EXPECT_EQ(d.transform.exec, (std::vector<std::string>{"./enrich.py", "--fast"}));
  EXPECT_EQ(d.transform.buffer_size, 256u << 10);
  EXPECT_EQ(d.transform.timeout, milliseconds(30000));
  EXPECT_EQ(d.transform.retries, 5);
  EXPECT_EQ(d.partition_keys, (std::vector<std::string>{"customer=.customer.id"}));
  EXPECT_EQ(d.max_active_partitions, 20);
  EXPECT_EQ(d.retry_duration, std::optional<milliseconds>(milliseconds(7200000)));
  EXPECT_EQ(d.retry_backoff_base, milliseconds(250));
  EXPECT_EQ(d.retry_backoff_cap, milliseconds(30000));
  EXPECT_EQ(d.errors_path, "./var/errors");
  EXPECT_EQ(d.backup_mode, "failed_only");
  ASSERT_TRUE(d.backup_sink.has_value());
  EXPECT_EQ(d.backup_sink->type, "s3");
  EXPECT_EQ(d.concurrency, 4);

  const buffer::SinkSection& sink = d.sink;
  EXPECT_EQ(sink.type, "s3");
  EXPECT_EQ(sink.path, "deliveries[0].sink");
  EXPECT_EQ(sink.mark.file, "test.yaml");
  EXPECT_EQ(sink.mark.line, 73);
  ASSERT_EQ(sink.options.size(), 5u);
  EXPECT_EQ(sink.options[0].key, "bucket");
  EXPECT_EQ(sink.options[0].value, "logs");
  EXPECT_TRUE(sink.options[0].is_scalar);
  EXPECT_EQ(sink.options[0].path, "deliveries[0].sink.bucket");
  EXPECT_EQ(sink.options[0].mark.line, 74);
  EXPECT_EQ(sink.options[0].mark.column, 15);
  EXPECT_EQ(sink.options[1].value, "app/!{timestamp:yyyy/MM/dd}/");
  EXPECT_EQ(sink.options[2].value, "true");
  EXPECT_FALSE(sink.options[3].is_scalar);
  EXPECT_EQ(sink.options[3].value, R"(["a","b"])");
  EXPECT_EQ(sink.options[4].value, R"({"x-a":"1"})");
  EXPECT_FALSE(sink.options[0].secret);

  const buffer::DeliveryOptions& direct = c.deliveries[1];
  EXPECT_TRUE(direct.direct_put);
  EXPECT_TRUE(direct.stream.empty());
  EXPECT_EQ(direct.transform.kind, buffer::TransformOptions::Kind::kHttp);
  EXPECT_EQ(direct.transform.url, "http://127.0.0.1:9001/invoke");
  EXPECT_FALSE(direct.buffer_size.has_value());
  EXPECT_FALSE(direct.retry_duration.has_value());
  ASSERT_EQ(direct.sink.options.size(), 2u);
  EXPECT_EQ(direct.sink.options[1].key, "access_key");
  EXPECT_TRUE(direct.sink.options[1].secret);
}

// The schema's documented defaults and the structs' own defaults must agree.
TEST(ConfigLoadTest, DefaultsAgreeWithStructDefaults) {
  Config c = MustLoad(R"(
data_dir: d
streams: [{name: s}]
sources: [{name: f, paths: [x], stream: s, processing: [csv_to_json: {field_names: [a]}]}]
deliveries: [{name: d, stream: s, transform: {plugin: t}, sink: {type: file}}]
)");
  EXPECT_TRUE(c.plugin_dirs.empty());
  EXPECT_EQ(c.log.level, LogOptions{}.level);
  EXPECT_EQ(c.log.format, LogOptions{}.format);
  EXPECT_EQ(c.admin.listen.text, AdminOptions{}.listen.text);
  EXPECT_EQ(c.admin.listen.port, AdminOptions{}.listen.port);
  EXPECT_FALSE(c.broker.api.listen.has_value());
  EXPECT_EQ(c.broker.api.max_body_size, ApiOptions{}.max_body_size);
  for (const ListenerLimits& l : {c.admin.limits, c.broker.api.limits}) {
    EXPECT_EQ(l.max_connections, ListenerLimits{}.max_connections);
    EXPECT_EQ(l.idle_timeout, ListenerLimits{}.idle_timeout);
    EXPECT_EQ(l.request_timeout, ListenerLimits{}.request_timeout);
  }
  EXPECT_EQ(c.broker.disk_quota, BrokerSection{}.disk_quota);
  EXPECT_EQ(c.broker.iterator_ttl, BrokerSection{}.iterator_ttl);

  broker::StreamOptions s;
  EXPECT_EQ(c.streams[0].shards, s.shards);
  EXPECT_EQ(c.streams[0].retention_hours, s.retention_hours);
  EXPECT_EQ(c.streams[0].fsync, s.fsync);
  EXPECT_EQ(c.streams[0].fsync_interval, s.fsync_interval);
  EXPECT_EQ(c.streams[0].mode, s.mode);

  agent::FlowOptions f;
  const agent::FlowOptions& g = c.sources[0];
  EXPECT_EQ(g.initial_position, f.initial_position);
  EXPECT_EQ(g.partition_key, f.partition_key);
  EXPECT_EQ(g.flush_timeout, f.flush_timeout);
  EXPECT_EQ(g.skip_header_lines, f.skip_header_lines);
  EXPECT_EQ(g.max_record_size, f.max_record_size);
  EXPECT_EQ(g.truncated_record_terminator, f.truncated_record_terminator);
  EXPECT_EQ(g.rotate_wait, f.rotate_wait);
  EXPECT_EQ(g.close_inactive, f.close_inactive);
  EXPECT_EQ(g.rescan_interval, f.rescan_interval);
  EXPECT_EQ(g.max_open_files, f.max_open_files);
  EXPECT_EQ(g.max_buffer_bytes, f.max_buffer_bytes);
  EXPECT_EQ(g.poll_interval, f.poll_interval);
  EXPECT_EQ(g.checkpoint_interval, f.checkpoint_interval);
  EXPECT_EQ(g.read_block_size, f.read_block_size);
  EXPECT_EQ(g.batch_max_records, f.batch_max_records);
  EXPECT_EQ(g.batch_max_bytes, f.batch_max_bytes);
  agent::ProcessingStep step;
  EXPECT_EQ(g.processing[0].delimiter, step.delimiter);
  EXPECT_EQ(g.processing[0].unparsed_to_error_output, step.unparsed_to_error_output);

  buffer::DeliveryOptions d;
  const buffer::DeliveryOptions& e = c.deliveries[0];
  EXPECT_EQ(e.direct_put, d.direct_put);
  EXPECT_EQ(e.buffer_size, d.buffer_size);
  EXPECT_EQ(e.buffer_interval, d.buffer_interval);
  EXPECT_EQ(e.record_delimiter, d.record_delimiter);
  EXPECT_EQ(e.compression, d.compression);
  EXPECT_EQ(e.transform.buffer_size, d.transform.buffer_size);
  EXPECT_EQ(e.transform.timeout, d.transform.timeout);
  EXPECT_EQ(e.transform.retries, d.transform.retries);
  EXPECT_EQ(e.max_active_partitions, d.max_active_partitions);
  EXPECT_EQ(e.retry_duration, d.retry_duration);
  EXPECT_EQ(e.concurrency, d.concurrency);
  EXPECT_EQ(e.retry_backoff_base, d.retry_backoff_base);
  EXPECT_EQ(e.retry_backoff_cap, d.retry_backoff_cap);
}

TEST(ConfigLoadTest, EmbeddedDefaultLoads) {
  unsetenv("SLUICE_LOG_LEVEL");
  Result<Config> r = LoadConfigFile(SLUICE_SOURCE_DIR "/conf/sluice.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const Config& c = *r;
  EXPECT_EQ(c.data_dir, "./var/data");
  EXPECT_EQ(c.plugin_dirs, std::vector<std::string>{"./build/release/plugins"});
  EXPECT_EQ(c.admin.listen.text, "127.0.0.1:4195");
  ASSERT_TRUE(c.broker.api.listen.has_value());
  EXPECT_EQ(c.broker.api.listen->text, "127.0.0.1:4567");
  ASSERT_EQ(c.streams.size(), 1u);
  EXPECT_EQ(c.streams[0].name, "app-logs");
  EXPECT_EQ(c.streams[0].shards, 2);
  ASSERT_EQ(c.sources.size(), 1u);
  EXPECT_EQ(c.sources[0].name, "demo");
  EXPECT_EQ(c.sources[0].paths, std::vector<std::string>{"./var/log/*.log"});
  EXPECT_EQ(c.sources[0].partition_key, agent::PartitionKeyKind::kFile);
  EXPECT_EQ(c.sources[0].initial_position, agent::InitialPosition::kStartOfFile);
  ASSERT_EQ(c.deliveries.size(), 1u);
  const buffer::DeliveryOptions& d = c.deliveries[0];
  EXPECT_EQ(d.name, "archive");
  EXPECT_EQ(d.stream, "app-logs");
  EXPECT_EQ(d.buffer_size, std::optional<uint64_t>(1u << 20));
  EXPECT_EQ(d.buffer_interval, std::optional<milliseconds>(milliseconds(5000)));
  EXPECT_EQ(d.record_delimiter, "\n");
  EXPECT_EQ(d.compression, buffer::Compression::kNone);
  EXPECT_EQ(d.errors_path, "./var/errors");
  EXPECT_EQ(d.sink.type, "file");
  ASSERT_EQ(d.sink.options.size(), 1u);
  EXPECT_EQ(d.sink.options[0].key, "path");
  EXPECT_EQ(d.sink.options[0].value, "./var/out");
  EXPECT_EQ(c.log.level, log::Level::kInfo);
}

TEST(ConfigLoadTest, EveryExampleLoads) {
  setenv("REDSHIFT_PASSWORD", "example", 1);  // the secrets the examples name
  setenv("PG_PASSWORD", "example", 1);
  int count = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(SLUICE_SOURCE_DIR "/conf/examples")) {
    if (entry.path().extension() != ".yaml") continue;
    ++count;
    Result<Config> r = LoadConfigFile(entry.path().string());
    EXPECT_TRUE(r.ok()) << r.status().message();
  }
  EXPECT_GE(count, 1);
}

TEST(ConfigLoadTest, EmptyListsAndNullsAreAbsent) {
  Config c = MustLoad("data_dir: d\nstreams:\nsources: []\ndeliveries:\nlog:\n");
  EXPECT_TRUE(c.streams.empty());
  EXPECT_TRUE(c.sources.empty());
  EXPECT_TRUE(c.deliveries.empty());
  EXPECT_EQ(c.log.level, log::Level::kInfo);
}

TEST(ConfigLoadTest, MultilinePresetLoads) {
  Config c = MustLoad(
      "data_dir: d\nstreams: [{name: s}]\n"
      "sources: [{name: k, paths: [x], stream: s, multiline: {preset: cri, flush_timeout: 5s}}]\n");
  ASSERT_EQ(c.sources.size(), 1u);
  EXPECT_EQ(c.sources[0].multiline_preset, "cri");
  EXPECT_EQ(c.sources[0].multiline_start_pattern, "");
  EXPECT_EQ(c.sources[0].flush_timeout, milliseconds(5000));
}

TEST(ConfigLoadTest, JournalSourceLoads) {
  Config c = MustLoad(
      "data_dir: d\nstreams: [{name: s}]\n"
      "sources:\n"
      "  - {name: all, type: journal, stream: s}\n"
      "  - name: some\n"
      "    type: journal\n"
      "    stream: s\n"
      "    initial_position: start_of_file\n"
      "    journal:\n"
      "      directory: /var/log/journal/remote\n"
      "      units: [nginx, ssh.service]\n"
      "      priority: err\n"
      "      matches: {_TRANSPORT: stdout, SYSLOG_IDENTIFIER: app}\n");
  ASSERT_EQ(c.sources.size(), 2u);
  const agent::JournalOptions& all = c.sources[0].journal;
  EXPECT_EQ(c.sources[0].type, agent::SourceType::kJournal);
  EXPECT_EQ(all.directory, "");
  EXPECT_TRUE(all.units.empty());
  EXPECT_EQ(all.priority, -1);
  EXPECT_TRUE(all.matches.empty());
  const agent::JournalOptions& some = c.sources[1].journal;
  EXPECT_EQ(some.directory, "/var/log/journal/remote");
  EXPECT_EQ(some.units, (std::vector<std::string>{"nginx", "ssh.service"}));
  EXPECT_EQ(some.priority, 3);
  EXPECT_EQ(some.matches, (std::map<std::string, std::string>{{"SYSLOG_IDENTIFIER", "app"},
                                                              {"_TRANSPORT", "stdout"}}));
  EXPECT_EQ(c.sources[1].initial_position, agent::InitialPosition::kStartOfFile);
}

TEST(ConfigLoadTest, BrokerOptionsOfCopiesBrokerSettings) {
  Config c =
      MustLoad("data_dir: /x\nbroker: {disk_quota: 1GiB, iterator_ttl: 1m, segment_size: 16MiB}\n");
  broker::BrokerOptions o = BrokerOptionsOf(c);
  EXPECT_EQ(o.segment_bytes, 16u << 20);
  EXPECT_EQ(BrokerOptionsOf(MustLoad("data_dir: /x\n")).segment_bytes, 64u << 20);
  EXPECT_EQ(o.data_dir, std::filesystem::path("/x"));
  EXPECT_EQ(o.disk_quota_bytes, 1ull << 30);
  EXPECT_EQ(o.iterator_ttl, milliseconds(60000));
}

}  // namespace
}  // namespace sluice::config
