// The `splunk` sink: delivers records to Splunk's HTTP Event Collector, on the `raw` endpoint or
// the `event` endpoint (one JSON envelope per record), with `Authorization: Splunk <token>`, a
// request channel, optional gzip, and indexer acknowledgement: the ackId of each answer is
// polled on /services/collector/ack until it is true, and only then is the batch delivered
// (Splunk.AckTimeout after ack_timeout, then the host retries the batch, as Firehose does).
//
// THREADING: one SplunkSink per host instance (its own channel); Send is never re-entered. Send
// blocks for the acknowledgement, up to ack_timeout.
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "plugins/common/body_codec.h"
#include "plugins/common/http_client.h"
#include "plugins/common/sink_util.h"
#include "plugins/splunk/hec_encoder.h"
#include "plugins/splunk/splunk_options.h"
#include "sluice_sink.hpp"

namespace sluice::splunk_sink {
namespace {

class SplunkSink final : public Sink {
 public:
  static sluice::Created<sluice::Sink> Create(const sluice::Options& opts, sluice::Host host) {
    auto config = ParseConfig(opts);
    if (!config.ok()) {
      return sluice::Created<sluice::Sink>::Error(config.status().message());
    }
    auto client = sink::HttpClient::Create(config->http);
    if (!client.ok()) {
      return sluice::Created<sluice::Sink>::Error(client.status().message());
    }
    auto s = std::make_unique<SplunkSink>(std::move(*config));
    s->client_ = std::move(*client);
    s->host_ = host;
    return s;
  }

  explicit SplunkSink(Config config) : config_(std::move(config)), encoder_(config_.meta) {
    const Config& c = config_;
    url_ = c.base_url + (c.endpoint_type == EndpointType::kEvent
                             ? "/services/collector/event"
                             : "/services/collector/raw" + encoder_.RawQuery());
    ack_url_ = c.base_url + "/services/collector/ack?channel=" + c.channel;
  }

  Outcome Send(const Batch& batch) override {
    const Config& c = config_;
    body_.clear();
    if (c.endpoint_type == EndpointType::kRaw) {
      HecEncoder::AppendRaw(batch, &body_);
    } else if (c.event_envelope) {
      encoder_.AppendEvents(batch, &body_);
    } else {
      HecEncoder::AppendPreformatted(batch, &body_);
    }
    std::string_view body = body_;
    if (c.gzip) {
      Status st = gzip_.Compress(host_, body_, &compressed_);
      if (!st.ok()) return Outcome::Retry("Splunk.Gzip", st.message());
      body = compressed_;
    }
    sink::HttpRequest req;
    req.method = "POST";
    req.url = url_;
    req.body = body;
    req.headers =
        Headers(c.endpoint_type == EndpointType::kEvent ? "application/json" : "text/plain");
    if (c.gzip) req.headers.emplace_back("Content-Encoding", "gzip");
    int64_t posted = Clock::Real()->MonotonicMs();
    auto resp = client_->Send(req);
    host_.Count("requests", 1);
    host_.Count("bytes_sent", body.size());
    HecClassification cl = resp.ok()
                               ? ClassifyResponse(resp->status, resp->body,
                                                  sink::RetryAfterMs(resp->Header("retry-after")))
                               : ClassifyResponse(0, {}, 0, resp.status().message());
    bool log_now = sink::LoudAttempt(batch.attempt());
    if (cl.loud && log_now) Loud(cl.error_code, cl.error_message);
    if (cl.action == HecClassification::Action::kRetry) {
      return Outcome::Retry(cl.error_code, cl.error_message, cl.retry_after_ms);
    }
    if (cl.action == HecClassification::Action::kReject) {
      // HEC names the first event it refused; the ones after it were not read: retry them.
      if (c.endpoint_type == EndpointType::kEvent && cl.invalid_event >= 0 &&
          static_cast<size_t>(cl.invalid_event) < batch.size() && batch.size() > 1) {
        std::vector<RecordOutcome> out(
            batch.size(), RecordOutcome::Retry(cl.error_code + ": retried after "
                                                               "an invalid event in its request"));
        out[static_cast<size_t>(cl.invalid_event)] =
            RecordOutcome::Reject(cl.error_code + ": " + cl.error_message);
        host_.Count("events_rejected", 1);
        return Outcome::Partial(std::move(out));
      }
      host_.Count("events_rejected", batch.size());
      return Outcome::Reject(cl.error_code, cl.error_message);
    }
    if (!c.indexer_ack) {
      host_.Count("events_sent", batch.size());
      return Outcome::Ok();
    }
    if (cl.ack_id < 0) {
      std::string msg =
          "HEC answered without an ackId: enable indexer acknowledgement on the "
          "token, or set indexer_ack: false";
      if (log_now) Loud("Splunk.DisabledAck", msg);
      return Outcome::Retry("Splunk.DisabledAck", msg);
    }
    AckWaitResult ack = WaitForAck(
        cl.ack_id, posted, c.ack_timeout_ms, c.ack_poll_interval_ms,
        [] { return Clock::Real()->MonotonicMs(); },
        [](int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); },
        [this](int64_t id) { return QueryAck(id); });
    host_.Count("ack_queries", static_cast<uint64_t>(ack.polls));
    if (ack.state == AckWaitResult::State::kAcked) {
      host_.Count("events_sent", batch.size());
      return Outcome::Ok();
    }
    if (ack.loud && log_now) Loud(ack.error_code, ack.error_message);
    if (ack.state == AckWaitResult::State::kTimeout) host_.Count("ack_timeouts", 1);
    return Outcome::Retry(ack.error_code, ack.error_message);
  }

