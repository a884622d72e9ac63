// The `http` sink: delivers records to an HTTP endpoint, either with Firehose's HTTP endpoint
// delivery protocol (mode: firehose) or as plain NDJSON / JSON-array POSTs (mode: raw).
//
// A batch becomes one request per chunk (Firehose's 10,000 records and 64 MiB per request). The
// Firehose request id of a chunk is derived from the batch id, so a retry carries the same id.
// A retried chunk answers with Firehose's back-off (1 s doubling, +/-15%, capped at 120 s) as the
// outcome's retry-after; the host enforces retry_duration and spills as http-endpoint-failed.
//
// THREADING: one HttpSink per host instance; Send is never re-entered.
#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/clock.h"
#include "plugins/common/body_codec.h"
#include "plugins/common/http_client.h"
#include "plugins/common/sink_util.h"
#include "plugins/http/http_options.h"
#include "plugins/http/http_protocol.h"
#include "sluice_sink.hpp"

namespace sluice::http_sink {
namespace {

class HttpSink final : public Sink {
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
    auto s = std::make_unique<HttpSink>();
    s->config_ = std::move(*config);
    s->client_ = std::move(*client);
    s->host_ = host;
    s->rng_.seed(std::random_device{}());
    return s;
  }

  Outcome Send(const Batch& batch) override {
    const Config& c = config_;
    std::vector<Chunk> chunks = PlanChunks(batch, c.mode, c.max_records, c.max_body);
    std::vector<RecordOutcome> per_record(batch.size());
    size_t ok = 0, retry = 0, reject = 0;
    Outcome whole;
    for (const Chunk& chunk : chunks) {
      Classification cl = SendChunk(batch, chunk);
      RecordOutcome o;
      if (cl.action == Classification::Action::kOk) {
        ok += chunk.count;
        host_.Count("records_sent", chunk.count);
      } else {
        if (cl.loud && (sink::LoudAttempt(batch.attempt()))) {
          host_.Log(SLUICE_LOG_ERROR, "the endpoint refuses our credentials (" + cl.error_code +
                                          "); check access_key / auth; retrying");
        }
        o.code = cl.action == Classification::Action::kRetry ? SLUICE_DELIVER_RETRY
                                                             : SLUICE_DELIVER_REJECT;
        o.retry_after_ms = cl.retry_after_ms;
        o.reason = cl.error_code + ": " + cl.error_message;
        (o.code == SLUICE_DELIVER_RETRY ? retry : reject) += chunk.count;
        whole.error_code = cl.error_code;
        whole.error_message = cl.error_message;
        whole.retry_after_ms = std::max(whole.retry_after_ms, cl.retry_after_ms);
      }
      for (size_t i = chunk.first; i < chunk.first + chunk.count; ++i) per_record[i] = o;
    }
    if (ok == batch.size()) return Outcome::Ok();
    if (retry == batch.size()) {
      whole.code = SLUICE_DELIVER_RETRY;
      return whole;
    }
    if (reject == batch.size()) {
      whole.code = SLUICE_DELIVER_REJECT;
      whole.retry_after_ms = 0;
      return whole;
    }
    return Outcome::Partial(std::move(per_record));
  }

  bool Healthcheck(std::string* error) override {
    sink::HttpRequest req;
    req.method = "HEAD";
    req.url = config_.url;
    req.headers = config_.raw_headers;
    auto resp = client_->Send(req);
    if (!resp.ok()) {
      *error = "endpoint unreachable: " + resp.status().message();
      return false;
    }
    if (resp->status == 401 || resp->status == 403) {
      *error = "endpoint refuses our credentials: HTTP " + std::to_string(resp->status);
      return false;
    }
    return true;
  }

 private:
  Classification SendChunk(const Batch& batch, const Chunk& chunk) {
    const Config& c = config_;
    sink::HttpRequest req;
    req.method = "POST";
    req.url = c.url;
    std::string request_id;
    body_.clear();
    if (c.mode == Mode::kFirehose) {
      request_id = RequestIdFor(batch, chunk);
      AppendFirehoseBody(request_id, Clock::Real()->NowMs(), batch, chunk, &body_);
      req.headers.emplace_back("X-Amz-Firehose-Protocol-Version", "1.0");
      req.headers.emplace_back("X-Amz-Firehose-Request-Id", request_id);
      req.headers.emplace_back("X-Amz-Firehose-Source-Arn", c.source_arn);
      if (!c.access_key.empty())
        req.headers.emplace_back("X-Amz-Firehose-Access-Key", c.access_key);
      req.headers.emplace_back("X-Amz-Firehose-Common-Attributes", c.common_attributes_json);
      req.headers.emplace_back("Content-Type", "application/json");
    } else {
      AppendRawBody(c.raw_format, batch, chunk, &body_);
      req.headers.emplace_back("Content-Type", c.raw_format == RawFormat::kNdjson
                                                   ? "application/x-ndjson"
                                                   : "application/json");
    }
    for (const auto& h : c.raw_headers) req.headers.push_back(h);
    std::string_view body = body_;
    if (c.gzip) {
      Status st = gzip_.Compress(host_, body_, &compressed_);
      if (!st.ok()) {
        Classification cl;
        cl.action = Classification::Action::kRetry;
        cl.error_code = "Http.Gzip";
        cl.error_message = st.message();
        return cl;
      }
      body = compressed_;
      req.headers.emplace_back("Content-Encoding", "gzip");
    }
    req.body = body;
    auto resp = client_->Send(req);
    host_.Count("requests", 1);
    host_.Count("bytes_sent", body.size());
    long status = resp.ok() ? resp->status : 0;
    std::string transport = resp.ok() ? std::string() : resp.status().message();
    Classification cl;
    if (c.mode == Mode::kFirehose) {
      cl = ClassifyResponse(status, resp.ok() ? std::string_view(resp->body) : std::string_view(),
                            request_id, transport);
      if (cl.action == Classification::Action::kRetry) {
        cl.retry_after_ms = sink::FirehoseBackoffMs(batch.attempt(), unit_(rng_));
      }
    } else {
      uint32_t after = resp.ok() ? sink::RetryAfterMs(resp->Header("retry-after")) : 0;
      cl = ClassifyRawResponse(
          status, resp.ok() ? std::string_view(resp->body) : std::string_view(), after, transport);
    }
    if (cl.action != Classification::Action::kOk) host_.Count("requests_failed", 1);
    return cl;
  }

  Config config_;
  std::unique_ptr<sink::HttpClient> client_;
  Host host_;
  sink::Gzipper gzip_;
  std::string body_, compressed_;
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> unit_{0.0, 1.0};
};

}  // namespace
}  // namespace sluice::http_sink

// The delivery policy: Firehose's HTTP endpoint destination: 1-64 MiB (5), 0-900 s (300), retries
// 0-7200 s (300).
static constexpr sluice_delivery_policy kHttpPolicy = sluice::MakePolicy(
    {1 << 20, 5 << 20, 64 << 20}, {0, 300000, 900000}, {300000, 7200000}, "http-endpoint-failed");

SLUICE_EXPORT_SINK_WITH_POLICY(
    sluice::http_sink::HttpSink, "http", SLUICE_KIND_RECORD_SINK, 0, sluice::http_sink::kOptions,
    "1.0",
    "Delivers records to an HTTP endpoint with Firehose's HTTP endpoint delivery "
    "protocol, or as NDJSON / JSON-array POSTs (mode: raw).",
    &kHttpPolicy)
