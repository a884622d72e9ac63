// The `firehose` sink: puts records into an Amazon Data Firehose delivery stream (AWS, or another
// sluice's Firehose API with a Direct PUT delivery) with PutRecordBatch, as the Kinesis Agent's
// firehose flows do.
//
// A batch becomes one call per 500 records or 4 MiB. Firehose concatenates what it receives, so
// each record gets a newline unless `append_newline: false`. A record Firehose refuses alone
// (ServiceUnavailableException, InternalFailure) is retried alone with Firehose's back-off and
// jitter; a call that fails as a whole retries its records; a record over 1,000 KiB is rejected
// at once (the host spills it). Requests are signed with SigV4 (service `firehose`).
//
// THREADING: one FirehoseSink per host instance; Send is never re-entered.
#include <algorithm>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/json.h"
#include "plugins/common/aws_json.h"
#include "plugins/common/aws_json_options.h"
#include "plugins/common/batch_outcomes.h"
#include "plugins/common/sink_util.h"
#include "plugins/firehose/firehose_protocol.h"
#include "sluice_sink.hpp"

namespace sluice::firehose {
namespace {

const sluice_option_def kOptions[] = {
    {"delivery_stream", SLUICE_OPT_STRING, nullptr,
     "Name of the Firehose delivery stream the records are put into.", 1, nullptr},
    {"append_newline", SLUICE_OPT_BOOL, "true",
     "Append a newline to each record (Firehose concatenates the records it delivers).", 0,
     nullptr},
    {"calls_in_flight", SLUICE_OPT_INT, "4",
     "PutRecordBatch calls of one batch sent at once, 1..16 (each on its own connection, or "
     "multiplexed with http2); their records may reach the stream in another order than the "
     "batch's.",
     0, nullptr},
    SLUICE_AWS_JSON_OPTIONS,
    {nullptr, SLUICE_OPT_STRING, nullptr, nullptr, 0, nullptr},
};

class FirehoseSink final : public Sink {
 public:
  static sluice::Created<sluice::Sink> Create(const sluice::Options& opts, sluice::Host host) {
    using Made = sluice::Created<sluice::Sink>;
    auto s = std::make_unique<FirehoseSink>();
    s->host_ = host;
    s->stream_ = opts.Get("delivery_stream");
    if (s->stream_.empty()) return Made::Error("delivery_stream must not be empty");
    s->newline_ = opts.GetBool("append_newline", true);
    int64_t in_flight = opts.GetInt("calls_in_flight", 4);
    if (in_flight < 1 || in_flight > 16) {
      return Made::Error("calls_in_flight must be 1..16, not " + std::to_string(in_flight));
    }
    s->in_flight_ = static_cast<size_t>(in_flight);
    auto client = sink::AwsJsonClient::Create(sink::ReadAwsJsonConfig(opts, "firehose"));
    if (!client.ok()) return Made::Error(client.status().message());
    s->client_ = std::move(*client);
    s->rng_.seed(std::random_device{}());
    return s;
  }

