// The `kinesis` sink: puts records into a Kinesis data stream (AWS, another sluice's Kinesis API,
// kinesalite) with PutRecords, as the Kinesis Agent does.
//
// A batch becomes one call per 500 records or 5 MiB. Each record keeps a partition key: its key
// in the stream the delivery reads (`source`, so the records of one key stay in order), a random
// one, or a field of the JSON record. A record the service refuses alone
// (ProvisionedThroughputExceededException, InternalFailure) is retried alone, with Firehose's
// back-off and jitter; a call that fails as a whole retries its records. A record over 1 MiB with
// its key, or with a key Kinesis cannot take, is rejected at once (the host spills it). Requests
// are signed with SigV4 (service `kinesis`) with the AWS credentials chain of the s3 sink.
//
// THREADING: one KinesisSink per host instance; Send is never re-entered.
#include <algorithm>
#include <chrono>
#include <deque>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/hash_key.h"
#include "core/json.h"
#include "plugins/common/aws_json.h"
#include "plugins/common/aws_json_options.h"
#include "plugins/common/batch_outcomes.h"
#include "plugins/common/sink_util.h"
#include "plugins/kinesis/kinesis_protocol.h"
#include "plugins/kinesis/kpl.h"
#include "sluice_sink.hpp"

namespace sluice::kinesis {
namespace {

const sluice_option_def kOptions[] = {
    {"stream", SLUICE_OPT_STRING, nullptr,
     "Name of the Kinesis data stream the records are put into (or stream_arn).", 0, nullptr},
    {"stream_arn", SLUICE_OPT_STRING, nullptr,
     "ARN of the stream, instead of stream (the region in it is not used to sign: see region).", 0,
     nullptr},
    {"partition_key", SLUICE_OPT_STRING, "source",
     "Partition key of each record: source (its key in the stream the delivery reads), random, "
     "or field:<path> (a field of a JSON record, a.b.c; the source key when it is missing).",
     0, nullptr},
    {"aggregation", SLUICE_OPT_ENUM, "none",
     "none: one Kinesis record per record; kpl: records packed into KPL aggregated records of up "
     "to 1 MiB per shard (KCL, Firehose and aws-kinesis-agg de-aggregate them); needs "
     "kinesis:ListShards.",
     0, "none|kpl"},
    {"calls_in_flight", SLUICE_OPT_INT, "4",
     "PutRecords calls of one batch sent at once, 1..16 (each on its own connection, or "
     "multiplexed with http2). The records of one partition key (of one shard, with kpl) stay "
     "in calls one after another, in order.",
     0, nullptr},
    SLUICE_AWS_JSON_OPTIONS,
    {nullptr, SLUICE_OPT_STRING, nullptr, nullptr, 0, nullptr},
};

enum class KeyMode { kSource, kRandom, kField };

class KinesisSink final : public Sink {
 public:
  static sluice::Created<sluice::Sink> Create(const sluice::Options& opts, sluice::Host host) {
    using Made = sluice::Created<sluice::Sink>;
    auto s = std::make_unique<KinesisSink>();
    s->host_ = host;
    s->stream_ = opts.Get("stream");
    s->stream_arn_ = opts.Get("stream_arn");
    if (s->stream_.empty() == s->stream_arn_.empty()) {
      return Made::Error("give one of stream and stream_arn");
    }
    std::string key = opts.Get("partition_key", "source");
    if (key == "source") {
      s->key_mode_ = KeyMode::kSource;
    } else if (key == "random") {
      s->key_mode_ = KeyMode::kRandom;
    } else if (key.rfind("field:", 0) == 0 && key.size() > 6) {
      s->key_mode_ = KeyMode::kField;
      s->key_field_ = key.substr(6);
    } else {
      return Made::Error("partition_key must be source, random or field:<path>, not \"" + key +
                         "\"");
    }
    s->kpl_ = opts.Get("aggregation", "none") == "kpl";
    int64_t in_flight = opts.GetInt("calls_in_flight", 4);
    if (in_flight < 1 || in_flight > 16) {
      return Made::Error("calls_in_flight must be 1..16, not " + std::to_string(in_flight));
    }
    s->lanes_.resize(static_cast<size_t>(in_flight));
    sink::AwsJsonConfig aws = sink::ReadAwsJsonConfig(opts, "kinesis");
    auto client = sink::AwsJsonClient::Create(aws);
    if (!client.ok()) return Made::Error(client.status().message());
    s->client_ = std::move(*client);
    s->rng_.seed(std::random_device{}());
    return s;
  }

