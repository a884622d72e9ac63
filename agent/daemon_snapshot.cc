// Daemon::Snapshot: the /status document, the /metrics samples and the /health detail. One pass
// on the loop thread gathers the figures (Gather); three builders then write them out, the two
// documents on a RapidJSON writer. Metric names follow the Kinesis Data Streams and Firehose
// CloudWatch metrics (IncomingRecords, GetRecords.IteratorAgeMilliseconds, DeliveryToS3.Success,
// DeliveryToS3.DataFreshness, ...), prefixed sluice_stream_, sluice_delivery_ and sluice_agent_.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/stat.h>

#include <set>
#include <string>
#include <type_traits>

#include "agent/daemon_state.h"
#include "agent/tail/checkpoint_store.h"
#include "core/utf8.h"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.0.0"
#endif

namespace sluice::agent {
namespace {

namespace fs = std::filesystem;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

// What the builders write out, gathered once.
struct ShardView {
  broker::ShardInfo info;
  uint64_t end = 0;  // records stored (end offset)
};
struct ConsumerShardView {
  std::string shard_id;
  uint64_t checkpoint = 0, behind = 0;
  int64_t age_ms = 0;  // arrival age of the next record to read
};
struct ConsumerView {
  std::string name;
  bool orphaned = false;  // a delivery's consumer the configuration no longer has
  std::vector<ConsumerShardView> shards;
  uint64_t behind = 0;
  int64_t age_ms = 0;
};
struct StreamView {
  std::string name;
  broker::StreamOptions options;
  std::vector<ShardView> shards;
  std::vector<ConsumerView> consumers;
  uint64_t incoming_bytes = 0, throttled = 0;  // of the agent's puts
};
struct FileView {
  std::string path;
  uint64_t offset = 0, size = 0, behind = 0;
};
struct SourceView {
  std::string name, stream;
  FlowStats stats;
  std::vector<FileView> files;
};
struct DeliveryView {
  std::string name, stream, sink;
  buffer::DeliveryStats stats;
  double freshness_s = 0, success = 1;
  const char* health =
      "ok";  // failing | call_stuck | previous_config | plugin_unhealthy | spilling | errors | ok
  std::string reload_error;  // why the last reload could not apply its new configuration
  bool failing = false, spilling = false, exactly_once = true;
};
struct Figures {
  int64_t now = 0;
  uint64_t disk_usage = 0;
  std::vector<StreamView> streams;
  std::vector<SourceView> sources;
  std::vector<DeliveryView> deliveries;
};

void String(Writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

// `"key": value` with the writer call the value's type wants.
template <typename T>
void Put(Writer& w, const char* key, const T& v) {
  w.Key(key);
  if constexpr (std::is_same_v<T, bool>) {
    w.Bool(v);
  } else if constexpr (std::is_floating_point_v<T>) {
    w.Double(v);
  } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    w.Int64(v);
  } else if constexpr (std::is_integral_v<T>) {
    w.Uint64(v);
  } else {
    String(w, std::string_view(v));
  }
}

std::string Label(std::string_view key, std::string_view value) {
  return std::string(key) + "=\"" + JsonEscape(value) + "\"";
}

// `"last_error":"...","last_error_ms":N` when a delivery attempt has failed.
void LastError(Writer& w, const buffer::DeliveryStats& st) {
  if (st.last_error.empty()) return;
  Put(w, "last_error", ValidUtf8(st.last_error));
  Put(w, "last_error_ms", st.last_error_ms);
}

// Seconds with millisecond precision, as the page shows them.
double Seconds3(double s) { return static_cast<double>(static_cast<int64_t>(s * 1000)) / 1000; }

// Where a delivery reads: its shards or partitions with their lag, and a group's rebalances.
void WriteSource(Writer& w, const buffer::SourceStats& src) {
  w.Key("source");
  w.StartObject();
  Put(w, "type", src.type);
  if (src.leases_held >= 0) {
    Put(w, "worker_id", ValidUtf8(src.worker_id));
    Put(w, "leases_held", src.leases_held);
    Put(w, "leases_taken", src.leases_taken);
  }
  if (src.type == "kafka" || src.type == "kinesis") {
    if (src.type == "kafka") Put(w, "rebalances", src.rebalances);
    Put(w, "revocations", src.revocations);
    Put(w, "batches_dropped", src.batches_dropped);
    Put(w, "plans_replayed", src.plans_replayed);
    Put(w, "commit_errors", src.commit_errors);
    if (!src.last_error.empty()) Put(w, "last_error", ValidUtf8(src.last_error));
  }
  uint64_t lag = 0;
  for (const buffer::SourceShardStats& sh : src.shards) lag += sh.lag;
  Put(w, "lag_records", lag);
  w.Key("shards");
  w.StartArray();
  for (const buffer::SourceShardStats& sh : src.shards) {
    w.StartObject();
    Put(w, "id", ValidUtf8(sh.id));
    Put(w, "committed", sh.committed);
    Put(w, "end", sh.end);
    Put(w, "lag_records", sh.lag);
    Put(w, "buffered_records", sh.buffered);
    if (sh.millis_behind >= 0) Put(w, "millis_behind_latest", sh.millis_behind);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

void WriteStatus(const Daemon::State& s, const Figures& f, Writer& w) {
  w.StartObject();
  Put(w, "version", SLUICE_VERSION);
  Put(w, "uptime_ms", f.now - s.started_ms);
  Put(w, "config", s.config.source_file);
  Put(w, "config_generation", s.config_generation);
  Put(w, "last_reload_ms", s.last_reload_ms);
  if (!s.reload_rejected.empty()) {
    Put(w, "reload_rejected", ValidUtf8(s.reload_rejected));
    Put(w, "reload_rejected_ms", s.reload_rejected_ms);
  }
  Put(w, "disk_usage_bytes", f.disk_usage);
  w.Key("streams");
  w.StartArray();
  for (const StreamView& st : f.streams) {
    w.StartObject();
    Put(w, "name", st.name);
    Put(w, "mode",
        st.options.mode == broker::CapacityMode::kProvisioned ? "provisioned" : "unlimited");
    Put(w, "retention_hours", st.options.retention_hours);
    // As DescribeStream says it (NONE or KMS), with the master key new segments are sealed under.
    const broker::StreamEncryption& enc = st.options.encryption;
    Put(w, "encryption", enc.enabled ? "KMS" : "NONE");
    if (enc.enabled) {
      const Keyring* ring = s.config.broker.keyring.get();
      const Keyring::Key* key = ring ? ring->FindOrPrimary(enc.key_id) : nullptr;
      Put(w, "encryption_key_id", key ? key->id : enc.key_id);
      if (enc.key_id.empty()) Put(w, "encryption_key_primary", true);
    }
    Put(w, "incoming_bytes", st.incoming_bytes);
    w.Key("shards");
    w.StartArray();
    for (const ShardView& sh : st.shards) {
      w.StartObject();
      Put(w, "id", sh.info.shard_id);
      Put(w, "open", sh.info.open);
      Put(w, "end_offset", sh.end);
      w.EndObject();
    }
    w.EndArray();
    w.Key("consumers");
    w.StartArray();
    for (const ConsumerView& c : st.consumers) {
      w.StartObject();
      Put(w, "name", c.name);
      if (c.orphaned) {
        Put(w, "orphaned", true);
      }
      w.Key("shards");
      w.StartArray();
      for (const ConsumerShardView& cs : c.shards) {
        w.StartObject();
        Put(w, "shard", cs.shard_id);
        Put(w, "checkpoint", cs.checkpoint);
        Put(w, "behind", cs.behind);
        Put(w, "iterator_age_ms", cs.age_ms);
        w.EndObject();
      }
      w.EndArray();
      Put(w, "behind", c.behind);
      Put(w, "iterator_age_ms", c.age_ms);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.Key("sources");
  w.StartArray();
  for (const SourceView& src : f.sources) {
    w.StartObject();
    Put(w, "name", src.name);
    Put(w, "stream", src.stream);
    Put(w, "files_tracked", src.stats.files_tracked);
    Put(w, "records_put", src.stats.records_put);
    Put(w, "bytes_put", src.stats.bytes_put);
    Put(w, "bytes_behind", src.stats.bytes_behind);
    Put(w, "rotations", src.stats.rotations);
    Put(w, "truncations", src.stats.truncations);
    Put(w, "copies", src.stats.copies);
    Put(w, "resumed_from_stream", src.stats.resumed_from_stream);
    w.Key("files");
    w.StartArray();
    for (const FileView& file : src.files) {
      w.StartObject();
      Put(w, "path", ValidUtf8(file.path));
      Put(w, "offset", file.offset);
      Put(w, "size", file.size);
      Put(w, "behind", file.behind);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.Key("deliveries");
  w.StartArray();
  for (const DeliveryView& d : f.deliveries) {
    const buffer::DeliveryStats& st = d.stats;
    w.StartObject();
    Put(w, "name", d.name);
    Put(w, "stream", d.stream);
    Put(w, "sink", d.sink);
    Put(w, "health", d.health);
    Put(w, "records_in", st.records_in);
    Put(w, "records_delivered", st.records_delivered);
    Put(w, "bytes_delivered", st.bytes_delivered);
    Put(w, "objects_delivered", st.objects_delivered);
    Put(w, "records_spilled", st.records_spilled);
    Put(w, "retries", st.retries);
    Put(w, "buffered_bytes", st.buffered_bytes);
    Put(w, "data_freshness_s", Seconds3(d.freshness_s));
    Put(w, "replay", d.exactly_once ? "exactly_once" : "at_least_once");
    Put(w, "call_age_s", Seconds3(static_cast<double>(st.call_age_ms) / 1000.0));
    Put(w, "call_timeout_s", Seconds3(static_cast<double>(st.call_timeout_ms) / 1000.0));
    Put(w, "batches_crashed", st.batches_crashed);
    Put(w, "plugin_health", st.plugin_health.empty() ? "ok" : ValidUtf8(st.plugin_health));
    if (!d.reload_error.empty()) Put(w, "reload_error", ValidUtf8(d.reload_error));
    LastError(w, st);
    WriteSource(w, st.source);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

void WriteHealth(const Daemon::State& s, const Figures& f, Writer& w) {
  w.StartObject();
  if (!s.reload_rejected.empty()) {
    // The last reload was refused: what runs is not the file on disk.
    w.Key("config");
    w.StartObject();
    Put(w, "status", "reload_rejected");
    Put(w, "file", ValidUtf8(s.config.source_file));
    Put(w, "error", ValidUtf8(s.reload_rejected));
    Put(w, "since_ms", s.reload_rejected_ms);
    w.EndObject();
  }
  for (const SourceView& src : f.sources) {
    w.Key(("source/" + src.name).c_str());
    w.StartObject();
    Put(w, "status",
        src.stats.checkpoint_errors == 0 && src.stats.put_errors == 0 ? "ok" : "errors");
    w.EndObject();
  }
  for (const DeliveryView& d : f.deliveries) {
    w.Key(("delivery/" + d.name).c_str());
    w.StartObject();
    Put(w, "status", d.health);
    Put(w, "sink", d.sink);
    Put(w, "retries", d.stats.retries);
    Put(w, "records_spilled", d.stats.records_spilled);
    Put(w, "data_freshness_s", Seconds3(d.freshness_s));
    Put(w, "replay", d.exactly_once ? "exactly_once" : "at_least_once");
    if (!d.reload_error.empty()) Put(w, "reload_error", ValidUtf8(d.reload_error));
    if (!d.stats.plugin_health.empty()) Put(w, "plugin_health", ValidUtf8(d.stats.plugin_health));
    LastError(w, d.stats);
    w.EndObject();
  }
  for (const auto& [name, error] : s.not_running) {
    // Named by the configuration but not running: its start failed at a reload.
    w.Key(("delivery/" + name).c_str());
    w.StartObject();
    Put(w, "status", "not running");
    Put(w, "error", ValidUtf8(error));
    w.EndObject();
  }
  w.EndObject();
}

void AddMetrics(const Figures& f, std::vector<MetricSample>* out) {
  auto add = [out](const char* name, const char* help, const char* type, const std::string& labels,
                   double v) {
    out->push_back({name, help, type, labels, v});
  };
  add("sluice_broker_disk_usage_bytes", "Bytes of segment files on disk.", "gauge", "",
      static_cast<double>(f.disk_usage));
  for (const StreamView& st : f.streams) {
    std::string sl = Label("stream", st.name);
    int open = 0;
    for (const ShardView& sh : st.shards) {
      open += sh.info.open ? 1 : 0;
      std::string shl = sl + "," + Label("shard", sh.info.shard_id);
      add("sluice_stream_shard_records", "Records stored in the shard (end offset).", "gauge", shl,
          static_cast<double>(sh.end));
      add("sluice_stream_incoming_records_total",
          "Records put into the shard (Kinesis IncomingRecords).", "counter", shl,
          static_cast<double>(sh.end));
    }
    add("sluice_stream_open_shards", "Open shards (Kinesis OpenShardCount).", "gauge", sl, open);
    add("sluice_stream_incoming_bytes_total",
        "Record bytes the agent put into the stream (Kinesis IncomingBytes; API puts are not "
        "counted).",
        "counter", sl, static_cast<double>(st.incoming_bytes));
    add("sluice_stream_write_throttled_total",
        "Agent puts refused by limits or quota (Kinesis WriteProvisionedThroughputExceeded).",
        "counter", sl, static_cast<double>(st.throttled));
    for (const ConsumerView& c : st.consumers) {
      std::string cl = sl + "," + Label("consumer", c.name);
      if (c.orphaned) {
        // No lag metrics: a removed delivery does not page anyone.
        add("sluice_stream_consumer_orphaned",
            "1 for a consumer of a delivery no longer configured (no lag metrics for it).", "gauge",
            cl, 1);
        continue;
      }
      for (const ConsumerShardView& cs : c.shards) {
        std::string csl = cl + "," + Label("shard", cs.shard_id);
        add("sluice_stream_iterator_age_milliseconds",
            "Age of the next record the consumer reads (Kinesis "
            "GetRecords.IteratorAgeMilliseconds).",
            "gauge", csl, static_cast<double>(cs.age_ms));
        add("sluice_stream_records_behind", "Records the consumer has not checkpointed yet.",
            "gauge", csl, static_cast<double>(cs.behind));
      }
    }
  }
  for (const SourceView& src : f.sources) {
    const FlowStats& st = src.stats;
    std::string fl = Label("source", src.name);
    add("sluice_agent_files_tracked", "Files followed by the flow.", "gauge", fl,
        static_cast<double>(st.files_tracked));
    add("sluice_agent_files_open", "File descriptors held by the flow.", "gauge", fl,
        static_cast<double>(st.files_open));
    add("sluice_agent_bytes_read_total", "Bytes read from files.", "counter", fl,
        static_cast<double>(st.bytes_read));
    add("sluice_agent_incoming_records_total", "Records put into the stream.", "counter", fl,
        static_cast<double>(st.records_put));
    add("sluice_agent_incoming_bytes_total", "Record bytes put into the stream.", "counter", fl,
        static_cast<double>(st.bytes_put));
    add("sluice_agent_bytes_behind", "Bytes of tracked files not yet durably checkpointed.",
        "gauge", fl, static_cast<double>(st.bytes_behind));
    add("sluice_agent_rotations_total", "Files let go after rotation.", "counter", fl,
        static_cast<double>(st.rotations));
    add("sluice_agent_truncations_total", "Copy-truncations seen.", "counter", fl,
        static_cast<double>(st.truncations));
    add("sluice_agent_copies_total",
        "Files recognised by content as copies of files already read (not read again).", "counter",
        fl, static_cast<double>(st.copies));
    add("sluice_agent_resumed_from_stream_total",
        "Files resumed at start from positions the stream holds past the checkpoint file.",
        "counter", fl, static_cast<double>(st.resumed_from_stream));
    add("sluice_agent_parse_failures_total", "Records a processing step could not parse.",
        "counter", fl, static_cast<double>(st.parse_failures));
    add("sluice_agent_dropped_records_total", "Records a processing step (grep) dropped.",
        "counter", fl, static_cast<double>(st.records_dropped));
    for (const StepStats& step : st.steps) {
      add("sluice_agent_step_dropped_records_total",
          "Records one processing step dropped (step: its position and kind).", "counter",
          fl + "," + Label("step", step.name), static_cast<double>(step.dropped));
      add("sluice_agent_step_failed_records_total",
          "Records one processing step could not parse (step: its position and kind).", "counter",
          fl + "," + Label("step", step.name), static_cast<double>(step.failed));
      add("sluice_agent_step_changed_records_total",
          "Records one processing step edited or timed (step: its position and kind).", "counter",
          fl + "," + Label("step", step.name), static_cast<double>(step.changed));
    }
    add("sluice_agent_error_output_records_total",
        "Unparsed lines written to the source's error output.", "counter", fl,
        static_cast<double>(st.error_output_records));
    add("sluice_agent_error_output_failures_total",
        "Writes of the source's error output that failed (retried).", "counter", fl,
        static_cast<double>(st.error_output_failures));
    add("sluice_agent_partition_key_fallbacks_total",
        "Records keyed by the deterministic hash because partition_key found no key in them.",
        "counter", fl, static_cast<double>(st.partition_key_fallbacks));
    add("sluice_agent_records_truncated_total", "Records cut at max_record_size.", "counter", fl,
        static_cast<double>(st.records_truncated));
    add("sluice_agent_put_throttled_total", "Puts refused by limits or quota.", "counter", fl,
        static_cast<double>(st.put_throttled));
    add("sluice_agent_put_errors_total", "Puts that failed otherwise (retried).", "counter", fl,
        static_cast<double>(st.put_errors));
    add("sluice_agent_open_errors_total", "Files that could not be opened.", "counter", fl,
        static_cast<double>(st.open_errors));
    add("sluice_agent_checkpoint_errors_total", "Checkpoint writes that failed.", "counter", fl,
        static_cast<double>(st.checkpoint_errors));
    add("sluice_agent_connections_open", "Connections open (syslog over TCP).", "gauge", fl,
        static_cast<double>(st.connections_open));
    add("sluice_agent_connections_refused_total",
        "Connections closed at once at max_connections (syslog over TCP).", "counter", fl,
        static_cast<double>(st.connections_refused));
    add("sluice_agent_restarts_total", "Starts of the command after its first (exec).", "counter",
        fl, static_cast<double>(st.restarts));
    add("sluice_agent_messages_truncated_total", "Messages cut at max_message_size (syslog).",
        "counter", fl, static_cast<double>(st.messages_truncated));
    for (const FileView& file : src.files) {
      add("sluice_agent_file_bytes_behind", "Bytes of the file past its checkpoint.", "gauge",
          fl + "," + Label("path", file.path), static_cast<double>(file.behind));
    }
  }
  for (const DeliveryView& d : f.deliveries) {
    const buffer::DeliveryStats& st = d.stats;
    std::string dl = Label("delivery_stream", d.name);
    add("sluice_delivery_incoming_records_total",
        "Records read from the source stream (Firehose DataReadFromKinesisStream.Records).",
        "counter", dl, static_cast<double>(st.records_in));
    add("sluice_delivery_incoming_bytes_total",
        "Bytes read from the source stream (Firehose DataReadFromKinesisStream.Bytes).", "counter",
        dl, static_cast<double>(st.bytes_in));
    add("sluice_delivery_records_total", "Records delivered to the sink (DeliveryTo*.Records).",
        "counter", dl, static_cast<double>(st.records_delivered));
    add("sluice_delivery_bytes_total", "Record bytes delivered, before codecs (DeliveryTo*.Bytes).",
        "counter", dl, static_cast<double>(st.bytes_delivered));
    add("sluice_delivery_sent_bytes_total", "Object bytes sent, after codecs.", "counter", dl,
        static_cast<double>(st.bytes_sent));
    add("sluice_delivery_objects_total",
        "Objects (object sinks) or batches (record sinks) delivered (DeliveryToS3.ObjectCount).",
        "counter", dl, static_cast<double>(st.objects_delivered));
    add("sluice_delivery_attempts_total", "Sink deliver calls.", "counter", dl,
        static_cast<double>(st.attempts));
    add("sluice_delivery_retries_total", "Delivery attempts retried.", "counter", dl,
        static_cast<double>(st.retries));
    add("sluice_delivery_retried_records_total",
        "Records a partial answer of the sink sent back for a retry.", "counter", dl,
        static_cast<double>(st.records_retried));
    add("sluice_delivery_plugin_bad_outcomes_total",
        "Per-record outcomes the plugin left unset or filled with an invalid code (retried).",
        "counter", dl, static_cast<double>(st.bad_outcomes));
    add("sluice_delivery_plugin_call_age_seconds",
        "Age of the oldest plugin call running now (0: none); past the sink's call timeout the "
        "delivery is call_stuck.",
        "gauge", dl, static_cast<double>(st.call_age_ms) / 1000.0);
    add("sluice_delivery_plugin_child_restarts_total",
        "isolation: process: plugin child processes started again after one died or was killed.",
        "counter", dl, static_cast<double>(st.child_restarts));
    add("sluice_delivery_plugin_child_crashes_total",
        "isolation: process: plugin children that died during a call (Plugin.Crashed).", "counter",
        dl, static_cast<double>(st.child_crashes));
    add("sluice_delivery_plugin_child_timeouts_total",
        "isolation: process: plugin children killed at the call timeout (Plugin.Timeout).",
        "counter", dl, static_cast<double>(st.child_timeouts));
    for (const buffer::SourceShardStats& sh : st.source.shards) {
      add("sluice_delivery_source_lag_records",
          "Records of a shard or partition not yet delivered: its end offset minus the "
          "delivery's checkpoint (Kafka consumer lag).",
          "gauge", dl + "," + Label("shard", sh.id), static_cast<double>(sh.lag));
    }
    for (const buffer::SourceShardStats& sh : st.source.shards) {
      if (sh.millis_behind < 0) continue;
      add("sluice_delivery_source_millis_behind_latest",
          "How far the last GetRecords of a remote Kinesis shard was behind its tip "
          "(MillisBehindLatest: the iterator age).",
          "gauge", dl + "," + Label("shard", sh.id), static_cast<double>(sh.millis_behind));
    }
    if (st.source.type == "kafka") {
      add("sluice_delivery_source_assigned_partitions",
          "Kafka partitions assigned to this instance now.", "gauge", dl,
          static_cast<double>(st.source.shards.size()));
      add("sluice_delivery_source_rebalances_total",
          "Kafka consumer group assignments received (the first included).", "counter", dl,
          static_cast<double>(st.source.rebalances));
      add("sluice_delivery_source_revoked_partitions_total",
          "Kafka partitions a rebalance took from this instance.", "counter", dl,
          static_cast<double>(st.source.revocations));
      add("sluice_delivery_source_dropped_batches_total",
          "Buffered batches of revoked partitions left uncommitted for their next owner.",
          "counter", dl, static_cast<double>(st.source.batches_dropped));
      add("sluice_delivery_source_replayed_plans_total",
          "Batches planned by a partition's previous owner and replayed here under their key.",
          "counter", dl, static_cast<double>(st.source.plans_replayed));
      add("sluice_delivery_source_commit_errors_total", "Kafka offset commits that failed.",
          "counter", dl, static_cast<double>(st.source.commit_errors));
    }
    if (st.source.leases_held >= 0) {
      add("sluice_delivery_source_leases_held",
          "Kinesis shard leases this instance holds in the lease table now.", "gauge", dl,
          static_cast<double>(st.source.leases_held));
      add("sluice_delivery_source_leases_taken_total",
          "Kinesis shard leases taken from another worker, or after they expired.", "counter", dl,
          static_cast<double>(st.source.leases_taken));
      add("sluice_delivery_source_leases_lost_total",
          "Kinesis shard leases another worker took from this one (or not renewed in time).",
          "counter", dl, static_cast<double>(st.source.revocations));
    }
    add("sluice_delivery_crashed_batches_total",
        "Batches spilled as Plugin.Crashed after crashing the daemon 3 times.", "counter", dl,
        static_cast<double>(st.batches_crashed));
    add("sluice_delivery_success",
        "Share of sink deliver calls that succeeded (DeliveryTo*.Success).", "gauge", dl,
        d.success);
    add("sluice_delivery_data_freshness_seconds",
        "Age of the oldest buffered record (DeliveryTo*.DataFreshness).", "gauge", dl,
        d.freshness_s);
    add("sluice_delivery_spilled_records_total", "Records written to the error output.", "counter",
        dl, static_cast<double>(st.records_spilled));
    add("sluice_delivery_spilled_objects_total", "Objects written to the error output.", "counter",
        dl, static_cast<double>(st.objects_spilled));
    add("sluice_delivery_transform_dropped_records_total",
        "Records the transform answered Dropped.", "counter", dl,
        static_cast<double>(st.records_dropped));
    add("sluice_delivery_replayed_batches_total", "Journal batches replayed after a restart.",
        "counter", dl, static_cast<double>(st.batches_replayed));
    add("sluice_delivery_errors_total", "Broker read, checkpoint or error-output write failures.",
        "counter", dl, static_cast<double>(st.errors));
    add("sluice_delivery_buffered_bytes", "Record bytes buffered now.", "gauge", dl,
        static_cast<double>(st.buffered_bytes));
    add("sluice_delivery_sink_healthy", "1 unless the sink retries without delivering.", "gauge",
        dl, d.failing ? 0 : 1);
    for (const auto& [counter, value] : st.plugin_counters) {
      add("sluice_delivery_plugin_counter", "Counters the sink plugin reports.", "counter",
          dl + "," + Label("counter", counter), static_cast<double>(value));
    }
  }
}

}  // namespace

// Gathers the figures. A consumer named after a delivery this daemon ran (its state directory is
// under data_dir) that the configuration no longer has is orphaned: shown as such and left out of
// the lag metrics; its checkpoints stay (adding the delivery back resumes there). A sink is
// failing when, between two snapshots, it retried and delivered nothing; spilling while records
// went to its error output in the last kSpillingWindowMs.
AdminSnapshot Daemon::Snapshot() {
  State& s = *s_;
  Figures f;
  f.now = Clock::Real()->NowMs();
  f.disk_usage = s.broker->DiskUsageBytes();
  std::map<std::string, uint64_t> stream_bytes, stream_throttled;
  for (const auto& flow : s.flows) {
    FlowStats st = flow->stats();
    stream_bytes[flow->options().stream] += st.bytes_put;
    stream_throttled[flow->options().stream] += st.put_throttled;
  }
  std::set<std::string> configured;
  for (const buffer::DeliveryOptions& d : s.config.deliveries) configured.insert(d.name);
  broker::ReadBatch probe;
  for (const std::string& name : s.broker->ListStreams()) {
    auto found = s.broker->GetStream(name);
    if (!found.ok()) continue;
    broker::Stream* stream = *found;
    StreamView& sv = f.streams.emplace_back();
    sv.name = name;
    sv.options = stream->options();
    sv.incoming_bytes = stream_bytes[name];
    sv.throttled = stream_throttled[name];
    for (const broker::ShardInfo& sh : stream->ListShards()) {
      auto end = stream->EndOffset(sh.index);
      sv.shards.push_back({sh, end.ok() ? *end : 0});
    }
    for (const std::string& consumer : stream->ListConsumers()) {
      ConsumerView& cv = sv.consumers.emplace_back();
      cv.name = consumer;
      std::error_code ec;
      cv.orphaned = !configured.count(consumer) &&
                    fs::is_directory(fs::path(s.config.data_dir) / "deliveries" / consumer, ec);
      for (const ShardView& sh : sv.shards) {
        auto next = stream->GetCheckpoint(consumer, sh.info.index);
        if (!next.ok()) continue;
        ConsumerShardView cs{sh.info.shard_id, *next, sh.end > *next ? sh.end - *next : 0, 0};
        if (cs.behind > 0) {
          // The arrival time of the next record the consumer will read.
          broker::ReadLimits one{1, 1 << 20};
          if (stream->Read(sh.info.index, *next, one, &probe).ok() && !probe.records.empty()) {
            cs.age_ms = std::max<int64_t>(0, f.now - probe.records[0].arrival_ms);
          }
        }
        cv.behind += cs.behind;
        cv.age_ms = std::max(cv.age_ms, cs.age_ms);
        cv.shards.push_back(std::move(cs));
      }
    }
  }
  fs::path data_dir = s.config.data_dir;
  for (const auto& flow : s.flows) {
    SourceView& src = f.sources.emplace_back();
    src.name = flow->options().name;
    src.stream = flow->options().stream;
    src.stats = flow->stats();
    // Tailed files as last checkpointed, with what is left to read in each.
    auto entries = CheckpointStore(data_dir / "agent" / src.name, src.name).Load();
    if (!entries.ok()) continue;
    for (const FileCheckpoint& fc : entries->files) {
      struct stat sb {};
      uint64_t size = ::stat(fc.path.c_str(), &sb) == 0 ? static_cast<uint64_t>(sb.st_size) : 0;
      src.files.push_back({fc.path, fc.offset, size, size > fc.offset ? size - fc.offset : 0});
    }
  }
  AdminSnapshot snap;
  for (const auto& d : s.deliveries) {
    DeliveryView& dv = f.deliveries.emplace_back();
    const buffer::DeliveryStats& st = dv.stats = d->stats();
    dv.name = d->name();
    for (const buffer::DeliveryOptions& o : s.config.deliveries) {
      if (o.name == dv.name) {
        dv.stream = o.stream;
        if (o.kafka) {
          dv.stream = "kafka:";
          for (size_t i = 0; i < o.kafka->topics.size(); ++i) {
            dv.stream += (i ? "," : "") + o.kafka->topics[i];
          }
        }
        dv.sink = o.sink.type;
      }
    }
    dv.exactly_once = d->replay_exactly_once();
    dv.freshness_s =
        st.oldest_buffered_arrival_ms ? (f.now - st.oldest_buffered_arrival_ms) / 1e3 : 0;
    dv.success = st.attempts == 0
                     ? 1.0
                     : static_cast<double>(st.attempts - std::min(st.retries, st.attempts)) /
                           static_cast<double>(st.attempts);
    SinkProgress& p = s.sink_progress[dv.name];
    if (st.records_delivered > p.delivered) {
      p.failing = false;
    } else if (st.retries > p.retries) {
      p.failing = true;
    }
    p.retries = st.retries;
    p.delivered = st.records_delivered;
    if (st.records_spilled > p.spilled) p.last_spill_ms = f.now;
    p.spilled = st.records_spilled;
    dv.failing = p.failing;
    dv.spilling = p.last_spill_ms != 0 && f.now - p.last_spill_ms < kSpillingWindowMs;
    // A plugin call running longer than the sink's call timeout: stuck (degraded, not down: the
    // call may still return).
    const bool stuck = st.call_stuck;
    // A reload could not create its new configuration: running on the previous one.
    auto kept = s.kept_previous.find(dv.name);
    if (kept != s.kept_previous.end()) dv.reload_error = kept->second;
    // The plugin's own on_healthcheck said no (at start, or between retries).
    const bool plugin_unhealthy = !st.plugin_health.empty();
    dv.health = dv.failing                 ? "failing"
                : stuck                    ? "call_stuck"
                : !dv.reload_error.empty() ? "previous_config"
                : plugin_unhealthy         ? "plugin_unhealthy"
                : dv.spilling              ? "spilling"
                : st.errors                ? "errors"
                                           : "ok";
    if (dv.failing) snap.healthy = false;
    if (dv.spilling || stuck || !dv.reload_error.empty() || plugin_unhealthy) {
      snap.degraded = true;
    }
  }
  if (!s.not_running.empty()) snap.healthy = false;
  if (!s.reload_rejected.empty()) snap.degraded = true;

  rapidjson::StringBuffer status, health;
  Writer status_writer(status), health_writer(health);
  WriteStatus(s, f, status_writer);
  WriteHealth(s, f, health_writer);
  snap.status_json.assign(status.GetString(), status.GetSize());
  snap.health_detail.assign(health.GetString(), health.GetSize());
  AddMetrics(f, &snap.metrics);
  snap.metrics.push_back({"sluice_config_generation",
                          "Configurations applied (1 at start, +1 per reload).", "gauge", "",
                          static_cast<double>(s.config_generation)});
  return snap;
}

}  // namespace sluice::agent
