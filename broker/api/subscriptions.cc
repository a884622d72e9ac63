#include "broker/api/subscriptions.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>

#include "broker/api/cbor_transcode.h"
#include "broker/api/event_stream.h"
#include "broker/api/kinesis_call.h"
#include "core/base64.h"
#include "core/log.h"

namespace sluice::broker::api {

struct Subscriptions::Sub {
  Subscriptions* owner = nullptr;
  Key key;
  uv_timer_t timer;
  std::shared_ptr<http::HttpBodyWriter> writer;
  uint64_t offset = 0;
  int64_t started_ms = 0;
  int64_t last_event_ms = 0;
  bool finished = false;
  bool registered = false;  // in by_key_
  bool cbor = false;        // payloads in CBOR (the request was)
};

namespace {

// The payload as JSON, or converted to CBOR for a CBOR subscription. Every payload is JSON this
// file wrote, so the conversion does not fail; if it did, the JSON goes out as it is.
void SetPayload(std::string_view json, bool cbor, EventStreamMessage* m) {
  std::string_view type = "application/json";
  if (cbor && JsonToCbor(json, &m->payload).ok()) {
    type = kCborContentType;
  } else {
    m->payload.assign(json);
  }
  m->headers.emplace_back(":content-type", std::string(type));
}

std::string EventMessage(std::string_view event_type, std::string_view payload, bool cbor) {
  EventStreamMessage m;
  m.headers = {{":event-type", std::string(event_type)}, {":message-type", "event"}};
  SetPayload(payload, cbor, &m);
  std::string out;
  AppendEventStreamMessage(m, &out);
  return out;
}

std::string ExceptionMessage(std::string_view type, std::string_view message, bool cbor) {
  rapidjson::StringBuffer b;
  rapidjson::Writer<rapidjson::StringBuffer> w(b);
  w.StartObject();
  w.Key("message");
  w.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
  w.EndObject();
  EventStreamMessage m;
  m.headers = {{":exception-type", std::string(type)}, {":message-type", "exception"}};
  SetPayload(std::string_view(b.GetString(), b.GetSize()), cbor, &m);
  std::string out;
  AppendEventStreamMessage(m, &out);
  return out;
}

}  // namespace

Subscriptions::Subscriptions(uv_loop_t* loop, Broker* broker, const Clock* clock,
                             SubscriptionOptions options)
    : loop_(loop), broker_(broker), clock_(clock), options_(options) {}

Subscriptions::~Subscriptions() = default;

bool Subscriptions::Start(const SubscriptionStart& start, http::HttpResponse* response,
                          ApiReply* reply, bool cbor) {
  if (closing_) {
    reply->status = 500;
    reply->error_type = "InternalFailure";
    reply->body = R"({"__type":"InternalFailure","message":"The server is shutting down."})";
    return false;
  }
  int64_t now = clock_->MonotonicMs();
  Key key{start.stream, start.consumer, start.shard_index};
  // Kinesis refuses a subscription within 5 s of a successful one for the same consumer and
  // shard, whether or not that one is still open: remember recent starts, not only open ones.
  for (auto r = recent_starts_.begin(); r != recent_starts_.end();) {
    r = now - r->second >= options_.takeover_after_ms ? recent_starts_.erase(r) : std::next(r);
  }
  auto recent = recent_starts_.find(key);
  auto it = by_key_.find(key);
  if (recent != recent_starts_.end() ||
      (it != by_key_.end() && now - it->second->started_ms < options_.takeover_after_ms)) {
    reply->status = 400;
    reply->error_type = "ResourceInUseException";
    reply->body = R"({"__type":"ResourceInUseException","message":"Another active subscription )"
                  R"(for this consumer and shard started less than 5 seconds ago."})";
    return false;
  }
  if (it != by_key_.end()) {
    Sub* old = it->second;
    if (old->writer) {
      old->writer->Write(ExceptionMessage("ResourceInUseException",
                                          "A newer subscription took over this consumer and shard.",
                                          old->cbor));
    }
    Finish(old);
  }
  auto* sub = new Sub;
  sub->owner = this;
  sub->key = key;
  sub->offset = start.offset;
  sub->started_ms = now;
  sub->last_event_ms = now;
  sub->registered = true;
  sub->cbor = cbor;
  by_key_[key] = sub;
  recent_starts_[key] = now;
  uv_timer_init(loop_, &sub->timer);
  sub->timer.data = sub;
  open_timers_++;
  response->status = 200;
  response->headers.emplace_back("Content-Type", "application/vnd.amazon.eventstream");
  response->stream = [sub](std::shared_ptr<http::HttpBodyWriter> writer) {
    sub->writer = writer;
    writer->SetOnClose([sub] { sub->owner->Finish(sub); });
    writer->Write(EventMessage("initial-response", "{}", sub->cbor));
    if (sub->finished) return;
    uv_timer_start(
        &sub->timer,
        [](uv_timer_t* t) {
          auto* s = static_cast<Sub*>(t->data);
          s->owner->Tick(s);
        },
        0, sub->owner->options_.poll_interval_ms);
  };
  return true;
}

