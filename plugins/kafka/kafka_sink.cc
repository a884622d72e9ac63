// The `kafka` sink: produces each record to a Kafka topic with librdkafka, as an idempotent
// producer (enable.idempotence=true, acks=all), so a record is delivered once per successful
// produce, in order per partition, and written by every in-sync replica before it counts.
//
// A batch: every record is produced (its key per the `key` option, its value the record's
// bytes), then the producer is polled until every record has its delivery report, or the
// deadline (message_timeout and a margin) passes. A record is OK only with a successful report;
// a report with a retriable error (timeouts, leaders moving, brokers down) retries the record,
// one the broker can never take (too large, invalid) rejects it by name and size; the host
// retries within retry_duration and then spills to the error output (`kafka-failed`).
//
// Delivery reports carry their record's batch index and the batch's generation in the message
// opaque; a late report of an earlier batch (one that passed its deadline) is ignored: that
// record was already answered RETRY, so it may be delivered twice, never lost.
//
// THREADING: one KafkaSink per host instance; Send is never re-entered. librdkafka's callbacks
// (delivery reports, errors, logs) are served only by rd_kafka_poll, called from Send, Healthcheck
// and the destructor, so they run on the thread that called them.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/clock.h"
#include "plugins/common/sink_util.h"
#include "plugins/kafka/kafka_config.h"
#include "sluice_sink.hpp"

namespace sluice::kafka {
namespace {

const sluice_option_def kOptions[] = {
    {"brokers", SLUICE_OPT_STRING, nullptr,
     "Bootstrap brokers, \"host:port,host:port\" (bootstrap.servers).", 1, nullptr},
    {"topic", SLUICE_OPT_STRING, nullptr, "Topic the records are produced to.", 1, nullptr},
    {"key", SLUICE_OPT_STRING, "source",
     "Key of each message: source (the record's partition key in the stream the delivery "
     "reads, so a key's records stay in one partition, in order), none, or field:<path> (a field "
     "of a JSON record, a.b.c; the source key when it is missing).",
     0, nullptr},
    {"compression", SLUICE_OPT_ENUM, "none", "Compression of message batches on the wire.", 0,
     "none|gzip|snappy|lz4|zstd"},
    {"properties", SLUICE_OPT_LIST, nullptr,
     "Extra librdkafka properties: a map (e.g. security.protocol, sasl.mechanism, "
     "sasl.username, sasl.password). enable.idempotence=false and acks other than all are "
     "refused; values of keys naming a password, secret or sasl are never logged.",
     0, nullptr},
    {"message_timeout", SLUICE_OPT_DURATION, "5m",
     "How long librdkafka tries to deliver a record before its report says it failed (and the "
     "host retries it); keep it below the delivery's call_timeout (10m by default).",
     0, nullptr},
    {"request_timeout", SLUICE_OPT_DURATION, "30s", "Timeout of one produce request to a broker.",
     0, nullptr},
    {nullptr, SLUICE_OPT_STRING, nullptr, nullptr, 0, nullptr},
};

// What the deadline of a batch adds to message_timeout: the reports of the last records.
constexpr int64_t kReportMarginMs = 10000;
constexpr int kHealthcheckTimeoutMs = 5000;

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
struct TopicDeleter {
  void operator()(rd_kafka_topic_t* rkt) const { rd_kafka_topic_destroy(rkt); }
};
using TopicHandle = std::unique_ptr<rd_kafka_topic_t, TopicDeleter>;

class KafkaSink final : public Sink {
 public:
  static sluice::Created<sluice::Sink> Create(const sluice::Options& opts, sluice::Host host) {
    using Made = sluice::Created<sluice::Sink>;
    auto s = std::make_unique<KafkaSink>();
    s->host_ = host;
    KafkaConfig& c = s->config_;
    c.brokers = opts.Get("brokers");
    c.topic = opts.Get("topic");
    if (c.brokers.empty()) return Made::Error("brokers: give at least one host:port");
    if (c.topic.empty()) return Made::Error("topic: give the topic to produce to");
    if (Status st = ParseKeyOption(opts.Get("key", "source"), &c.key_mode, &c.key_field);
        !st.ok()) {
      return Made::Error(st.message());
    }
    c.compression = opts.Get("compression", "none");
    c.message_timeout_ms = opts.GetDuration("message_timeout", std::chrono::minutes(5)).count();
    c.request_timeout_ms = opts.GetDuration("request_timeout", std::chrono::seconds(30)).count();
    if (c.message_timeout_ms < 1000) return Made::Error("message_timeout: at least 1s");
    if (c.request_timeout_ms < 1000) return Made::Error("request_timeout: at least 1s");
    auto props = sink::ParseMapOption(opts.Get("properties", "{}"));
    if (!props.ok()) return Made::Error("properties: " + props.status().message());
    for (const auto& [k, v] : *props) {
      if (Status st = CheckProperty(k, v); !st.ok()) return Made::Error(st.message());
    }
    c.properties = std::move(*props);
    if (Status st = s->Open(); !st.ok()) return Made::Error(st.message());
    std::string extra;
    for (const auto& [k, v] : c.properties) extra += " " + PropertyForLog(k, v);
    host.Log(SLUICE_LOG_INFO, "kafka: producing to topic " + c.topic + " at " + c.brokers +
                                  " (idempotent, acks=all, compression " + c.compression + ")" +
                                  (extra.empty() ? "" : "; properties:" + extra));
    s->rng_.seed(std::random_device{}());
    return s;
  }