  Outcome Send(const Batch& batch) override {
    const size_t n = batch.size();
    sink::BatchOutcomes out(n, "Kinesis",
                            [this, attempt = batch.attempt()] { return Backoff(attempt); });
    records_.clear();
    keys_.resize(n);
    size_t rejected = 0;
    for (size_t i = 0; i < n; ++i) {
      Record r = batch.record(i);
      std::string_view key = KeyOf(r, &keys_[i]);
      if (Status why = CheckRecord(r.data, key); !why.ok()) {
        out.Reject(i, "Kinesis.RecordRejected: record " + std::string(r.record_id) + " has " +
                          why.message());
        ++rejected;
        continue;
      }
      records_.push_back({i, r.data, key});
    }
    if (rejected > 0) host_.Count("records_rejected", rejected);
    if (key_field_missing_ > 0) host_.Count("key_field_missing", key_field_missing_);
    key_field_missing_ = 0;
    // What is put: the records themselves, or (aggregation: kpl) aggregates of them. A unit's
    // members are the batch indices its answer applies to.
    if (Status st = Units(batch.attempt()); !st.ok()) {
      indices_.clear();
      for (const PutEntry& e : records_) indices_.push_back(e.index);
      out.RetryAll(indices_, "Kinesis.ListShards", st.message());
    }
    // Lanes: a lane's units go in calls one after another; the lanes' calls go at once. A key
    // (with kpl, a shard) always takes the same lane.
    for (Lane& lane : lanes_) {
      lane.entries.clear();
      lane.units.clear();
      lane.next = 0;
    }
    for (size_t u = 0; u < units_.size(); ++u) {
      Lane& lane = lanes_[LaneOf(u)];
      lane.entries.push_back(units_[u]);
      lane.units.push_back(u);
    }
    for (Lane& lane : lanes_) lane.calls = PlanCalls(lane.entries);
    // Each lane has at most one call in flight (in the client's slot of its index); when it is
    // answered, the lane's next call starts at once.
    size_t in_flight = 0;
    auto apply = [&](Lane& lane, const CallRange call, const Result<sink::HttpResponse>& resp) {
      PutRecordsAnswer a = Answer(resp, call.count);
      if (!a.call_ok && a.loud && sink::LoudAttempt(batch.attempt())) {
        host_.Log(SLUICE_LOG_ERROR, "PutRecords to " + Target() + " failed: " + a.error_code +
                                        ": " + a.error_message + "; retrying");
      }
      auto [put, failed] = out.Apply(a, call.count, [&](size_t j) {
        const auto [first, count] = members_of_[lane.units[call.first + j]];
        return std::span<const size_t>(members_.data() + first, count);
      });
      if (put > 0) host_.Count("records_put", put);
      if (failed > 0) host_.Count("records_failed", failed);
    };
    auto start_next = [&](size_t l) {
      Lane& lane = lanes_[l];
      while (lane.next < lane.calls.size()) {
        const CallRange call = lane.calls[lane.next++];
        lane.body.clear();
        AppendPutRecordsBody(stream_, stream_arn_, lane.entries, call, &lane.body);
        host_.Count("requests", 1);
        host_.Count("bytes_sent", lane.body.size());
        Status st = client_->Start(l, "Kinesis_20131202.PutRecords", lane.body);
        if (st.ok()) {
          ++in_flight;
          return;
        }
        apply(lane, call, Result<sink::HttpResponse>(Unavailable(st.message())));
      }
    };
    for (size_t l = 0; l < lanes_.size(); ++l) start_next(l);
    while (in_flight > 0) {
      auto [slot, answer] = client_->Wait();
      --in_flight;
      if (slot >= lanes_.size()) break;  // not expected: Wait had nothing in flight
      Lane& lane = lanes_[slot];
      apply(lane, lane.calls[lane.next - 1], answer);
      start_next(slot);
    }
    return out.Finish();
  }

  bool Healthcheck(std::string* error) override {
    body_ = stream_arn_.empty() ? "{\"StreamName\":" : "{\"StreamARN\":";
    AppendJsonString(stream_arn_.empty() ? stream_ : stream_arn_, &body_);
    body_.push_back('}');
    return sink::HealthFromDescribe(Call("Kinesis_20131202.DescribeStreamSummary"), "Kinesis",
                                    client_->url(), "stream " + Target(), error);
  }

 private:
  std::string Target() const { return stream_arn_.empty() ? stream_ : stream_arn_; }