void Subscriptions::Tick(Sub* sub) {
  if (sub->finished || !sub->writer || !sub->writer->open()) {
    Finish(sub);
    return;
  }
  int64_t now = clock_->MonotonicMs();
  if (now - sub->started_ms >= options_.lifetime_ms) {
    Finish(sub);  // the client resubscribes with the last ContinuationSequenceNumber
    return;
  }
  if (sub->writer->pending_bytes() > options_.max_pending_bytes) return;
  Result<Stream*> stream = broker_->GetStream(std::get<0>(sub->key));
  std::vector<std::string> consumers;
  if (stream.ok()) consumers = (*stream)->ListConsumers();
  bool consumer_ok =
      std::find(consumers.begin(), consumers.end(), std::get<1>(sub->key)) != consumers.end();
  if (!stream.ok() || !consumer_ok) {
    sub->writer->Write(ExceptionMessage("ResourceNotFoundException",
                                        "The stream or consumer of this subscription is gone.",
                                        sub->cbor));
    Finish(sub);
    return;
  }
  ReadLimits limits;
  limits.max_bytes = options_.max_event_bytes;
  Status st = (*stream)->Read(std::get<2>(sub->key), sub->offset, limits, &batch_);
  if (!st.ok()) {
    if (st.code() == Code::kResourceExhausted) return;  // read limit: try on the next tick
    sub->writer->Write(ExceptionMessage("InternalFailureException", st.message(), sub->cbor));
    Finish(sub);
    return;
  }
  if (batch_.records.empty() && !batch_.shard_end &&
      now - sub->last_event_ms < options_.heartbeat_ms) {
    return;
  }
  SendEvent(sub, batch_.shard_end);
  sub->last_event_ms = now;
  if (batch_.shard_end) Finish(sub);
}

void Subscriptions::SendEvent(Sub* sub, bool shard_end) {
  Result<Stream*> stream = broker_->GetStream(std::get<0>(sub->key));
  Stream* s = *stream;
  uint32_t shard = std::get<2>(sub->key);
  rapidjson::StringBuffer b;
  rapidjson::Writer<rapidjson::StringBuffer> w(b);
  w.StartObject();
  const bool kms = s->options().encryption.enabled;  // as GetRecords marks records
  w.Key("Records");
  w.StartArray();
  SequenceText seq;
  for (const RecordView& r : batch_.records) {
    w.StartObject();
    w.Key("SequenceNumber");
    std::string_view sv = seq.Format(shard, r.offset);
    w.String(sv.data(), static_cast<rapidjson::SizeType>(sv.size()));
    w.Key("ApproximateArrivalTimestamp");
    WriteEpochSeconds(w, r.arrival_ms);
    scratch_.assign(1, '"');
    Base64Append(r.data, &scratch_);
    scratch_.push_back('"');
    w.Key("Data");
    w.RawValue(scratch_.data(), scratch_.size(), rapidjson::kStringType);
    w.Key("PartitionKey");
    w.String(r.partition_key.data(), static_cast<rapidjson::SizeType>(r.partition_key.size()));
    if (kms) {
      w.Key("EncryptionType");
      w.String("KMS");
    }
    w.EndObject();
  }
  w.EndArray();
  sub->offset = batch_.next_offset;
  // Resume point: AFTER_SEQUENCE_NUMBER of the last record delivered (or before the first).
  // A closed shard's last event has none (null), as AWS sends it: KCL takes that, with
  // ChildShards, as the shard's end.
  w.Key("ContinuationSequenceNumber");
  Result<ShardInfo> me = s->GetShard(shard);
  if (shard_end) {
    w.Null();
  } else {
    std::string cont;
    if (sub->offset > 0) {
      cont = SequenceNumber(shard, sub->offset - 1);
    } else {
      cont = me.ok() ? me->starting_sequence_number : SequenceNumber(shard, 0);
    }
    w.String(cont.c_str());
  }
  w.Key("MillisBehindLatest");
  w.Int64(batch_.millis_behind_latest);
  if (shard_end) {
    std::string parent = me.ok() ? me->shard_id : "";
    w.Key("ChildShards");
    w.StartArray();
    for (const ShardInfo& child : s->ListShards()) {
      if (child.parent_shard_id != parent && child.adjacent_parent_shard_id != parent) continue;
      w.StartObject();
      w.Key("ShardId");
      w.String(child.shard_id.c_str());
      w.Key("ParentShards");
      w.StartArray();
      if (child.parent_shard_id) w.String(child.parent_shard_id->c_str());
      if (child.adjacent_parent_shard_id) w.String(child.adjacent_parent_shard_id->c_str());
      w.EndArray();
      w.Key("HashKeyRange");
      w.StartObject();
      w.Key("StartingHashKey");
      w.String(HashKeyToString(child.starting_hash_key).c_str());
      w.Key("EndingHashKey");
      w.String(HashKeyToString(child.ending_hash_key).c_str());
      w.EndObject();
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
  sub->writer->Write(EventMessage("SubscribeToShardEvent",
                                  std::string_view(b.GetString(), b.GetSize()), sub->cbor));
}

void Subscriptions::Finish(Sub* sub) {
  if (sub->finished) return;
  sub->finished = true;
  if (sub->registered) {
    auto it = by_key_.find(sub->key);
    if (it != by_key_.end() && it->second == sub) by_key_.erase(it);
    sub->registered = false;
  }
  std::shared_ptr<http::HttpBodyWriter> writer = std::move(sub->writer);
  if (writer) {
    writer->SetOnClose(nullptr);
    writer->End();
  }
  uv_timer_stop(&sub->timer);
  uv_close(reinterpret_cast<uv_handle_t*>(&sub->timer), [](uv_handle_t* h) {
    auto* s = static_cast<Sub*>(h->data);
    Subscriptions* owner = s->owner;
    delete s;
    if (--owner->open_timers_ == 0 && owner->closing_ && owner->on_closed_) {
      auto cb = std::move(owner->on_closed_);
      owner->on_closed_ = nullptr;
      cb();
    }
  });
}

void Subscriptions::Close(std::function<void()> on_closed) {
  closing_ = true;
  std::vector<Sub*> all;
  for (auto& [k, s] : by_key_) all.push_back(s);
  for (Sub* s : all) Finish(s);
  if (open_timers_ == 0) {
    if (on_closed) on_closed();
    return;
  }
  on_closed_ = std::move(on_closed);
}

}  // namespace sluice::broker::api
