#include "buffer/delivery_source.h"

#include "broker/metadata.h"

namespace sluice::buffer {

StreamSource::~StreamSource() {
  if (hold_) stream_->Release(*hold_);
}

Status StreamSource::Open(const DeliveryOptions& options) {
  consumer_ = options.name;
  hold_ = stream_->Hold("delivery " + options.name, options.name);
  std::string where = "deliveries." + options.name + ": ";
  Status st = stream_->RegisterConsumer(options.name);
  if (!st.ok() && st.code() != Code::kAlreadyExists) {
    return st.Annotate(where + "register consumer");
  }
  if (st.ok() && options.initial_position != StartPosition::kTrimHorizon) {
    // A new consumer: checkpoint every shard where it is to start.
    std::vector<broker::ShardPosition> start;
    for (const broker::ShardInfo& sh : stream_->ListShards()) {
      auto at = options.initial_position == StartPosition::kLatest
                    ? stream_->EndOffset(sh.index)
                    : stream_->OffsetAtTimestamp(sh.index, options.initial_timestamp_ms);
      if (at.ok()) start.push_back({sh.index, *at});  // an expired shard has nothing to skip
    }
    if (!start.empty()) {
      RETURN_IF_ERROR(
          stream_->Checkpoint(options.name, start).Annotate(where + "initial_position"));
    }
  }
  return Status::Ok();
}

void StreamSource::Describe(uint32_t shard, uint64_t offset, FailedRecord* f) const {
  f->shard_id = broker::ShardId(shard);
  f->sequence_number = broker::SequenceNumber(shard, offset);
}

SourceStats StreamSource::stats() const {
  SourceStats s;
  s.type = "stream";
  for (uint32_t shard : stream_->ReadableShards(consumer_)) {
    SourceShardStats sh;
    sh.id = broker::ShardId(shard);
    auto ck = stream_->GetCheckpoint(consumer_, shard);
    auto end = stream_->EndOffset(shard);
    if (ck.ok()) sh.committed = static_cast<int64_t>(*ck);
    if (end.ok()) sh.end = static_cast<int64_t>(*end);
    if (end.ok()) sh.lag = *end - (ck.ok() ? std::min(*ck, *end) : 0);
    s.shards.push_back(std::move(sh));
  }
  return s;
}

}  // namespace sluice::buffer