  // The record's partition key; `scratch` holds it when it is made here.
  std::string_view KeyOf(const Record& r, std::string* scratch) {
    switch (key_mode_) {
      case KeyMode::kRandom: {
        static const char kHex[] = "0123456789abcdef";
        uint64_t a = rng_(), b = rng_();
        scratch->resize(32);
        for (int i = 0; i < 16; ++i) {
          (*scratch)[i] = kHex[(a >> (i * 4)) & 15];
          (*scratch)[16 + i] = kHex[(b >> (i * 4)) & 15];
        }
        return *scratch;
      }
      case KeyMode::kField:
        if (sink::JsonFieldText(r.data, key_field_, scratch) && !scratch->empty()) return *scratch;
        ++key_field_missing_;
        [[fallthrough]];
      case KeyMode::kSource:
        // A stream record always has a key; a host before ABI 1.5 gives none: the record id
        // ("<shard>-<offset>") keeps records of one source shard together.
        return r.partition_key.empty() ? r.record_id : r.partition_key;
    }
    return r.record_id;
  }

  uint32_t Backoff(uint32_t attempt) { return sink::FirehoseBackoffMs(attempt, unit_(rng_)); }

  // Fills units_, members_ and members_of_ from records_. An error (the records retry as
  // Kinesis.ListShards) when aggregation needs the stream's shards and cannot have them.
  Status Units(uint32_t attempt) {
    units_.clear();
    members_.clear();
    members_of_.clear();
    aggregates_.clear();
    if (!kpl_) {
      for (const PutEntry& e : records_) {
        members_of_.emplace_back(members_.size(), 1);
        members_.push_back(e.index);
        units_.push_back(e);
      }
      return Status::Ok();
    }
    if (records_.empty()) return Status::Ok();
    if (Status st = RefreshShards(); !st.ok()) {
      if (sink::LoudAttempt(attempt)) {
        host_.Log(SLUICE_LOG_ERROR, "aggregation: cannot list the shards of " + Target() + ": " +
                                        st.message() + "; retrying");
      }
      return st;
    }
    // Records of one shard go in that shard's aggregates, in order, so the records of a key stay
    // in order wherever the shard map has moved since: every aggregate of a group carries the
    // same explicit hash key.
    by_shard_.assign(shards_.size(), {});
    for (size_t k = 0; k < records_.size(); ++k) {
      by_shard_[ShardOf(HashKeyOf(records_[k].key))].push_back(k);
    }
    for (size_t s = 0; s < shards_.size(); ++s) {
      KplAggregator& agg = aggregator_;
      agg.Clear();
      size_t first_member = members_.size();
      std::string_view outer_key;
      auto flush = [&] {
        if (agg.empty()) return;
        aggregates_.emplace_back();
        agg.Finish(&aggregates_.back());
        members_of_.emplace_back(first_member, members_.size() - first_member);
        units_.push_back({units_.size(), aggregates_.back(), outer_key, shards_[s].start_text});
        agg.Clear();
        first_member = members_.size();
      };
      for (size_t k : by_shard_[s]) {
        const PutEntry& e = records_[k];
        std::string_view key = agg.empty() ? e.key : outer_key;
        if (!agg.empty() && agg.SizeWith(e.key, e.data) + key.size() > kMaxRecordBytes) flush();
        if (agg.empty()) outer_key = e.key;
        if (agg.SizeWith(e.key, e.data) + outer_key.size() > kMaxRecordBytes) {
          // Too large to aggregate even alone: put as it is, in its place in the order.
          members_of_.emplace_back(members_.size(), 1);
          members_.push_back(e.index);
          units_.push_back({units_.size(), e.data, e.key, shards_[s].start_text});
          first_member = members_.size();
          continue;
        }
        agg.Add(e.key, e.data);
        members_.push_back(e.index);
      }
      flush();
    }
    return Status::Ok();
  }

  size_t ShardOf(unsigned __int128 hash) const {
    size_t lo = 0, hi = shards_.size();
    while (hi - lo > 1) {  // the last shard starting at or before `hash`
      size_t mid = (lo + hi) / 2;
      (shards_[mid].start <= hash ? lo : hi) = mid;
    }
    return lo;
  }

