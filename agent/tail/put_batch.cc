#include "agent/tail/put_batch.h"

#include <algorithm>
#include <random>

#include "core/log.h"

namespace sluice::agent {
namespace {

// The stream's PutBatch limits (Kinesis PutRecords).
constexpr size_t kMaxPutRecords = 500;
constexpr uint64_t kMaxPutBytes = 5u << 20;

}  // namespace

BatchPutter::BatchPutter(broker::Stream* stream, std::string flow, int max_records,
                         uint64_t max_bytes)
    : stream_(stream),
      flow_(std::move(flow)),
      max_records_(std::min<size_t>(static_cast<size_t>(std::max(max_records, 1)), kMaxPutRecords)),
      max_bytes_(std::min<uint64_t>(max_bytes, kMaxPutBytes)) {}

PutOutcome BatchPutter::Put(std::string_view arena, char* first, size_t stride, size_t count,
                            FlowStats* stats, PutTagger* tagger) {
  auto entry = [first, stride](size_t i) -> BatchEntry& {
    return *reinterpret_cast<BatchEntry*>(first + i * stride);
  };
  PutOutcome outcome;
  size_t i = 0;
  if (tagger != nullptr) tagger->BeginPut();
  while (outcome.all_ok && i < count) {
    const size_t call_first = i;
    put_in_.clear();
    put_index_.clear();
    uint64_t bytes = 0;
    for (; i < count && put_in_.size() < max_records_; ++i) {
      const BatchEntry& e = entry(i);
      if (e.done) continue;
      if (!put_in_.empty() && bytes + e.key_len + e.data_len > max_bytes_) break;
      bytes += e.key_len + e.data_len;
      // The entries were cut from this arena: views without substr's bounds checks.
      broker::PutRecordIn& in = put_in_.emplace_back();
      in.partition_key = std::string_view(arena.data() + e.key_off, e.key_len);
      in.data = std::string_view(arena.data() + e.data_off, e.data_len);
      if (e.has_hash_key) in.explicit_hash_key = e.hash_key;
      in.event_ms = e.event_ms;
      put_index_.push_back(i);
    }
    if (put_in_.empty()) break;
    broker::PutTag tag;
    if (tagger != nullptr) tag.bytes = tagger->TagFor(call_first, i);
    Status st = stream_->PutBatch(put_in_, &put_out_, tag.bytes.empty() ? nullptr : &tag);
    if (tag.written) tagger->Written(tag);
    if (st.code() == Code::kInvalidArgument) {
      // Our records break the stream's rules: a bug here, not a state that retrying can change.
      SLUICE_LOG(Error, "stream rejected a batch as invalid; its records are dropped")
          .With("flow", flow_)
          .With("records", static_cast<uint64_t>(put_in_.size()))
          .With("error", st.ToString());
      stats->put_errors += put_in_.size();
      for (size_t k : put_index_) entry(k).done = true;
      continue;
    }
    if (!st.ok()) {
      outcome.all_ok = false;
      outcome.failure = st.code();
      outcome.message = st.ToString();
      break;
    }
    uint64_t put = 0, put_bytes = 0;
    for (size_t k = 0; k < put_index_.size(); ++k) {
      BatchEntry& e = entry(put_index_[k]);
      if (k < put_out_.size() && put_out_[k].status.ok()) {
        e.done = true;
        ++put;
        put_bytes += e.data_len;
      } else if (outcome.all_ok) {
        outcome.all_ok = false;
        outcome.failure = k < put_out_.size() ? put_out_[k].status.code() : Code::kInternal;
        outcome.message = k < put_out_.size() ? put_out_[k].status.ToString() : "missing outcome";
      }
    }
    stats->records_put += put;
    stats->bytes_put += put_bytes;
  }
  return outcome;
}

void BatchPutter::NoteRefusal(const PutOutcome& outcome, bool already_refused,
                              FlowStats* stats) const {
  if (outcome.failure == Code::kResourceExhausted) {
    ++stats->put_throttled;
  } else {
    ++stats->put_errors;
  }
  if (!already_refused) {
    SLUICE_LOG(Warn, "stream refused records; pausing reads and retrying")
        .With("flow", flow_)
        .With("stream", stream_->name())
        .With("error", outcome.message);
  }
}

int64_t PutRetryDelayMs(int attempt) {
  int64_t cap = std::min<int64_t>(10000, int64_t{100} << std::min(attempt, 7));
  static thread_local std::minstd_rand rng(std::random_device{}());
  return 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(cap));
}

}  // namespace sluice::agent