  Outcome Send(const Batch& batch) override {
    sink::BatchOutcomes out(batch.size(), "Firehose",
                            [this, attempt = batch.attempt()] { return Backoff(attempt); });
    entries_.clear();
    size_t rejected = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      Record r = batch.record(i);
      if (Status why = CheckRecord(r.data, newline_); !why.ok()) {
        out.Reject(i, "Firehose.RecordRejected: record " + std::string(r.record_id) + " has " +
                          why.message());
        ++rejected;
        continue;
      }
      entries_.push_back({i, r.data});
    }
    if (rejected > 0) host_.Count("records_rejected", rejected);
    // Up to in_flight_ calls at once: when one is answered, the next starts in its slot.
    calls_ = PlanCalls(entries_, newline_);
    bodies_.resize(std::max(bodies_.size(), std::min(in_flight_, calls_.size())));
    slot_call_.assign(bodies_.size(), 0);
    size_t next = 0, in_flight = 0;
    auto apply = [&](const sink::CallRange call, const Result<sink::HttpResponse>& resp) {
      sink::AwsBatchAnswer a =
          resp.ok() ? ParsePutRecordBatchAnswer(resp->status, resp->body, call.count)
                    : ParsePutRecordBatchAnswer(0, {}, call.count, resp.status().message());
      if (!a.call_ok) host_.Count("requests_failed", 1);
      if (!a.call_ok && a.loud && sink::LoudAttempt(batch.attempt())) {
        host_.Log(SLUICE_LOG_ERROR, "PutRecordBatch to " + stream_ + " failed: " + a.error_code +
                                        ": " + a.error_message + "; retrying");
      }
      auto [put, failed] = out.Apply(a, call.count, [&](size_t j) {
        return std::span<const size_t>(&entries_[call.first + j].index, 1);
      });
      if (put > 0) host_.Count("records_put", put);
      if (failed > 0) host_.Count("records_failed", failed);
    };
    auto start_next = [&](size_t slot) {
      while (next < calls_.size()) {
        const sink::CallRange call = calls_[next];
        slot_call_[slot] = next++;
        bodies_[slot].clear();
        AppendPutRecordBatchBody(stream_, entries_, call, newline_, &bodies_[slot]);
        host_.Count("requests", 1);
        host_.Count("bytes_sent", bodies_[slot].size());
        Status st = client_->Start(slot, "Firehose_20150804.PutRecordBatch", bodies_[slot]);
        if (st.ok()) {
          ++in_flight;
          return;
        }
        apply(call, Result<sink::HttpResponse>(Unavailable(st.message())));
      }
    };
    for (size_t slot = 0; slot < bodies_.size(); ++slot) start_next(slot);
    while (in_flight > 0) {
      auto [slot, answer] = client_->Wait();
      --in_flight;
      if (slot >= bodies_.size()) break;  // not expected: Wait had nothing in flight
      apply(calls_[slot_call_[slot]], answer);
      start_next(slot);
    }
    return out.Finish();
  }

  bool Healthcheck(std::string* error) override {
    body_ = "{\"DeliveryStreamName\":";
    AppendJsonString(stream_, &body_);
    body_.push_back('}');
    return sink::HealthFromDescribe(
        client_->Call("Firehose_20150804.DescribeDeliveryStream", body_), "Firehose",
        client_->url(), "delivery stream " + stream_, error);
  }

 private:
  uint32_t Backoff(uint32_t attempt) { return sink::FirehoseBackoffMs(attempt, unit_(rng_)); }

  Host host_;
  std::string stream_;
  bool newline_ = true;
  std::unique_ptr<sink::AwsJsonClient> client_;
  std::vector<BatchEntry> entries_;
  size_t in_flight_ = 4;
  std::vector<sink::CallRange> calls_;
  std::vector<std::string> bodies_;  // of the call in each slot, reused
  std::vector<size_t> slot_call_;    // the call (index in calls_) in each slot
  std::string body_;
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> unit_{0.0, 1.0};
};

}  // namespace
}  // namespace sluice::firehose

// The delivery policy: records in batches of up to 4 MiB (one PutRecordBatch call; larger
// batches take several), sent within a second by default as the Kinesis Agent does; retries up to
// a day.
static constexpr sluice_delivery_policy kFirehosePolicy = sluice::MakePolicy(
    {1 << 10, 4 << 20, 64 << 20}, {0, 1000, 900000}, {300000, 86400000}, "firehose-failed");

SLUICE_EXPORT_SINK_WITH_POLICY(sluice::firehose::FirehoseSink, "firehose", SLUICE_KIND_RECORD_SINK,
                               0, sluice::firehose::kOptions, "1.0",
                               "Puts records into a Firehose delivery stream with PutRecordBatch "
                               "(AWS, or another sluice's Firehose API).",
                               &kFirehosePolicy)
