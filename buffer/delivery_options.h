// Options of one delivery stream (a `deliveries:` entry). Plain data, filled by the config loader;
// the sink section stays a list of raw options until the plugin host validates it against the
// loaded plugin's option table.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::buffer {

enum class Compression { kNone, kGzip, kZip, kSnappy, kHadoopSnappy };

// Where a value came from, so errors name file:line:column.
struct SourceMark {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based
};

// One problem found in the configuration: where, the key path, and what is wrong.
struct ConfigIssue {
  SourceMark mark;
  std::string path;  // "deliveries[0].sink.prefix"
  std::string message;
};

// One `key: value` of a sink section. Scalars keep their text; lists and maps are kept as their
// YAML flow text (the option table decides how to read them).
struct SinkOption {
  std::string key;
  std::string value;
  bool is_scalar = true;
  SourceMark mark;
  std::string path;      // key path for messages: "deliveries[0].sink.bucket"
  bool secret = false;   // the key names a secret: never echo `value` in messages or logs
  bool literal = false;  // a scalar written as is (no ${VAR}, not from a _file/_env key)
};

// Where a plugin's calls run: on the delivery worker's thread, or in a child process (a crash or
// a hang there kills only the child).
enum class Isolation { kInProcess, kProcess };

struct SinkSection {
  std::string type;  // plugin name: file, s3, http, ...
  std::vector<SinkOption> options;
  // Host keys of the section, not handed to the plugin.
  Isolation isolation = Isolation::kInProcess;
  std::optional<std::chrono::milliseconds> call_timeout;  // unset: the plugin's policy
  SourceMark mark;
  std::string path;  // "deliveries[0].sink"
};

// `transform: {lua: {...}}`: a Lua function called on each record (buffer/lua_transform.h).
struct LuaTransformOptions {
  std::string script;  // path of the script; or
  std::string code;    // the source inline
  std::string call;    // the global function called for each record
  std::chrono::milliseconds budget{10};
  uint64_t memory_limit = 64u << 20;
};

struct TransformOptions {
  enum class Kind { kNone, kExec, kHttp, kPlugin, kLua };
  Kind kind = Kind::kNone;
  std::vector<std::string> exec;  // argv
  std::string url;                // http
  std::string plugin;             // plugin name
  LuaTransformOptions lua;        // lua
  // plugin only: the plugin's own options (`transform.options`), raw as in a sink section, until
  // the plugin host checks them against the plugin's option table.
  std::vector<SinkOption> options;
  uint64_t buffer_size = 1u << 20;  // bytes of records per invocation
  std::chrono::milliseconds timeout{60000};
  int retries = 3;
  Isolation isolation = Isolation::kInProcess;  // plugin transforms only
};

// Where a delivery's consumer starts the first time it reads a stream (later: its checkpoints).
enum class StartPosition { kTrimHorizon, kLatest, kAtTimestamp };

// `source: {type: kafka, ...}`: topics read as a member of a Kafka consumer group.
struct KafkaSourceOptions {
  std::string brokers;              // bootstrap.servers
  std::vector<std::string> topics;  // names; one starting with ^ is a regular expression
  std::string group;                // group.id; instances with the same group share the partitions
  // librdkafka consumer properties, applied before the ones the source owns (group.id,
  // enable.auto.commit, ...), which the config check refuses here.
  std::vector<std::pair<std::string, std::string>> properties;
  // How long a rebalance waits for the batches of revoked partitions being delivered to commit.
  std::chrono::milliseconds rebalance_grace{10000};
};

// `source: {type: kinesis, ...}`: a remote Kinesis data stream (AWS, another sluice, kinesalite),
// every shard read by this instance with GetRecords.
// A kinesis source's lease table (KinesisSourceOptions::lease_table). At namespace scope: a
// nested struct with member initializers is not default-constructible for std::optional inside
// its enclosing class (clang).
struct KinesisLeaseTableOptions {
  std::string endpoint;   // DynamoDB's base URL; empty: AWS's for the region
  std::string table;      // created when absent
  std::string worker_id;  // empty: the host name and a random suffix
  // A lease not renewed for this long may be taken (KCL's failoverTimeMillis); leases are
  // renewed every third of it.
  std::chrono::milliseconds failover_time{10000};
};

struct KinesisSourceOptions {
  std::string endpoint;  // base URL: https://kinesis.us-east-1.amazonaws.com
  std::string region = "us-east-1";
  std::string stream;
  // Empty: the environment, the shared credentials file or instance metadata (as the sinks).
  std::string access_key_id;
  std::string secret_access_key;
  // The pause before asking a shard again after it returned nothing (AWS allows 5 calls/s/shard).
  std::chrono::milliseconds poll_interval{1000};
  // Enhanced fan-out: records pushed over SubscribeToShard (HTTP/2) to a registered consumer,
  // instead of polling with GetRecords.
  bool efo = false;
  std::string consumer_name;  // the registered consumer; empty: "sluice-<delivery>"
  // Shards shared with other instances through a KCL lease table in DynamoDB (kinesis_leases.h),
  // with the source's region and credentials. Absent: this instance reads every shard.
  std::optional<KinesisLeaseTableOptions> lease_table;
};

struct DeliveryOptions {
  std::string name;
  // Where the entry is written, for check's messages: its key path ("deliveries[0]") and the
  // position of each key given, by its path below the entry ("buffer.size", "sink.prefix").
  std::string path;
  std::vector<std::pair<std::string, SourceMark>> marks;
  // The position of `key` (or, when it was not written, of the entry's name).
  SourceMark MarkOf(std::string_view key) const {
    const SourceMark* name = nullptr;
    for (const auto& [k, m] : marks) {
      if (k == key) return m;
      if (k == "name") name = &m;
    }
    return name != nullptr ? *name : sink.mark;
  }
  std::string stream;  // source stream (empty with direct_put)
  bool direct_put = false;
  std::optional<KafkaSourceOptions> kafka;      // source: {type: kafka}; stream is empty then
  std::optional<KinesisSourceOptions> kinesis;  // source: {type: kinesis}; stream is empty then
  StartPosition initial_position = StartPosition::kTrimHorizon;
  int64_t initial_timestamp_ms = 0;  // kAtTimestamp: the first record arrived at or after it
  // Unset: the sink type's Firehose default.
  std::optional<uint64_t> buffer_size;
  std::optional<std::chrono::milliseconds> buffer_interval;
  std::string record_delimiter;  // appended to each record for object sinks; empty: as-is
  Compression compression = Compression::kNone;
  std::string encryption_keyring;  // path; empty: no client-side encryption
  std::string encryption_key_id;
  TransformOptions transform;
  std::vector<std::string> partition_keys;  // dynamic partitioning: name=.json.path
  int max_active_partitions = 500;
  std::optional<std::chrono::milliseconds> retry_duration;
  std::string errors_path;  // local error output directory
  std::string backup_mode;  // "", failed_only, all
  std::optional<SinkSection> backup_sink;
  SinkSection sink;
  int concurrency = 1;
  // Appended for the delivery engine; defaults suit production.
  int version = 1;  // the <version> in object names; bump on each config change
  std::chrono::milliseconds retry_backoff_base{1000};   // first back-off ceiling
  std::chrono::milliseconds retry_backoff_cap{120000};  // back-off ceiling cap
};

}  // namespace sluice::buffer