  bool Healthcheck(std::string* error) override {
    sink::HttpRequest req;
    req.method = "GET";
    req.url = config_.base_url + "/services/collector/health";
    req.headers = Headers(nullptr);
    auto resp = client_->Send(req);
    if (!resp.ok()) {
      *error = "HEC unreachable: " + resp.status().message();
      return false;
    }
    if (resp->status != 200) {
      *error =
          "HEC health answered " + std::to_string(resp->status) + ": " + resp->body.substr(0, 200);
      return false;
    }
    return true;
  }

 private:
  std::vector<sink::HttpHeader> Headers(const char* content_type) const {
    std::vector<sink::HttpHeader> h;
    h.emplace_back("Authorization", config_.auth_header);
    h.emplace_back("X-Splunk-Request-Channel", config_.channel);
    if (content_type) h.emplace_back("Content-Type", content_type);
    return h;
  }

  AckPoll QueryAck(int64_t id) {
    AckPoll poll;
    std::string body = AckQueryBody({id});
    sink::HttpRequest req;
    req.method = "POST";
    req.url = ack_url_;
    req.body = body;
    req.headers = Headers("application/json");
    auto resp = client_->Send(req);
    if (!resp.ok()) {
      poll.transport_error = resp.status().message();
      return poll;
    }
    poll.status = resp->status;
    poll.body = std::move(resp->body);
    return poll;
  }

  void Loud(const std::string& code, const std::string& message) {
    host_.Log(SLUICE_LOG_ERROR, "Splunk refuses the request (" + code + ": " + message +
                                    "); check token, channel and indexer acknowledgement; "
                                    "retrying");
  }

  Config config_;
  HecEncoder encoder_;
  std::string url_, ack_url_;
  std::unique_ptr<sink::HttpClient> client_;
  Host host_;
  sink::Gzipper gzip_;
  std::string body_, compressed_;
};

}  // namespace
}  // namespace sluice::splunk_sink

// The delivery policy: Firehose's Splunk destination: 1-5 MB (5), 0-60 s (60), retries 0-7200 s
// (300).
static constexpr sluice_delivery_policy kSplunkPolicy = sluice::MakePolicy(
    {1000000, 5000000, 5000000}, {0, 60000, 60000}, {300000, 7200000}, "splunk-failed");

SLUICE_EXPORT_SINK_WITH_POLICY(
    sluice::splunk_sink::SplunkSink, "splunk", SLUICE_KIND_RECORD_SINK, 0,
    sluice::splunk_sink::kOptions, "1.0",
    "Delivers records to Splunk's HTTP Event Collector (raw or event endpoint) "
    "with indexer acknowledgement, as Firehose's Splunk destination does.",
    &kSplunkPolicy)
