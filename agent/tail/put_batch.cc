#include "agent/tail/put_batch.h"

#include <algorithm>
#include <random>

#include "core/hash_key.h"
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
  // The entries to put, in groups: one per open shard for tagged puts (batch order within a
  // group), else one group in batch order.
  order_.clear();
  group_start_.assign(1, 0);
  routes_.clear();
  if (tagger != nullptr) {
    for (const broker::ShardInfo& s : stream_->ListShards()) {
      if (s.open) routes_.push_back({s.starting_hash_key, s.index});
    }
    std::sort(routes_.begin(), routes_.end(),
              [](const Route& a, const Route& b) { return a.start < b.start; });
  }
  if (routes_.size() > 1) {
    // A counting sort by shard, as the stream routes (broker/stream_impl.cc).
    route_of_.resize(count);
    group_start_.assign(routes_.size() + 1, 0);
    size_t left = 0, seen = 0, first_route = 0;
    if (spread_) {
      for (size_t i = 0; i < count; ++i) left += entry(i).done ? 0 : 1;
      // splitmix64 of a counter: a fresh start shard per batch without a generator's state.
      uint64_t z = (spread_draw_ += 0x9e3779b97f4a7c15ull);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      first_route = static_cast<size_t>((z ^ (z >> 31)) % routes_.size());
    }
    for (size_t i = 0; i < count; ++i) {
      BatchEntry& e = entry(i);
      if (e.done) continue;
      uint32_t r;
      if (spread_) {
        // Run j of routes_.size() even runs, in batch order.
        r = static_cast<uint32_t>((first_route + seen * routes_.size() / left) % routes_.size());
        ++seen;
        e.hash_key = routes_[r].start;
        e.has_hash_key = true;
      } else {
        if (!e.has_hash_key) {
          e.hash_key = HashKeyOf(std::string_view(arena.data() + e.key_off, e.key_len));
          e.has_hash_key = true;
        }
        auto it = std::upper_bound(routes_.begin(), routes_.end(), e.hash_key,
                                   [](uint128 k, const Route& rt) { return k < rt.start; });
        r = it == routes_.begin() ? 0 : static_cast<uint32_t>(it - routes_.begin()) - 1;
      }
      route_of_[i] = r;
      ++group_start_[r + 1];
    }
    for (size_t r = 0; r < routes_.size(); ++r) group_start_[r + 1] += group_start_[r];
    order_.resize(group_start_.back());
    std::vector<uint32_t>& fill = put_index_;  // scratch until the first put
    fill.assign(group_start_.begin(), group_start_.end() - 1);
    for (size_t i = 0; i < count; ++i) {
      if (!entry(i).done) order_[fill[route_of_[i]]++] = static_cast<uint32_t>(i);
    }
  } else {
    for (size_t i = 0; i < count; ++i) {
      if (!entry(i).done) order_.push_back(static_cast<uint32_t>(i));
    }
    group_start_.push_back(static_cast<uint32_t>(order_.size()));
  }
  // The groups in the order of their first entries.
  group_order_.clear();
  for (uint32_t g = 0; g + 1 < group_start_.size(); ++g) {
    if (group_start_[g] < group_start_[g + 1]) group_order_.push_back(g);
  }
  std::sort(group_order_.begin(), group_order_.end(), [this](uint32_t a, uint32_t b) {
    return order_[group_start_[a]] < order_[group_start_[b]];
  });

  PutOutcome outcome;
  for (size_t gi = 0; gi < group_order_.size() && outcome.all_ok; ++gi) {
    const uint32_t g = group_order_[gi];
    size_t at = group_start_[g];
    const size_t group_end = group_start_[g + 1];
    while (outcome.all_ok && at < group_end) {
      put_in_.clear();
      put_index_.clear();
      uint64_t bytes = 0;
      for (; at < group_end && put_in_.size() < max_records_; ++at) {
        const uint32_t i = order_[at];
        const BatchEntry& e = entry(i);
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
      broker::PutTag tag;
      if (tagger != nullptr) tag.bytes = tagger->TagFor(put_index_);
      Status st = stream_->PutBatch(put_in_, &put_out_, tag.bytes.empty() ? nullptr : &tag);
      if (tag.written) tagger->Written(tag);
      if (st.code() == Code::kInvalidArgument) {
        // Our records break the stream's rules: a bug here, not a state that retrying can
        // change.
        SLUICE_LOG(Error, "stream rejected a batch as invalid; its records are dropped")
            .With("flow", flow_)
            .With("records", static_cast<uint64_t>(put_in_.size()))
            .With("error", st.ToString());
        stats->put_errors += put_in_.size();
        for (uint32_t k : put_index_) entry(k).done = true;
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
