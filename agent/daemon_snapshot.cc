// Daemon::Snapshot: the /status document, the /metrics samples and the /health detail, built in one
// pass on the loop thread. Metric names follow the Kinesis Data Streams and Firehose CloudWatch
// metrics (IncomingRecords, GetRecords.IteratorAgeMilliseconds, DeliveryToS3.Success,
// DeliveryToS3.DataFreshness, ...), prefixed sluice_stream_, sluice_delivery_ and sluice_agent_.
#include <sys/stat.h>

#include <set>
#include <string>

#include "agent/daemon_state.h"
#include "agent/tail/checkpoint_store.h"
#include "core/utf8.h"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.0.0"
#endif

namespace sluice::agent {
namespace {

namespace fs = std::filesystem;

class Builder {
 public:
  explicit Builder(AdminSnapshot* snap) : snap_(snap) {}
  void Add(const char* name, const char* help, const char* type, const std::string& labels,
           double v) {
    snap_->metrics.push_back({name, help, type, labels, v});
  }

 private:
  AdminSnapshot* snap_;
};

std::string Label(std::string_view key, std::string_view value) {
  return std::string(key) + "=\"" + JsonEscape(value) + "\"";
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

// `,"last_error":"...","last_error_ms":N` when a delivery attempt of `st` has failed; else "".
std::string LastError(const buffer::DeliveryStats& st) {
  if (st.last_error.empty()) return "";
  return ",\"last_error\":\"" + JsonEscape(ValidUtf8(st.last_error)) +
         "\",\"last_error_ms\":" + std::to_string(st.last_error_ms);
}

// Comma management for hand-built JSON arrays.
struct Sep {
  bool first = true;
  const char* operator()() {
    const char* s = first ? "" : ",";
    first = false;
    return s;
  }
};

}  // namespace

AdminSnapshot Daemon::Snapshot() {
  State& s = *s_;
  AdminSnapshot snap;
  Builder m(&snap);
  int64_t now = Clock::Real()->NowMs();
  std::map<std::string, uint64_t> stream_bytes, stream_throttled;
  for (const auto& flow : s.flows) {
    FlowStats st = flow->stats();
    stream_bytes[flow->options().stream] += st.bytes_put;
    stream_throttled[flow->options().stream] += st.put_throttled;
  }

  std::string j =
      "{\"version\":\"" SLUICE_VERSION "\",\"uptime_ms\":" + std::to_string(now - s.started_ms) +
      ",\"config\":\"" + JsonEscape(s.config.source_file) +
      "\",\"config_generation\":" + std::to_string(s.config_generation) +
      ",\"last_reload_ms\":" + std::to_string(s.last_reload_ms) +
      ",\"disk_usage_bytes\":" + std::to_string(s.broker->DiskUsageBytes());
  m.Add("sluice_broker_disk_usage_bytes", "Bytes of segment files on disk.", "gauge", "",
        static_cast<double>(s.broker->DiskUsageBytes()));
  m.Add("sluice_config_generation", "Configurations applied (1 at start, +1 per reload).", "gauge",
        "", static_cast<double>(s.config_generation));

  // Streams, shards, consumers. A consumer named after a delivery this daemon ran (its state
  // directory is under data_dir) that the configuration no longer has is orphaned: shown as such
  // and left out of the lag metrics, so that a removed delivery does not page anyone. Its
  // checkpoints stay: adding the delivery back resumes there (or deregister it through the API).
  std::set<std::string> configured;
  for (const buffer::DeliveryOptions& d : s.config.deliveries) configured.insert(d.name);
  auto orphaned = [&](const std::string& consumer) {
    std::error_code ec;
    return !configured.count(consumer) &&
           fs::is_directory(fs::path(s.config.data_dir) / "deliveries" / consumer, ec);
  };
  j += ",\"streams\":[";
  Sep stream_sep;
  broker::ReadBatch probe;
  for (const std::string& name : s.broker->ListStreams()) {
    auto found = s.broker->GetStream(name);
    if (!found.ok()) continue;
    broker::Stream* stream = *found;
    broker::StreamOptions so = stream->options();
    std::string sl = Label("stream", name);
    std::vector<broker::ShardInfo> shards = stream->ListShards();
    std::map<uint32_t, uint64_t> ends;
    int open = 0;
    j += std::string(stream_sep()) + "{\"name\":\"" + JsonEscape(name) + "\",\"mode\":\"" +
         (so.mode == broker::CapacityMode::kProvisioned ? "provisioned" : "unlimited") +
         "\",\"retention_hours\":" + std::to_string(so.retention_hours) +
         ",\"incoming_bytes\":" + std::to_string(stream_bytes[name]) + ",\"shards\":[";
    Sep shard_sep;
    for (const broker::ShardInfo& sh : shards) {
      auto end = stream->EndOffset(sh.index);
      uint64_t records = end.ok() ? *end : 0;
      ends[sh.index] = records;
      open += sh.open ? 1 : 0;
      std::string shl = sl + "," + Label("shard", sh.shard_id);
      m.Add("sluice_stream_shard_records", "Records stored in the shard (end offset).", "gauge",
            shl, static_cast<double>(records));
      m.Add("sluice_stream_incoming_records_total",
            "Records put into the shard (Kinesis IncomingRecords).", "counter", shl,
            static_cast<double>(records));
      j += std::string(shard_sep()) + "{\"id\":\"" + sh.shard_id +
           "\",\"open\":" + (sh.open ? "true" : "false") +
           ",\"end_offset\":" + std::to_string(records) + "}";
    }
    m.Add("sluice_stream_open_shards", "Open shards (Kinesis OpenShardCount).", "gauge", sl, open);
    m.Add("sluice_stream_incoming_bytes_total",
          "Record bytes the agent put into the stream (Kinesis IncomingBytes; API puts are not "
          "counted).",
          "counter", sl, static_cast<double>(stream_bytes[name]));
    m.Add("sluice_stream_write_throttled_total",
          "Agent puts refused by limits or quota (Kinesis WriteProvisionedThroughputExceeded).",
          "counter", sl, static_cast<double>(stream_throttled[name]));
    j += "],\"consumers\":[";
    Sep consumer_sep;
    for (const std::string& consumer : stream->ListConsumers()) {
      bool orphan = orphaned(consumer);
      j += std::string(consumer_sep()) + "{\"name\":\"" + JsonEscape(consumer) + "\"" +
           (orphan ? ",\"orphaned\":true" : "") + ",\"shards\":[";
      if (orphan) {
        m.Add("sluice_stream_consumer_orphaned",
              "1 for a consumer of a delivery no longer configured (no lag metrics for it).",
              "gauge", sl + "," + Label("consumer", consumer), 1);
      }
      Sep cs_sep;
      uint64_t total_behind = 0;
      int64_t max_age = 0;
      for (const broker::ShardInfo& sh : shards) {
        auto next = stream->GetCheckpoint(consumer, sh.index);
        if (!next.ok()) continue;
        uint64_t end = ends[sh.index];
        uint64_t behind = end > *next ? end - *next : 0;
        int64_t age = 0;
        if (behind > 0) {
          // The arrival time of the next record the consumer will read.
          broker::ReadLimits one{1, 1 << 20};
          if (stream->Read(sh.index, *next, one, &probe).ok() && !probe.records.empty()) {
            age = std::max<int64_t>(0, now - probe.records[0].arrival_ms);
          }
        }
        total_behind += behind;
        max_age = std::max(max_age, age);
        std::string cl = sl + "," + Label("consumer", consumer) + "," + Label("shard", sh.shard_id);
        if (!orphan) {
          m.Add("sluice_stream_iterator_age_milliseconds",
                "Age of the next record the consumer reads (Kinesis "
                "GetRecords.IteratorAgeMilliseconds).",
                "gauge", cl, static_cast<double>(age));
          m.Add("sluice_stream_records_behind", "Records the consumer has not checkpointed yet.",
                "gauge", cl, static_cast<double>(behind));
        }
        j += std::string(cs_sep()) + "{\"shard\":\"" + sh.shard_id +
             "\",\"checkpoint\":" + std::to_string(*next) +
             ",\"behind\":" + std::to_string(behind) +
             ",\"iterator_age_ms\":" + std::to_string(age) + "}";
      }
      j += "],\"behind\":" + std::to_string(total_behind) +
           ",\"iterator_age_ms\":" + std::to_string(max_age) + "}";
    }
    j += "]}";
  }

  // Sources and their files.
  j += "],\"sources\":[";
  std::string health = "{";
  Sep health_sep;
  Sep source_sep;
  fs::path data_dir = s.config.data_dir;
  for (const auto& flow : s.flows) {
    FlowStats st = flow->stats();
    const std::string& name = flow->options().name;
    std::string fl = Label("source", name);
    m.Add("sluice_agent_files_tracked", "Files followed by the flow.", "gauge", fl,
          static_cast<double>(st.files_tracked));
    m.Add("sluice_agent_files_open", "File descriptors held by the flow.", "gauge", fl,
          static_cast<double>(st.files_open));
    m.Add("sluice_agent_bytes_read_total", "Bytes read from files.", "counter", fl,
          static_cast<double>(st.bytes_read));
    m.Add("sluice_agent_incoming_records_total", "Records put into the stream.", "counter", fl,
          static_cast<double>(st.records_put));
    m.Add("sluice_agent_incoming_bytes_total", "Record bytes put into the stream.", "counter", fl,
          static_cast<double>(st.bytes_put));
    m.Add("sluice_agent_bytes_behind", "Bytes of tracked files not yet durably checkpointed.",
          "gauge", fl, static_cast<double>(st.bytes_behind));
    m.Add("sluice_agent_rotations_total", "Files let go after rotation.", "counter", fl,
          static_cast<double>(st.rotations));
    m.Add("sluice_agent_truncations_total", "Copy-truncations seen.", "counter", fl,
          static_cast<double>(st.truncations));
    m.Add("sluice_agent_parse_failures_total", "Records a processing step could not parse.",
          "counter", fl, static_cast<double>(st.parse_failures));
    m.Add("sluice_agent_error_output_records_total",
          "Unparsed lines written to the source's error output.", "counter", fl,
          static_cast<double>(st.error_output_records));
    m.Add("sluice_agent_error_output_failures_total",
          "Writes of the source's error output that failed (retried).", "counter", fl,
          static_cast<double>(st.error_output_failures));
    m.Add("sluice_agent_partition_key_fallbacks_total",
          "Records keyed by the deterministic hash because partition_key found no key in them.",
          "counter", fl, static_cast<double>(st.partition_key_fallbacks));
    m.Add("sluice_agent_records_truncated_total", "Records cut at max_record_size.", "counter", fl,
          static_cast<double>(st.records_truncated));
    m.Add("sluice_agent_put_throttled_total", "Puts refused by limits or quota.", "counter", fl,
          static_cast<double>(st.put_throttled));
    m.Add("sluice_agent_put_errors_total", "Puts that failed otherwise (retried).", "counter", fl,
          static_cast<double>(st.put_errors));
    m.Add("sluice_agent_open_errors_total", "Files that could not be opened.", "counter", fl,
          static_cast<double>(st.open_errors));
    m.Add("sluice_agent_checkpoint_errors_total", "Checkpoint writes that failed.", "counter", fl,
          static_cast<double>(st.checkpoint_errors));
    j += std::string(source_sep()) + "{\"name\":\"" + JsonEscape(name) + "\",\"stream\":\"" +
         JsonEscape(flow->options().stream) +
         "\",\"files_tracked\":" + std::to_string(st.files_tracked) +
         ",\"records_put\":" + std::to_string(st.records_put) +
         ",\"bytes_put\":" + std::to_string(st.bytes_put) +
         ",\"bytes_behind\":" + std::to_string(st.bytes_behind) +
         ",\"rotations\":" + std::to_string(st.rotations) +
         ",\"truncations\":" + std::to_string(st.truncations) + ",\"files\":[";
    // Tailed files as last checkpointed, with what is left to read in each.
    CheckpointStore store(data_dir / "agent" / name, name);
    auto entries = store.Load();
    Sep file_sep;
    if (entries.ok()) {
      for (const FileCheckpoint& fc : *entries) {
        struct stat sb {};
        uint64_t size = ::stat(fc.path.c_str(), &sb) == 0 ? static_cast<uint64_t>(sb.st_size) : 0;
        uint64_t behind = size > fc.offset ? size - fc.offset : 0;
        m.Add("sluice_agent_file_bytes_behind", "Bytes of the file past its checkpoint.", "gauge",
              fl + "," + Label("path", fc.path), static_cast<double>(behind));
        j += std::string(file_sep()) + "{\"path\":\"" + JsonEscape(fc.path) +
             "\",\"offset\":" + std::to_string(fc.offset) + ",\"size\":" + std::to_string(size) +
             ",\"behind\":" + std::to_string(behind) + "}";
      }
    }
    j += "]}";
    bool source_ok = st.checkpoint_errors == 0 && st.put_errors == 0;
    health += std::string(health_sep()) + "\"source/" + JsonEscape(name) + "\":{\"status\":\"" +
              (source_ok ? "ok" : "errors") + "\"}";
  }

  // Deliveries.
  j += "],\"deliveries\":[";
  Sep delivery_sep;
  for (const auto& d : s.deliveries) {
    buffer::DeliveryStats st = d->stats();
    std::string stream_name, sink_type;
    for (const buffer::DeliveryOptions& o : s.config.deliveries) {
      if (o.name == d->name()) {
        stream_name = o.stream;
        sink_type = o.sink.type;
      }
    }
    std::string dl = Label("delivery_stream", d->name());
    double freshness =
        st.oldest_buffered_arrival_ms ? (now - st.oldest_buffered_arrival_ms) / 1e3 : 0;
    double success = st.attempts == 0
                         ? 1.0
                         : static_cast<double>(st.attempts - std::min(st.retries, st.attempts)) /
                               static_cast<double>(st.attempts);
    SinkProgress& p = s.sink_progress[d->name()];
    if (st.records_delivered > p.delivered) {
      p.failing = false;
    } else if (st.retries > p.retries) {
      p.failing = true;
    }
    p.retries = st.retries;
    p.delivered = st.records_delivered;
    if (st.records_spilled > p.spilled) p.last_spill_ms = now;
    p.spilled = st.records_spilled;
    bool spilling = p.last_spill_ms != 0 && now - p.last_spill_ms < kSpillingWindowMs;
    m.Add("sluice_delivery_incoming_records_total",
          "Records read from the source stream (Firehose DataReadFromKinesisStream.Records).",
          "counter", dl, static_cast<double>(st.records_in));
    m.Add("sluice_delivery_incoming_bytes_total",
          "Bytes read from the source stream (Firehose DataReadFromKinesisStream.Bytes).",
          "counter", dl, static_cast<double>(st.bytes_in));
    m.Add("sluice_delivery_records_total", "Records delivered to the sink (DeliveryTo*.Records).",
          "counter", dl, static_cast<double>(st.records_delivered));
    m.Add("sluice_delivery_bytes_total",
          "Record bytes delivered, before codecs (DeliveryTo*.Bytes).", "counter", dl,
          static_cast<double>(st.bytes_delivered));
    m.Add("sluice_delivery_sent_bytes_total", "Object bytes sent, after codecs.", "counter", dl,
          static_cast<double>(st.bytes_sent));
    m.Add("sluice_delivery_objects_total",
          "Objects (object sinks) or batches (record sinks) delivered (DeliveryToS3.ObjectCount).",
          "counter", dl, static_cast<double>(st.objects_delivered));
    m.Add("sluice_delivery_attempts_total", "Sink deliver calls.", "counter", dl,
          static_cast<double>(st.attempts));
    m.Add("sluice_delivery_retries_total", "Delivery attempts retried.", "counter", dl,
          static_cast<double>(st.retries));
    m.Add("sluice_delivery_success",
          "Share of sink deliver calls that succeeded (DeliveryTo*.Success).", "gauge", dl,
          success);
    m.Add("sluice_delivery_data_freshness_seconds",
          "Age of the oldest buffered record (DeliveryTo*.DataFreshness).", "gauge", dl, freshness);
    m.Add("sluice_delivery_spilled_records_total", "Records written to the error output.",
          "counter", dl, static_cast<double>(st.records_spilled));
    m.Add("sluice_delivery_spilled_objects_total", "Objects written to the error output.",
          "counter", dl, static_cast<double>(st.objects_spilled));
    m.Add("sluice_delivery_transform_dropped_records_total",
          "Records the transform answered Dropped.", "counter", dl,
          static_cast<double>(st.records_dropped));
    m.Add("sluice_delivery_replayed_batches_total", "Journal batches replayed after a restart.",
          "counter", dl, static_cast<double>(st.batches_replayed));
    m.Add("sluice_delivery_errors_total", "Broker read, checkpoint or error-output write failures.",
          "counter", dl, static_cast<double>(st.errors));
    m.Add("sluice_delivery_buffered_bytes", "Record bytes buffered now.", "gauge", dl,
          static_cast<double>(st.buffered_bytes));
    m.Add("sluice_delivery_sink_healthy", "1 unless the sink retries without delivering.", "gauge",
          dl, p.failing ? 0 : 1);
    for (const auto& [counter, value] : st.plugin_counters) {
      m.Add("sluice_delivery_plugin_counter", "Counters the sink plugin reports.", "counter",
            dl + "," + Label("counter", counter), static_cast<double>(value));
    }
    const char* sink_status = p.failing   ? "failing"
                              : spilling  ? "spilling"
                              : st.errors ? "errors"
                                          : "ok";
    if (p.failing) snap.healthy = false;
    if (spilling) snap.degraded = true;
    j += std::string(delivery_sep()) + "{\"name\":\"" + JsonEscape(d->name()) + "\",\"stream\":\"" +
         JsonEscape(stream_name) + "\",\"sink\":\"" + JsonEscape(sink_type) + "\",\"health\":\"" +
         sink_status + "\",\"records_in\":" + std::to_string(st.records_in) +
         ",\"records_delivered\":" + std::to_string(st.records_delivered) +
         ",\"bytes_delivered\":" + std::to_string(st.bytes_delivered) +
         ",\"objects_delivered\":" + std::to_string(st.objects_delivered) +
         ",\"records_spilled\":" + std::to_string(st.records_spilled) +
         ",\"retries\":" + std::to_string(st.retries) +
         ",\"buffered_bytes\":" + std::to_string(st.buffered_bytes) +
         ",\"data_freshness_s\":" + Num(freshness) + ",\"replay\":\"" +
         (d->replay_exactly_once() ? "exactly_once" : "at_least_once") + "\"" + LastError(st) + "}";
    health += std::string(health_sep()) + "\"delivery/" + JsonEscape(d->name()) +
              "\":{\"status\":\"" + sink_status + "\",\"sink\":\"" + JsonEscape(sink_type) +
              "\",\"retries\":" + std::to_string(st.retries) +
              ",\"records_spilled\":" + std::to_string(st.records_spilled) +
              ",\"data_freshness_s\":" + Num(freshness) + ",\"replay\":\"" +
              (d->replay_exactly_once() ? "exactly_once" : "at_least_once") + "\"" + LastError(st) +
              "}";
  }
  for (const auto& [name, error] : s.not_running) {
    // Named by the configuration but not running: its start failed at a reload.
    snap.healthy = false;
    health += std::string(health_sep()) + "\"delivery/" + JsonEscape(name) +
              "\":{\"status\":\"not running\",\"error\":\"" + JsonEscape(ValidUtf8(error)) + "\"}";
  }
  j += "]}";
  health += "}";
  snap.status_json = std::move(j);
  snap.health_detail = std::move(health);
  return snap;
}

}  // namespace sluice::agent