  ~KafkaSink() override {
    if (!rk_) return;
    // Records still queued belong to batches already answered RETRY: they are sent again.
    rd_kafka_purge(rk_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(rk_.get(), 0);
  }

  Outcome Send(const Batch& batch) override {
    const size_t n = batch.size();
    ++generation_;
    reports_.assign(n, kPending);
    pending_ = 0;
    last_error_.clear();
    if (Outcome o; Fatal(batch.attempt(), &o)) return o;
    std::vector<RecordOutcome> outcomes(n);
    const int64_t deadline =
        Clock::Real()->MonotonicMs() + config_.message_timeout_ms + kReportMarginMs;
    size_t key_field_missing = 0;
    for (size_t i = 0; i < n; ++i) {
      if (i % 1024 == 1023) rd_kafka_poll(rk_.get(), 0);  // serve reports as the queue fills
      Record r = batch.record(i);
      bool has_key = false, fallback = false;
      std::string_view key = KeyOf(config_, r.data, SourceKey(r), &scratch_, &has_key, &fallback);
      key_field_missing += fallback ? 1 : 0;
      rd_kafka_resp_err_t err = Produce(i, r.data, key, has_key, deadline);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ++pending_;
        continue;
      }
      reports_[i] = err;  // refused by the producer itself (too large, unknown topic)
    }
    if (key_field_missing > 0) host_.Count("key_field_missing", key_field_missing);
    while (pending_ > 0) {
      int64_t left = deadline - Clock::Real()->MonotonicMs();
      if (left <= 0) break;
      rd_kafka_poll(rk_.get(), static_cast<int>(std::min<int64_t>(left, 100)));
    }
    if (pending_ > 0) {
      // No report in time (it cannot happen while message_timeout holds): drop what is still
      // queued, and retry whatever was not reported.
      rd_kafka_purge(rk_.get(), RD_KAFKA_PURGE_F_QUEUE);
      rd_kafka_poll(rk_.get(), 0);
    }
    size_t ok = 0, retry = 0, rejected = 0;
    uint64_t bytes = 0;
    const uint32_t after =
        sink::FirehoseBackoffMs(std::max<uint32_t>(batch.attempt(), 1), unit_(rng_));
    for (size_t i = 0; i < n; ++i) {
      Record r = batch.record(i);
      RecordOutcome& o = outcomes[i];
      if (reports_[i] == kPending) {
        o = RecordOutcome::Retry("Kafka.NoReport: no delivery report within " +
                                     std::to_string(config_.message_timeout_ms + kReportMarginMs) +
                                     " ms",
                                 after);
        ++retry;
        continue;
      }
      const auto err = static_cast<rd_kafka_resp_err_t>(reports_[i]);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ++ok;
        bytes += r.data.size();
        continue;
      }
      if (ClassifyDeliveryError(err) == Verdict::kReject) {
        o = RecordOutcome::Reject(RejectReason(r, err));
        ++rejected;
        continue;
      }
      o = RecordOutcome::Retry(
          std::string("Kafka.") + rd_kafka_err2name(err) + ": " + rd_kafka_err2str(err), after);
      ++retry;
    }
    if (ok > 0) host_.Count("records_sent", ok);
    if (bytes > 0) host_.Count("bytes_sent", bytes);
    if (ok < n) host_.Count("records_failed", n - ok);
    if (rejected > 0) host_.Count("records_rejected", rejected);
    if (ok == n) return Outcome::Ok();
    if (retry > 0 && sink::LoudAttempt(batch.attempt())) {
      host_.Log(SLUICE_LOG_WARN, "kafka: " + std::to_string(retry) + " of " + std::to_string(n) +
                                     " records to topic " + config_.topic +
                                     " not delivered; retrying: " + FirstRetryReason(outcomes) +
                                     (last_error_.empty() ? "" : "; last error " + last_error_));
    }
    if (retry == n) {
      std::string why = FirstRetryReason(outcomes);
      size_t colon = why.find(':');
      return Outcome::Retry(why.substr(0, colon),
                            colon == std::string::npos ? why : why.substr(colon + 2), after);
    }
    return Outcome::Partial(std::move(outcomes));
  }

