// SubscribeToShard: live enhanced fan-out subscriptions streamed as AWS event-stream messages
// over a streamed HTTP response (HTTP/2 for the SDKs).
//
// A subscription first sends an "initial-response" event, then polls its shard on a loop timer
// and sends a SubscribeToShardEvent whenever records arrive (and at least every 5 s, so the
// ContinuationSequenceNumber advances), stopping at shard end (with ChildShards) or after
// 5 minutes, as Kinesis does. A second subscription of the same consumer and shard within 5 s is
// refused with ResourceInUseException; a later one takes over and ends the old one. A slow
// reader is not read ahead of: while more than `max_pending_bytes` wait to be sent, the shard is
// not read.
//
// THREADING: loop thread only. OWNERSHIP: the loop and the broker must outlive this object;
// destroy it only after Close()'s callback has run.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "broker/api/kinesis_api.h"
#include "broker/broker.h"
#include "core/clock.h"
#include "core/http/http_server.h"

namespace sluice::broker::api {

struct SubscriptionOptions {
  uint64_t poll_interval_ms = 100;
  int64_t heartbeat_ms = 5000;
  int64_t lifetime_ms = 5 * 60 * 1000;
  int64_t takeover_after_ms = 5000;
  size_t max_pending_bytes = 8 << 20;
  size_t max_event_bytes = 2 << 20;  // records per event, as Kinesis's 2 MiB/s per consumer
};

class Subscriptions final {
 public:
  Subscriptions(uv_loop_t* loop, Broker* broker, const Clock* clock, SubscriptionOptions options);
  ~Subscriptions();

  // Starts a validated subscription by filling *response with a streamed body; on
  // ResourceInUseException fills *reply instead and returns false. With `cbor` (the request was
  // CBOR) the events' payloads are CBOR (content type application/x-amz-cbor-1.1).
  bool Start(const SubscriptionStart& start, http::HttpResponse* response, ApiReply* reply,
             bool cbor = false);
  // Ends every subscription and closes every timer; `on_closed` runs when all are closed.
  void Close(std::function<void()> on_closed);
  size_t active() const { return by_key_.size(); }

  struct Sub;

 private:
  using Key = std::tuple<std::string, std::string, uint32_t>;  // stream, consumer, shard
  void Tick(Sub* sub);
  void Finish(Sub* sub);  // ends the response and closes the timer
  void SendEvent(Sub* sub, bool shard_end);

  uv_loop_t* loop_;
  Broker* broker_;
  const Clock* clock_;
  SubscriptionOptions options_;
  std::map<Key, Sub*> by_key_;
  // When each consumer and shard last started a subscription, for the last takeover_after_ms.
  std::map<Key, int64_t> recent_starts_;
  int open_timers_ = 0;
  bool closing_ = false;
  std::function<void()> on_closed_;
  ReadBatch batch_;
  std::string scratch_;
};

}  // namespace sluice::broker::api