  // The stream's open shards, listed again after a minute (a reshard moves the ranges).
  Status RefreshShards() {
    int64_t now = Clock::Real()->MonotonicMs();
    if (!shards_.empty() && now - shards_at_ms_ < 60000) return Status::Ok();
    std::vector<ShardRange> shards;
    std::string token;
    do {
      body_ = "{";
      if (!token.empty()) {
        body_ += "\"NextToken\":";
        AppendJsonString(token, &body_);
      } else {
        body_ += stream_arn_.empty() ? "\"StreamName\":" : "\"StreamARN\":";
        AppendJsonString(stream_arn_.empty() ? stream_ : stream_arn_, &body_);
      }
      body_ += "}";
      auto resp = Call("Kinesis_20131202.ListShards");
      if (!resp.ok()) return resp.status();
      if (resp->status != 200) {
        sink::AwsBatchAnswer a = sink::ParseAwsError(resp->status, resp->body, "Kinesis");
        return Unavailable(a.error_code + ": " + a.error_message);
      }
      token.clear();
      if (!ParseListShards(resp->body, &shards, &token)) {
        return Unavailable("ListShards answered what is not a shard list");
      }
    } while (!token.empty());
    if (shards.empty()) return Unavailable("the stream has no open shard");
    std::sort(shards.begin(), shards.end(),
              [](const ShardRange& x, const ShardRange& y) { return x.start < y.start; });
    shards_ = std::move(shards);
    shards_at_ms_ = now;
    return Status::Ok();
  }

  Result<sink::HttpResponse> Call(const char* target) {
    host_.Count("requests", 1);
    host_.Count("bytes_sent", body_.size());
    return client_->Call(target, body_);
  }

  // What the answer to a PutRecords call of `expected` records says.
  PutRecordsAnswer Answer(const Result<sink::HttpResponse>& resp, size_t expected) {
    if (!resp.ok()) {
      PutRecordsAnswer a;
      a.error_code = "Kinesis.Transport";
      a.error_message = resp.status().message();
      host_.Count("requests_failed", 1);
      return a;
    }
    PutRecordsAnswer a = ParsePutRecordsAnswer(resp->status, resp->body, expected);
    if (!a.call_ok) host_.Count("requests_failed", 1);
    return a;
  }

  // The lane of unit u: by its shard with kpl (every unit carries its shard's start as explicit
  // hash key), else by its partition key.
  size_t LaneOf(size_t u) const {
    if (lanes_.size() == 1) return 0;
    const PutEntry& e = units_[u];
    return std::hash<std::string_view>{}(kpl_ ? e.explicit_hash_key : e.key) % lanes_.size();
  }

  Host host_;
  std::string stream_, stream_arn_;
  KeyMode key_mode_ = KeyMode::kSource;
  std::string key_field_;
  std::unique_ptr<sink::AwsJsonClient> client_;
  bool kpl_ = false;
  std::vector<ShardRange> shards_;
  int64_t shards_at_ms_ = 0;
  // Scratch of Send, reused: the records that can be put, what is put (records or aggregates),
  // each unit's members (batch indices) and the aggregates' bytes.
  std::vector<PutEntry> records_, units_;
  std::vector<size_t> members_, indices_;
  std::vector<std::pair<size_t, size_t>> members_of_;  // per unit: first, count in members_
  std::deque<std::string> aggregates_;                 // stable addresses for units_' views
  std::vector<std::vector<size_t>> by_shard_;
  KplAggregator aggregator_;
  std::vector<std::string> keys_;
  std::string body_;
  size_t key_field_missing_ = 0;  // records of this batch whose key field is missing
  // The calls of one lane: its units (as entries, and as indices in units_), their calls and
  // the next to send; the body of the one in flight.
  struct Lane {
    std::vector<PutEntry> entries;
    std::vector<size_t> units;
    std::vector<CallRange> calls;
    size_t next = 0;
    std::string body;
  };
  std::vector<Lane> lanes_;
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> unit_{0.0, 1.0};
};

}  // namespace
}  // namespace sluice::kinesis

// The delivery policy: records in batches of up to 5 MiB (one to ten PutRecords calls), sent
// within a second by default as the Kinesis Agent does; retries up to a day.
static constexpr sluice_delivery_policy kKinesisPolicy = sluice::MakePolicy(
    {1 << 10, 5 << 20, 64 << 20}, {0, 1000, 900000}, {300000, 86400000}, "kinesis-failed");

SLUICE_EXPORT_SINK_WITH_POLICY(sluice::kinesis::KinesisSink, "kinesis", SLUICE_KIND_RECORD_SINK, 0,
                               sluice::kinesis::kOptions, "1.0",
                               "Puts records into a Kinesis data stream with PutRecords (AWS, "
                               "another sluice, kinesalite), each with a partition key.",
                               &kKinesisPolicy)