  bool Healthcheck(std::string* error) override {
    if (!rk_) {
      *error = "no producer: the last attempt to make one after a fatal error failed";
      return false;
    }
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_.get(), config_.topic.c_str(), nullptr);
    if (!rkt) {
      *error = "topic " + config_.topic + ": " + rd_kafka_err2str(rd_kafka_last_error());
      return false;
    }
    const struct rd_kafka_metadata* md = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk_.get(), 0, rkt, &md, kHealthcheckTimeoutMs);
    rd_kafka_topic_destroy(rkt);
    bool healthy = false;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      *error = "kafka brokers " + config_.brokers + ": metadata: " + rd_kafka_err2str(err);
    } else if (md->topic_cnt < 1) {
      *error = "topic " + config_.topic + ": not in the metadata";
    } else if (md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      *error = "topic " + config_.topic + ": " + rd_kafka_err2str(md->topics[0].err);
    } else {
      healthy = true;
    }
    if (md) rd_kafka_metadata_destroy(md);
    rd_kafka_poll(rk_.get(), 0);
    return healthy;
  }

 private:
  // A report not arrived yet: no librdkafka error code uses it.
  // Not an rd_kafka_resp_err_t value (reports_ holds ints: an enum may not hold it).
  static constexpr int32_t kPending = INT32_MIN;

  // The record's key in the stream; a host before ABI 1.5 gives none: the record id
  // ("<shard>-<offset>") keeps the records of one source shard together.
  static std::string_view SourceKey(const Record& r) {
    return r.partition_key.empty() ? r.record_id : r.partition_key;
  }

  // The producer for config_ (idempotent, acks=all), or why librdkafka refuses it: a property it
  // does not take (InvalidArgument) or a producer it cannot make (Unavailable).
  Result<KafkaHandle> MakeProducer() {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    Status st;
    auto set = [&](const std::string& k, const std::string& v) {
      if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof(err)) == RD_KAFKA_CONF_OK) {
        return true;
      }
      st = InvalidArgument("kafka property " + k + ": " + err);
      return false;
    };
    bool ok = set("bootstrap.servers", config_.brokers) && set("client.id", "sluice") &&
              set("enable.idempotence", "true") && set("acks", "all") &&
              set("compression.codec", config_.compression) &&
              set("message.timeout.ms", std::to_string(config_.message_timeout_ms)) &&
              set("request.timeout.ms", std::to_string(config_.request_timeout_ms)) &&
              set("log.queue", "true");
    for (size_t i = 0; ok && i < config_.properties.size(); ++i) {
      ok = set(config_.properties[i].first, config_.properties[i].second);
    }
    if (!ok) {
      rd_kafka_conf_destroy(conf);
      return st;
    }
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_dr_msg_cb(conf, &KafkaSink::OnDelivery);
    rd_kafka_conf_set_error_cb(conf, &KafkaSink::OnError);
    rd_kafka_conf_set_log_cb(conf, &KafkaSink::OnLog);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {  // the conf is still ours
      rd_kafka_conf_destroy(conf);
      return Unavailable(std::string("kafka producer: ") + err);
    }
    rd_kafka_set_log_queue(rk, nullptr);  // logs are served by rd_kafka_poll, on our thread
    return KafkaHandle(rk);
  }

  // Makes the producer and the handle of its topic (held for every record: producing by topic
  // name looks the topic up, under a lock, for each record).
  Status Open() {
    Result<KafkaHandle> rk = MakeProducer();
    if (!rk.ok()) return rk.status();
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk->get(), config_.topic.c_str(), nullptr);
    if (!rkt) {
      return Unavailable("kafka topic " + config_.topic + ": " +
                         rd_kafka_err2str(rd_kafka_last_error()));
    }
    rk_ = std::move(*rk);
    rkt_.reset(rkt);
    return Status::Ok();
  }

  // Produces record `i`; waits for room while the local queue is full, until the deadline.
  rd_kafka_resp_err_t Produce(size_t i, std::string_view data, std::string_view key, bool has_key,
                              int64_t deadline) {
    void* opaque = reinterpret_cast<void*>((static_cast<uintptr_t>(generation_) << 32) | i);
    for (;;) {
      rd_kafka_resp_err_t err = rd_kafka_producev(
          rk_.get(), RD_KAFKA_V_RKT(rkt_.get()),
          RD_KAFKA_V_VALUE(const_cast<char*>(data.data()), data.size()),
          RD_KAFKA_V_KEY(has_key ? key.data() : nullptr, has_key ? key.size() : 0),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) return err;
      if (Clock::Real()->MonotonicMs() >= deadline) return err;  // still full
      rd_kafka_poll(rk_.get(), 50);
    }
  }

  // A fatal error of the idempotent producer (its sequence broken): it must be made again. True,
  // with the answer in *o, when this batch cannot be sent now.
  bool Fatal(uint32_t attempt, Outcome* o) {
    if (rk_) {
      char why[512];
      rd_kafka_resp_err_t err = rd_kafka_fatal_error(rk_.get(), why, sizeof(why));
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return false;
      host_.Log(SLUICE_LOG_ERROR, std::string("kafka: the idempotent producer failed (") +
                                      rd_kafka_err2name(err) + ": " + why + "); making a new one");
      rd_kafka_purge(rk_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      rkt_.reset();
      rk_.reset();
    }
    // No producer (a fatal error replaced it, or making the new one failed last time): make one.
    Status made = Open();
    if (made.ok()) return false;
    std::string error = made.message();
    host_.Log(SLUICE_LOG_ERROR, "kafka: " + error);
    *o = Outcome::Retry("Kafka.Producer", error, sink::FirehoseBackoffMs(attempt, unit_(rng_)));
    return true;
  }

  std::string RejectReason(const Record& r, rd_kafka_resp_err_t err) const {
    std::string what = std::string("Kafka.") + rd_kafka_err2name(err) + ": record " +
                       std::string(r.record_id) + " of " + std::to_string(r.data.size()) + " bytes";
    if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
      return what + " is too large for the topic or the producer (message.max.bytes)";
    }
    return what + " refused: " + rd_kafka_err2str(err);
  }

  static std::string FirstRetryReason(const std::vector<RecordOutcome>& outcomes) {
    for (const RecordOutcome& o : outcomes) {
      if (o.code == SLUICE_DELIVER_RETRY) return o.reason;
    }
    return "Kafka.Unknown: no reason";
  }

  static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<KafkaSink*>(opaque);
    auto tag = reinterpret_cast<uintptr_t>(m->_private);
    if ((tag >> 32) != (self->generation_ & 0xffffffffu)) return;  // an earlier batch's
    size_t i = tag & 0xffffffffu;
    if (i >= self->reports_.size() || self->reports_[i] != kPending) return;
    self->reports_[i] = m->err;
    --self->pending_;
  }

  static void OnError(rd_kafka_t*, int err, const char* reason, void* opaque) {
    auto* self = static_cast<KafkaSink*>(opaque);
    self->last_error_ =
        std::string(rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err))) + ": " + reason;
  }

  static void OnLog(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
    auto* self = static_cast<KafkaSink*>(rd_kafka_opaque(rk));
    if (level > 4) return;  // syslog levels: up to warning
    self->host_.Log(level <= 3 ? SLUICE_LOG_ERROR : SLUICE_LOG_WARN,
                    std::string("kafka: ") + fac + ": " + buf);
  }

  Host host_;
  KafkaConfig config_;
  uint32_t generation_ = 0;
  // The batch being sent: each record's report (kPending until it comes), how many to come.
  std::vector<int32_t> reports_;
  size_t pending_ = 0;
  std::string last_error_;
  std::string scratch_;
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> unit_{0.0, 1.0};
  KafkaHandle rk_;  // destroyed after its topic, before what its callbacks touch
  TopicHandle rkt_;
};

}  // namespace
}  // namespace sluice::kafka

// The delivery policy: batches of up to 1 MiB by default (many produce requests, pipelined by
// librdkafka), sent within a second; retries up to a day.
static constexpr sluice_delivery_policy kKafkaPolicy = sluice::MakePolicy(
    {1 << 10, 1 << 20, 64 << 20}, {0, 1000, 900000}, {300000, 86400000}, "kafka-failed");

SLUICE_EXPORT_SINK_WITH_POLICY(sluice::kafka::KafkaSink, "kafka", SLUICE_KIND_RECORD_SINK, 0,
                               sluice::kafka::kOptions, "1.0",
                               "Produces records to a Kafka topic with librdkafka (idempotent, "
                               "acks=all), each keyed by its partition key.",
                               &kKafkaPolicy)
