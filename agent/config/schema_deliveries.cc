// The schema of `deliveries[]`: Firehose-style delivery streams (buffer::DeliveryOptions).
#include <algorithm>
#include <cctype>
#include <span>
#include <string>

#include "agent/config/checks.h"
#include "agent/config/schema_internal.h"
#include "agent/config/secrets.h"
#include "core/units.h"

// The tables use designated initializers and leave defaulted members out on purpose; GCC 12
// warns about that even though every member has a default member initializer.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace sluice::config {
namespace {

constexpr Field kBufferFields[] = {
    {.key = "size",
     .type = Type::kSize,
     .min = 1,
     .max = 4 * kGiB,
     .doc = "Flush when this many bytes (before compression) are buffered. Unset: the sink's "
            "default; the sink's policy sets the range (s3: 1MiB..128MiB).",
     .set = SET(c.delivery->buffer_size = v.size)},
    {.key = "interval",
     .type = Type::kDuration,
     .min = 0,
     .max = kDay,
     .doc = "Flush when the oldest buffered record is this old; 0s: as soon as the delivery has "
            "read all there is (batches still fill up while records keep coming). Unset: the "
            "sink's default; the sink's policy sets the range (s3: 0s..15m).",
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
     .doc = "Not accepted: a transform runs on each delivery batch as it flushes, so the "
            "delivery's buffer.interval bounds its wait.",
     .set =
         SET(return Refuse("not accepted: a transform runs on each delivery batch as it flushes "
                           "(the delivery's buffer.interval bounds the wait); remove this key");)},
};
constexpr Section kTransformBufferSection{kTransformBufferFields};

constexpr std::string_view kOneTransform = "give only one of exec, http, plugin, lua";
using TransformKind = buffer::TransformOptions::Kind;

constexpr Field kTransformLuaFields[] = {
    {.key = "script",
     .doc = "Path of the Lua script, loaded once by each delivery worker (\"The lua transform\" "
            "below).",
     .set = SET(c.delivery->transform.lua.script = v.text)},
    {.key = "code",
     .doc = "The Lua source inline, instead of a script file.",
     .set = SET(c.delivery->transform.lua.code = v.text)},
    {.key = "call",
     .required = true,
     .doc = "Global function called for each record: code, timestamp, record = call(tag, "
            "timestamp, record), as Fluent Bit's Lua filter.",
     .set = SET(c.delivery->transform.lua.call = v.text)},
    {.key = "budget",
     .type = Type::kDuration,
     .default_text = "10ms",
     .min = 1,
     .max = 10 * kSecond,
     .doc = "Time allowed for one call; past it the record is ProcessingFailed.",
     .set = SET(c.delivery->transform.lua.budget = v.duration)},
    {.key = "memory_limit",
     .type = Type::kSize,
     .default_text = "64MiB",
     .min = kMiB,
     .max = 4 * kGiB,
     .doc = "Memory the Lua state of a worker may hold; past it the call fails.",
     .set = SET(c.delivery->transform.lua.memory_limit = v.size)},
};
constexpr Section kTransformLuaSection {
  kTransformLuaFields,
      HOOK(auto& t = c.delivery->transform;
           if (t.kind != TransformKind::kNone) return Refuse(std::string(kOneTransform));
           t.kind = TransformKind::kLua),
      HOOK(const auto& lua = c.delivery->transform.lua;
           if (lua.script.empty() == lua.code.empty()) return Refuse("give one of script, code");)
};

constexpr Field kTransformFields[] = {
    {.key = "exec",
     .type = Type::kStringList,
     .doc = "Command (argv) of a long-lived process: one JSON event per line in and out.",
     .set = SET(auto& t = c.delivery->transform;
                if (t.kind != TransformKind::kNone) return Refuse(std::string(kOneTransform));
                if (v.list.empty()) return Refuse("give the command to run");
                t.kind = TransformKind::kExec; t.exec = v.list)},
    {.key = "http",
     .doc = "URL invoked with the Lambda invoke shape.",
     .set = SET(auto& t = c.delivery->transform;
                if (t.kind != TransformKind::kNone) return Refuse(std::string(kOneTransform));
                t.kind = TransformKind::kHttp; t.url = v.text; return CheckUrl(v.text);)},
    {.key = "plugin",
     .doc = "Name of an in-process transform plugin.",
     .set = SET(auto& t = c.delivery->transform;
                if (t.kind != TransformKind::kNone) return Refuse(std::string(kOneTransform));
                t.kind = TransformKind::kPlugin; t.plugin = v.text)},
    {.key = "lua",
     .type = Type::kObject,
     .doc = "A Lua function called on each record in the daemon's process (Fluent Bit's Lua "
            "filter contract).",
     .section = &kTransformLuaSection},
    {.key = "options",
     .type = Type::kPluginOptions,
     .doc = "plugin only: the transform plugin's own options, a map checked against its option "
            "table as a sink section is (`sluice plugin info` lists them) and handed to it at "
            "create.",
     .set = SET(c.delivery->transform.options = v.sink.options)},
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
    {.key = "isolation",
     .type = Type::kEnum,
     .default_text = "in_process",
     .choices = "in_process|process",
     .doc = "plugin only: run the transform in a child process, so that a crash or a hang "
            "costs a retry of the invocation, not the daemon.",
     .set = SET(c.delivery->transform.isolation = v.text == "process"
                                                      ? buffer::Isolation::kProcess
                                                      : buffer::Isolation::kInProcess)},
};
constexpr Section kTransformSection {
  kTransformFields, nullptr,
      HOOK(if (c.delivery->transform.kind ==
               TransformKind::kNone) return Refuse("give one of exec, http, plugin, lua");)
};

constexpr Field kPartitioningFields[] = {
    {.key = "keys",
     .type = Type::kStringMap,
     .doc = "Partition key name to JSON path of the record, e.g. customer: .customer.id.",
     .set = SET(for (const auto& [k, path]
                     : v.map) {
       if (path.empty() || path[0] != '.')
         return Refuse("\"" + path + "\" is not a JSON path (.a.b)");
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

constexpr Field kRetryBackoffFields[] = {
    {.key = "base",
     .type = Type::kDuration,
     .default_text = "1s",
     .min = 1,
     .max = kHour,
     .doc = "Ceiling of the first back-off; each retry doubles it (full jitter).",
     .set = SET(c.delivery->retry_backoff_base = v.duration)},
    {.key = "cap",
     .type = Type::kDuration,
     .default_text = "2m",
     .min = 1,
     .max = kHour,
     .doc = "Largest back-off ceiling.",
     .set = SET(c.delivery->retry_backoff_cap = v.duration)},
};
constexpr Section kRetryBackoffSection {
  kRetryBackoffFields, nullptr,
      HOOK(if (c.delivery->retry_backoff_base >
               c.delivery->retry_backoff_cap) return Refuse("base must not exceed cap");)
};

// librdkafka properties the kafka source sets itself: refused in `properties`.
constexpr std::string_view kOwnedKafkaProperties[] = {
    "bootstrap.servers",   "metadata.broker.list",     "group.id",
    "enable.auto.commit",  "enable.auto.offset.store", "auto.offset.reset",
    "enable.partition.eof"};

// In a setter of one type's key: refused once `type` chose the other type. These keys have no
// default_text (the walker would apply it to the other type too): their defaults are the option
// structs' (buffer/delivery_options.h), said in their docs.
#define KAFKA_ONLY \
  if (!c.delivery->kafka) return Refuse("not a key of type: kinesis")
#define KINESIS_ONLY \
  if (!c.delivery->kinesis) return Refuse("not a key of type: kafka")

// The section's hook refused it already (type: kafka): nothing more to say.
#define LEASE_TABLE_ONLY \
  if (!c.delivery->kinesis || !c.delivery->kinesis->lease_table) return Status::Ok()

constexpr Field kLeaseTableFields[] = {
    {.key = "endpoint",
     .doc = "DynamoDB's base URL (http://host:port for a local one). Unset: AWS's for the "
            "source's region.",
     .set = SET(LEASE_TABLE_ONLY; RETURN_IF_ERROR(CheckUrl(v.text));
                c.delivery->kinesis->lease_table->endpoint = v.text)},
    {.key = "table",
     .required = true,
     .doc = "The lease table's name (KCL's application name); created, on-demand, when absent. "
            "Instances and KCL workers sharing a stream's shards name the same table.",
     .set =
         SET(LEASE_TABLE_ONLY; RETURN_IF_ERROR(CheckName(v.text, 255));
             if (v.text.size() < 3) return Refuse("a DynamoDB table name has 3 to 255 characters");
             c.delivery->kinesis->lease_table->table = v.text)},
    {.key = "worker_id",
     .doc = "This instance's name in the table (leaseOwner); unique among the instances. Unset: "
            "the host name and a random suffix, new at each start.",
     .set = SET(LEASE_TABLE_ONLY; if (v.text.empty() || v.text.size() > 256) return Refuse(
                    "a worker id has 1 to 256 characters");
                c.delivery->kinesis->lease_table->worker_id = v.text)},
    {.key = "failover_time",
     .type = Type::kDuration,
     .min = 1000,
     .max = 10 * kMinute,
     .doc = "A lease whose counter has not moved for this long is expired and may be taken "
            "(KCL's failoverTimeMillis); leases are renewed every third of it. Unset: 10s.",
     .set = SET(LEASE_TABLE_ONLY; c.delivery->kinesis->lease_table->failover_time = v.duration)},
};
constexpr Section kLeaseTableSection {
  kLeaseTableFields,
      HOOK(if (!c.delivery->kinesis) return Refuse("not a key of type: kafka");
           c.delivery->kinesis->lease_table.emplace()),
      nullptr
};

constexpr Field kSourceFields[] = {
    {.key = "type",
     .type = Type::kEnum,
     .required = true,
     .choices = "kafka|kinesis",
     .doc = "kafka: topics read as a member of a consumer group; kinesis: a remote Kinesis "
            "stream.",
     // The other type's options go: a key of theirs written after this one is refused.
     .set =
         SET(if (v.text == "kafka") c.delivery->kinesis.reset(); else c.delivery->kafka.reset();)},
    {.key = "brokers",
     .doc = "kafka: bootstrap brokers, host:port[,host:port...].",
     .set = SET(KAFKA_ONLY; c.delivery->kafka->brokers = v.text;
                if (v.text.empty()) return Refuse("give at least one host:port");)},
    {.key = "topics",
     .type = Type::kStringList,
     .doc = "kafka: topics to read; a name starting with ^ is a regular expression.",
     .set = SET(KAFKA_ONLY; if (v.list.empty()) return Refuse("give at least one topic");
                for (const std::string& t
                     : v.list) if (t.empty()) return Refuse("a topic name is empty");
                c.delivery->kafka->topics = v.list)},
    {.key = "group",
     .doc = "kafka: consumer group id. Instances of this delivery with the same group share the "
            "partitions; give each delivery its own group.",
     .set = SET(KAFKA_ONLY; c.delivery->kafka->group = v.text;
                if (v.text.empty()) return Refuse("give a group id");)},
    {.key = "properties",
     .type = Type::kStringMap,
     .doc = "kafka: librdkafka consumer properties (security.protocol, sasl.*, ssl.*, fetch.*, "
            "session.timeout.ms, partition.assignment.strategy: range or roundrobin...). The "
            "source owns "
            "bootstrap.servers, group.id, auto.offset.reset (initial_position), "
            "enable.auto.commit and enable.auto.offset.store.",
     .set = SET(KAFKA_ONLY; for (const auto& [k, val]
                                 : v.map) {
       for (std::string_view owned : kOwnedKafkaProperties) {
         if (k == owned) return Refuse("\"" + k + "\" is set by the source; remove it");
       }
       if (k == "partition.assignment.strategy" && val.find("cooperative") != std::string::npos) {
         return Refuse(
             "cooperative-sticky is not supported by the kafka source: use range or "
             "roundrobin");
       }
       c.delivery->kafka->properties.emplace_back(k, val);
     })},
    {.key = "rebalance_grace",
     .type = Type::kDuration,
     .min = 0,
     .max = 5 * kMinute,
     .doc =
         "kafka: how long a rebalance waits for batches of revoked partitions being delivered to "
         "commit (what is buffered and not yet sent is left to the next owner). Unset: 10s.",
     .set = SET(KAFKA_ONLY; c.delivery->kafka->rebalance_grace = v.duration)},
    {.key = "endpoint",
     .doc = "kinesis: the Kinesis API's base URL (https://kinesis.us-east-1.amazonaws.com, or "
            "another sluice's or kinesalite's http://host:port).",
     .set = SET(KINESIS_ONLY; RETURN_IF_ERROR(CheckUrl(v.text));
                c.delivery->kinesis->endpoint = v.text)},
    {.key = "region",
     .doc = "kinesis: the signing region. Unset: us-east-1.",
     .set = SET(KINESIS_ONLY; c.delivery->kinesis->region = v.text)},
    {.key = "stream",
     .doc = "kinesis: the stream's name.",
     .set = SET(KINESIS_ONLY; c.delivery->kinesis->stream = v.text;
                if (v.text.empty()) return Refuse("give a stream name");)},
    {.key = "access_key_id",
     .doc = "kinesis: access key id. Unset: AWS_ACCESS_KEY_ID, the shared credentials file or "
            "instance metadata, as the sinks find them.",
     .set = SET(KINESIS_ONLY; c.delivery->kinesis->access_key_id = v.text)},
    {.key = "secret_access_key",
     .doc = "kinesis: the secret, inline (the file must not be world-readable).",
     .set = SET(KINESIS_ONLY; c.delivery->kinesis->secret_access_key = v.text)},
    {.key = "secret_access_key_env",
     .doc = "kinesis: name of an environment variable holding the secret.",
     .set = SET(KINESIS_ONLY; auto secret = SecretFromEnv(v.text);
                if (!secret.ok()) return secret.status();
                c.delivery->kinesis->secret_access_key = std::move(*secret))},
    {.key = "secret_access_key_file",
     .doc = "kinesis: file holding the secret (trailing newline ignored; not world-readable).",
     .set = SET(KINESIS_ONLY; auto secret = SecretFromFile(v.text);
                if (!secret.ok()) return secret.status();
                c.delivery->kinesis->secret_access_key = std::move(*secret))},
    {.key = "poll_interval",
     .type = Type::kDuration,
     .min = 200,
     .max = 5 * kMinute,
     .doc = "kinesis: the pause before asking a shard again after it returned no record "
            "(AWS allows 5 GetRecords calls a second per shard). Unset: 1s.",
     .set = SET(KINESIS_ONLY; c.delivery->kinesis->poll_interval = v.duration)},
    {.key = "consumer",
     .type = Type::kEnum,
     .choices = "polling|efo",
     .doc = "kinesis: polling reads with GetRecords (shared with the stream's other readers: 5 "
            "calls and 2 MB a second per shard on AWS); efo registers an enhanced fan-out "
            "consumer and receives records pushed over SubscribeToShard (HTTP/2), 2 MB a second "
            "per shard of its own. Unset: polling.",
     .set = SET(KINESIS_ONLY; c.delivery->kinesis->efo = v.text == "efo")},
    {.key = "consumer_name",
     .doc = "kinesis, efo: the consumer's name (1-128 of A-Z a-z 0-9 _ . -); instances sharing "
            "the stream through a lease table use the same one. Unset: sluice-<delivery name>.",
     .set = SET(KINESIS_ONLY; RETURN_IF_ERROR(CheckName(v.text, 128));
                c.delivery->kinesis->consumer_name = v.text)},
    {.key = "lease_table",
     .type = Type::kObject,
     .doc = "kinesis: share the stream's shards with other instances (and KCL workers) through a "
            "KCL lease table in DynamoDB, {table, endpoint, worker_id, failover_time}, with the "
            "source's region and credentials. Unset: this instance reads every shard, with "
            "checkpoints under data_dir.",
     .section = &kLeaseTableSection},
};

// The keys of each type, for the refusal of the other type's.
constexpr std::string_view kKafkaOnlyKeys[] = {"brokers", "topics", "group", "properties",
                                               "rebalance_grace"};
constexpr std::string_view kKinesisOnlyKeys[] = {"endpoint",
                                                 "region",
                                                 "stream",
                                                 "access_key_id",
                                                 "secret_access_key",
                                                 "secret_access_key_env",
                                                 "secret_access_key_file",
                                                 "poll_interval",
                                                 "consumer",
                                                 "consumer_name",
                                                 "lease_table"};

// After the keys: the chosen type's required ones are given, the other type's none (a key
// written before `type` was set before its options went), and one secret at most.
Status FinishSource(LoadContext& c) {
  buffer::DeliveryOptions& d = *c.delivery;
  auto given = [&](std::string_view key) {
    return std::any_of(d.marks.begin(), d.marks.end(), [&](const auto& m) {
      return m.first.size() == 7 + key.size() && m.first.starts_with("source.") &&
             m.first.ends_with(key);
    });
  };
  const bool kafka = d.kafka.has_value();
  for (std::string_view key : kafka ? std::span<const std::string_view>(kKinesisOnlyKeys)
                                    : std::span<const std::string_view>(kKafkaOnlyKeys)) {
    if (given(key)) {
      return Refuse(std::string(key) + " is not a key of type: " + (kafka ? "kafka" : "kinesis"));
    }
  }
  auto missing = [&](std::string_view key) {
    return Refuse(std::string(key) +
                  ": required key is missing (type: " + (kafka ? "kafka" : "kinesis") + ")");
  };
  if (kafka) {
    for (std::string_view key : {"brokers", "topics", "group"}) {
      if (!given(key)) return missing(key);
    }
    return Status::Ok();
  }
  for (std::string_view key : {"endpoint", "stream"}) {
    if (!given(key)) return missing(key);
  }
  int secrets = 0;
  for (std::string_view key :
       {"secret_access_key", "secret_access_key_env", "secret_access_key_file"}) {
    secrets += given(key) ? 1 : 0;
  }
  if (secrets > 1) {
    return Refuse("give one of secret_access_key, secret_access_key_env, secret_access_key_file");
  }
  if ((secrets == 1) != given("access_key_id")) {
    return Refuse("access_key_id and a secret_access_key go together");
  }
  if (given("consumer_name") && !d.kinesis->efo) {
    return Refuse("consumer_name names an enhanced fan-out consumer: set consumer: efo");
  }
  return Status::Ok();
}
constexpr Section kDeliverySourceSection {
  kSourceFields, HOOK(c.delivery->kafka.emplace(); c.delivery->kinesis.emplace()), FinishSource
};

constexpr Field kDeliveryFields[] = {
    {.key = "name",
     .required = true,
     .doc = "Delivery stream name (1-64 of A-Z a-z 0-9 _ . -); its consumer name.",
     .set = SET(c.delivery->name = v.text; c.delivery_names.push_back(RefOf(v));
                return CheckName(v.text, 64);)},
    {.key = "stream",
     .doc = "Broker stream read as a named consumer (or set direct_put).",
     .set = SET(c.delivery->stream = v.text; c.stream_refs.push_back(RefOf(v)))},
    {.key = "source",
     .type = Type::kObject,
     .doc = "Read from outside the daemon instead of a broker stream: {type: kafka, brokers, "
            "topics, group} (several instances share the work, see docs/scale-out.md) or "
            "{type: kinesis, endpoint, stream, lease_table} (shards shared through a KCL lease "
            "table, or all read by this instance).",
     .section = &kDeliverySourceSection},
    {.key = "initial_position",
     .type = Type::kEnum,
     .default_text = "trim_horizon",
     .choices = "trim_horizon|latest|at_timestamp",
     .doc = "Where a new delivery starts reading its stream (later: its checkpoints): the oldest "
            "record, the next one, or initial_timestamp.",
     .set = SET(using buffer::StartPosition;
                c.delivery->initial_position = v.text == "latest" ? StartPosition::kLatest
                                               : v.text == "at_timestamp"
                                                   ? StartPosition::kAtTimestamp
                                                   : StartPosition::kTrimHorizon)},
    {.key = "initial_timestamp",
     .doc = "With initial_position: at_timestamp: RFC 3339 UTC (2026-01-02T03:04:05Z) or "
            "seconds since the epoch.",
     .set = SET(auto ms = ParseTimestampMs(v.text); if (!ms.ok()) return ms.status();
                c.delivery->initial_timestamp_ms = *ms)},
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
     .max = 7 * kDay,
     .doc = "How long failed deliveries are retried. Unset: the sink's default; the sink's policy "
            "sets the most (http: 2h, s3: 24h). An object batch that may already be stored "
            "(replayed after a restart, or an upload that reached the sink and lost its answer) "
            "is retried up to that most before it is spilled.",
     .set = SET(c.delivery->retry_duration = v.duration)},
    {.key = "retry_backoff",
     .type = Type::kObject,
     .doc = "Exponential back-off between retries.",
     .section = &kRetryBackoffSection},
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
     .doc = "Destination: type (the plugin name) plus the plugin's own options. Two more keys "
            "are the host's: isolation (in_process, the default, or process: the plugin runs "
            "in a child process, so a crash or a hang kills only the child) and call_timeout "
            "(1s..1h; a call older than this marks the delivery degraded, and under process "
            "isolation kills the child; unset: the sink's policy, 10 minutes by default).",
     .set = SET(c.delivery->sink = v.sink)},
    {.key = "concurrency",
     .type = Type::kInt,
     .default_text = "1",
     .min = 1,
     .max = 64,
     .doc = "Batches delivered in parallel.",
     .set = SET(c.delivery->concurrency = int(v.integer))},
};
}  // namespace

constexpr Section kDeliverySection {
  kDeliveryFields,
      HOOK(c.config->deliveries.emplace_back(); c.delivery = &c.config->deliveries.back()),
      HOOK(
          const buffer::DeliveryOptions& d = *c.delivery;
          int sources =
              (d.direct_put ? 1 : 0) + (d.stream.empty() ? 0 : 1) + (d.kafka || d.kinesis ? 1 : 0);
          if (sources > 1) return Refuse("give one of stream, source, direct_put: true");
          if (sources == 0) {
            return Refuse("give a stream to read, a source, or direct_put: true");
          } if ((d.initial_position == buffer::StartPosition::kAtTimestamp) !=
                (d.initial_timestamp_ms != 0)) {
            return Refuse("initial_position: at_timestamp and initial_timestamp go together");
          })
};

}  // namespace sluice::config
