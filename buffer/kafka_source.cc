#include "buffer/kafka_source.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "core/log.h"

namespace sluice::buffer {
namespace {

constexpr size_t kPollBatch = 1024;
constexpr int kPollMs = 100;
constexpr int kCommittedTimeoutMs = 10000;

struct PartitionList {
  rd_kafka_topic_partition_list_t* list;
  explicit PartitionList(int n) : list(rd_kafka_topic_partition_list_new(n)) {}
  ~PartitionList() { rd_kafka_topic_partition_list_destroy(list); }
  PartitionList(const PartitionList&) = delete;
  PartitionList& operator=(const PartitionList&) = delete;
};

// Cooperative (incremental) rebalancing keeps partitions assigned while commits are refused,
// and its revocations come without the eager protocol's barrier; the source relies on the
// eager one (range, roundrobin): every rebalance revokes before it assigns.
constexpr const char* kNoCooperative =
    "cooperative-sticky is not supported by the kafka source: use range or roundrobin";

bool Cooperative(rd_kafka_t* rk) {
  const char* protocol = rd_kafka_rebalance_protocol(rk);
  return protocol != nullptr && std::strcmp(protocol, "COOPERATIVE") == 0;
}

// The first error of a commit: the call's own, else the first partition's.
rd_kafka_resp_err_t CommitError(rd_kafka_resp_err_t err, const rd_kafka_topic_partition_list_t* l) {
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return err;
  for (int i = 0; i < l->cnt; ++i) {
    if (l->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) return l->elems[i].err;
  }
  return RD_KAFKA_RESP_ERR_NO_ERROR;
}

void LogFromLibrary(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  const char* name = rk != nullptr ? rd_kafka_name(rk) : "";
  ::sluice::log::Line(level <= 3 ? ::sluice::log::Level::kError : ::sluice::log::Level::kWarn,
                      "kafka source: librdkafka")
      .With("client", name)
      .With("facility", fac)
      .With("message", buf);
}

}  // namespace

KafkaSource::KafkaSource(KafkaSourceOptions options, uint64_t memory_bound)
    : options_(std::move(options)), memory_bound_(std::max<uint64_t>(memory_bound, 1 << 20)) {
  counters_.type = "kafka";
}

KafkaSource::~KafkaSource() { Close(); }

Status KafkaSource::Open(const DeliveryOptions& options) {
  delivery_ = options.name;
  const std::string where = "deliveries." + options.name + ".source: ";
  if (options.initial_position == StartPosition::kAtTimestamp) {
    initial_timestamp_ms_ = options.initial_timestamp_ms;
  }
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  auto set = [&](const std::string& key, const std::string& value) -> Status {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      return InvalidArgument(where + "properties." + key + ": " + err);
    }
    return Status::Ok();
  };
  bool client_id = false;
  bool queued_kbytes = false;
  Status st;
  for (const auto& [k, v] : options_.properties) {
    client_id |= k == "client.id";
    queued_kbytes |= k == "queued.max.messages.kbytes";
    if (st = set(k, v); !st.ok()) break;
  }
  if (st.ok() && !client_id) st = set("client.id", "sluice-" + options.name);
  if (st.ok() && !queued_kbytes) {
    // librdkafka's own prefetch queue: a share of the bound, so the two stay under it together.
    st = set("queued.max.messages.kbytes",
             std::to_string(std::max<uint64_t>(memory_bound_ / 2048, 1024)));
  }
  if (st.ok()) st = set("bootstrap.servers", options_.brokers);
  if (st.ok()) st = set("group.id", options_.group);
  if (st.ok()) st = set("enable.auto.commit", "false");
  if (st.ok()) st = set("enable.auto.offset.store", "false");
  if (st.ok()) st = set("enable.partition.eof", "false");
  if (st.ok()) {
    st = set("auto.offset.reset",
             options.initial_position == StartPosition::kLatest ? "latest" : "earliest");
  }
  if (!st.ok()) {
    rd_kafka_conf_destroy(conf);
    return st;
  }
  rd_kafka_conf_set_opaque(conf, this);
  rd_kafka_conf_set_rebalance_cb(
      conf, [](rd_kafka_t* rk, rd_kafka_resp_err_t e, rd_kafka_topic_partition_list_t* parts,
               void* opaque) { OnRebalance(rk, static_cast<int>(e), parts, opaque); });
  rd_kafka_conf_set_log_cb(conf, LogFromLibrary);
  rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (rk_ == nullptr) {
    rd_kafka_conf_destroy(conf);
    return InvalidArgument(where + err);
  }
  if (Cooperative(rk_)) {
    rd_kafka_destroy(rk_);
    rk_ = nullptr;
    return InvalidArgument(where + "properties.partition.assignment.strategy: " + kNoCooperative);
  }
  rd_kafka_poll_set_consumer(rk_);
  PartitionList topics(static_cast<int>(options_.topics.size()));
  for (const std::string& t : options_.topics) {
    rd_kafka_topic_partition_list_add(topics.list, t.c_str(), RD_KAFKA_PARTITION_UA);
  }
  if (rd_kafka_resp_err_t e = rd_kafka_subscribe(rk_, topics.list); e) {
    rd_kafka_destroy(rk_);
    rk_ = nullptr;
    return InvalidArgument(where + "subscribe: " + rd_kafka_err2str(e));
  }
  SLUICE_LOG(Info, "kafka source joining its consumer group")
      .With("delivery", delivery_)
      .With("group", options_.group)
      .With("brokers", options_.brokers)
      .With("topics", static_cast<uint64_t>(options_.topics.size()));
  poller_ = std::thread([this] { Poll(); });
  return Status::Ok();
}

void KafkaSource::Close() {
  if (rk_ == nullptr) return;
  stop_ = true;
  data_cv_.notify_all();
  flight_cv_.notify_all();
  if (poller_.joinable()) poller_.join();
  // Leaves the group: the rebalance callback revokes what is assigned (without waiting, stop_
  // is set), and the group gives it to the other members at once rather than at session timeout.
  rd_kafka_consumer_close(rk_);
  rd_kafka_destroy(rk_);
  rk_ = nullptr;
}

void KafkaSource::OnRebalance(rd_kafka_t* rk, int err, rd_kafka_topic_partition_list_t* parts,
                              void* opaque) {
  auto* self = static_cast<KafkaSource*>(opaque);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    self->Assign(parts);
  } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    self->Revoke(parts);
  } else {
    self->NoteError(std::string("rebalance failed: ") +
                    rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(err)));
    rd_kafka_assign(rk, nullptr);
  }
}

void KafkaSource::Assign(rd_kafka_topic_partition_list_t* parts) {
  // The committed offsets and their metadata (a plan left by the previous reader).
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  for (int attempt = 0; attempt < 3; ++attempt) {
    err = rd_kafka_committed(rk_, parts, kCommittedTimeoutMs);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
  }
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    // Without them a replay may be batched differently: count it and let librdkafka fetch the
    // committed offsets itself.
    NoteError(std::string("cannot read the committed offsets: ") + rd_kafka_err2str(err));
    for (int i = 0; i < parts->cnt; ++i) parts->elems[i].offset = RD_KAFKA_OFFSET_STORED;
  }
  std::vector<int> from_time;  // partitions without a committed offset (at_timestamp)
  {
    std::lock_guard<std::mutex> lock(mu_);
    // A cooperative rebalance that adds nothing still calls back, with no partitions.
    if (parts->cnt > 0) counters_.rebalances++;
    for (int i = 0; i < parts->cnt; ++i) {
      rd_kafka_topic_partition_t& tp = parts->elems[i];
      Partition* p = FindOrAdd(tp.topic, tp.partition);
      p->assigned = true;
      p->generation++;
      p->committed = tp.offset >= 0 ? tp.offset : -1;
      p->plan.reset();
      if (p->committed >= 0 && tp.metadata != nullptr && tp.metadata_size > 0) {
        auto plan = DecodeJournalEntry(
            std::string_view(static_cast<const char*>(tp.metadata), tp.metadata_size));
        if (plan.ok() && plan->ranges.size() == 1 &&
            plan->ranges[0].first == static_cast<uint64_t>(p->committed)) {
          plan->ranges[0].shard =
              index_.find(std::pair<std::string, int32_t>(p->topic, p->partition))->second;
          p->plan = std::move(*plan);
        }
      }
      buffered_bytes_ -= p->data.size() - p->head_bytes;
      p->data.clear();
      p->msgs.clear();
      p->head = p->head_bytes = 0;
      p->paused = false;
      p->skip_before_ms = -1;
      if (p->committed < 0 && initial_timestamp_ms_ >= 0) {
        from_time.push_back(i);
        p->skip_before_ms = initial_timestamp_ms_;
      }
      if (tp.offset < 0) tp.offset = RD_KAFKA_OFFSET_STORED;
    }
  }
  if (!from_time.empty()) {
    PartitionList times(static_cast<int>(from_time.size()));
    for (int i : from_time) {
      rd_kafka_topic_partition_list_add(times.list, parts->elems[i].topic,
                                        parts->elems[i].partition)
          ->offset = initial_timestamp_ms_;
    }
    err = rd_kafka_offsets_for_times(rk_, times.list, kCommittedTimeoutMs);
    // Where the broker finds the time, start there; where it cannot (-1: no record at or after
    // it, or a broker without timestamp lookups), start at the oldest record. Either way the
    // records before the first one at or after the time are skipped as they arrive (Poll).
    for (int j = 0; j < times.list->cnt; ++j) {
      int64_t at = err == RD_KAFKA_RESP_ERR_NO_ERROR ? times.list->elems[j].offset : -1;
      parts->elems[from_time[j]].offset = at >= 0 ? at : RD_KAFKA_OFFSET_BEGINNING;
    }
    if (err) NoteError(std::string("initial_timestamp: ") + rd_kafka_err2str(err));
  }
  if (parts->cnt > 0) {
    SLUICE_LOG(Info, "kafka source assigned partitions")
        .With("delivery", delivery_)
        .With("group", options_.group)
        .With("partitions", static_cast<uint64_t>(parts->cnt));
  }
  if (rd_kafka_resp_err_t a = rd_kafka_assign(rk_, parts); a) {
    NoteError(std::string("assign: ") + rd_kafka_err2str(a));
  }
  rd_kafka_resume_partitions(rk_, parts);
  data_cv_.notify_all();
}

void KafkaSource::Revoke(rd_kafka_topic_partition_list_t* parts) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    std::vector<Partition*> revoked;
    for (int i = 0; i < parts->cnt; ++i) {
      Partition* p = Find(parts->elems[i].topic, parts->elems[i].partition);
      if (p == nullptr || !p->assigned) continue;
      p->assigned = false;
      p->generation++;
      p->plan.reset();
      buffered_bytes_ -= p->data.size() - p->head_bytes;
      p->data.clear();
      p->msgs.clear();
      p->head = p->head_bytes = 0;
      revoked.push_back(p);
    }
    counters_.revocations += revoked.size();
    // Batches being delivered finish and commit while this member still owns their partitions.
    auto deadline = std::chrono::steady_clock::now() + options_.rebalance_grace;
    flight_cv_.wait_until(lock, deadline, [&] {
      return stop_ || std::none_of(revoked.begin(), revoked.end(),
                                   [](const Partition* p) { return p->in_flight; });
    });
  }
  SLUICE_LOG(Info, "kafka source revoked partitions")
      .With("delivery", delivery_)
      .With("group", options_.group)
      .With("partitions", static_cast<uint64_t>(parts->cnt));
  rd_kafka_assign(rk_, nullptr);
}

KafkaSource::Partition* KafkaSource::Find(std::string_view topic, int32_t partition) {
  auto it = index_.find(std::pair<std::string, int32_t>(topic, partition));
  return it == index_.end() ? nullptr : parts_[it->second].get();
}

KafkaSource::Partition* KafkaSource::FindOrAdd(std::string_view topic, int32_t partition) {
  if (Partition* p = Find(topic, partition)) return p;
  auto p = std::make_unique<Partition>();
  p->topic = std::string(topic);
  p->partition = partition;
  p->label = p->topic + "-" + std::to_string(partition);
  index_.emplace(std::pair<std::string, int32_t>(topic, partition),
                 static_cast<uint32_t>(parts_.size()));
  parts_.push_back(std::move(p));
  return parts_.back().get();
}

void KafkaSource::Poll() {
  rd_kafka_queue_t* q = rd_kafka_queue_get_consumer(rk_);
  std::vector<rd_kafka_message_t*> msgs(kPollBatch);
  std::vector<std::string> errors;
  while (!stop_) {
    ssize_t n = rd_kafka_consume_batch_queue(q, kPollMs, msgs.data(), msgs.size());
    if (n < 0) {
      NoteError(std::string("consume: ") + rd_kafka_err2str(rd_kafka_last_error()));
      std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
      continue;
    }
    if (n > 0) {
      std::lock_guard<std::mutex> lock(mu_);
      Partition* p = nullptr;
      for (ssize_t i = 0; i < n; ++i) {
        const rd_kafka_message_t* m = msgs[i];
        if (m->err) {
          if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            errors.push_back(rd_kafka_message_errstr(m));
          }
          continue;
        }
        const char* topic = rd_kafka_topic_name(m->rkt);
        if (p == nullptr || p->partition != m->partition || p->topic != topic) {
          p = Find(topic, m->partition);
        }
        if (p == nullptr || !p->assigned) continue;
        // A record already held (a fetch that started again from the consumed position).
        if (p->msgs.size() > p->head && static_cast<uint64_t>(m->offset) <= p->msgs.back().offset) {
          continue;
        }
        rd_kafka_timestamp_type_t tstype;
        int64_t ts = rd_kafka_message_timestamp(m, &tstype);
        if (p->skip_before_ms >= 0) {
          if (ts < p->skip_before_ms) continue;  // before initial_timestamp
          p->skip_before_ms = -1;                // from the first one at or after it on
        }
        Msg rec{static_cast<uint64_t>(m->offset), ts >= 0 ? ts : 0, p->data.size(),
                static_cast<uint32_t>(m->key_len), static_cast<uint32_t>(m->len)};
        if (m->key_len > 0) p->data.append(static_cast<const char*>(m->key), m->key_len);
        if (m->len > 0) p->data.append(static_cast<const char*>(m->payload), m->len);
        buffered_bytes_ += m->key_len + m->len;
        p->msgs.push_back(rec);
      }
    }
    for (ssize_t i = 0; i < n; ++i) rd_kafka_message_destroy(msgs[i]);
    if (n > 0) data_cv_.notify_all();
    for (std::string& e : errors) NoteError(std::move(e));
    errors.clear();
    PauseOrResume();
  }
  rd_kafka_queue_destroy(q);
}

void KafkaSource::PauseOrResume() {
  PartitionList pause(4), resume(4);
  {
    std::lock_guard<std::mutex> lock(mu_);
    size_t assigned = 0;
    for (const auto& p : parts_) assigned += p->assigned ? 1 : 0;
    if (assigned == 0) return;
    const uint64_t share = memory_bound_ / assigned;
    for (const auto& p : parts_) {
      if (!p->assigned) continue;
      uint64_t held = p->data.size() - p->head_bytes;
      if (!p->paused && held > share) {
        p->paused = true;
        rd_kafka_topic_partition_list_add(pause.list, p->topic.c_str(), p->partition);
      } else if (p->paused && held <= share / 2) {
        p->paused = false;
        rd_kafka_topic_partition_list_add(resume.list, p->topic.c_str(), p->partition);
      }
    }
  }
  if (pause.list->cnt > 0) rd_kafka_pause_partitions(rk_, pause.list);
  if (resume.list->cnt > 0) rd_kafka_resume_partitions(rk_, resume.list);
}

void KafkaSource::Compact(Partition* p) {
  // Once everything was read past, or half of it and enough to be worth the move.
  const bool all = p->head == p->msgs.size();
  if (p->head == 0 || (!all && (p->head < 1024 || p->head_bytes < p->data.size() / 2))) return;
  p->data.erase(0, p->head_bytes);
  p->msgs.erase(p->msgs.begin(), p->msgs.begin() + static_cast<ptrdiff_t>(p->head));
  for (Msg& m : p->msgs) m.pos -= p->head_bytes;
  p->head = 0;
  p->head_bytes = 0;
  // Memory a burst made the buffer grow to goes back (a partition's share is small when many
  // are assigned).
  if (p->data.capacity() > 4 * std::max<size_t>(p->data.size(), 256 << 10)) {
    p->data.shrink_to_fit();
    p->msgs.shrink_to_fit();
  }
}

void KafkaSource::NoteError(std::string message) {
  bool log;
  {
    std::lock_guard<std::mutex> lock(mu_);
    log = message != counters_.last_error;
    counters_.last_error = message;
  }
  if (log) {
    SLUICE_LOG(Warn, "kafka source")
        .With("delivery", delivery_)
        .With("group", options_.group)
        .With("error", message);
  }
}

std::vector<uint32_t> KafkaSource::ReadableShards() {
  std::vector<uint32_t> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (uint32_t i = 0; i < parts_.size(); ++i) {
    if (parts_[i]->assigned) out.push_back(i);
  }
  return out;
}

Status KafkaSource::Read(uint32_t shard, uint64_t from, const broker::ReadLimits& limits,
                         broker::ReadBatch* out) {
  out->records.clear();
  out->buffer.clear();
  out->shard_end = false;
  out->millis_behind_latest = 0;
  out->next_offset = from;
  std::lock_guard<std::mutex> lock(mu_);
  if (shard >= parts_.size()) return NotFound("no partition " + std::to_string(shard));
  Partition* p = parts_[shard].get();
  if (!p->assigned) return Status::Ok();
  while (p->head < p->msgs.size() && p->msgs[p->head].offset < from) {
    const Msg& m = p->msgs[p->head];
    p->head_bytes += m.key_len + m.len;
    buffered_bytes_ -= m.key_len + m.len;
    p->head++;
  }
  CopyBuffered(
      p->data, p->msgs, p->head, limits, [p](size_t i) { return p->msgs[i].offset; }, out);
  Compact(p);
  return Status::Ok();
}

void KafkaSource::WaitForData(uint32_t shard, uint64_t offset, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  data_cv_.wait_for(lock, timeout, [&] {
    if (stop_ || shard >= parts_.size()) return true;
    const Partition& p = *parts_[shard];
    return p.assigned && !p.msgs.empty() && p.msgs.back().offset >= offset;
  });
}

Result<uint64_t> KafkaSource::GetCheckpoint(uint32_t shard) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shard >= parts_.size() || parts_[shard]->committed < 0) {
    return NotFound("no committed offset");
  }
  return static_cast<uint64_t>(parts_[shard]->committed);
}

Status KafkaSource::Checkpoint(std::span<const broker::ShardPosition> positions) {
  PartitionList list(static_cast<int>(positions.size()));
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const broker::ShardPosition& pos : positions) {
      if (pos.shard_index >= parts_.size()) return NotFound("no such partition");
      const Partition& p = *parts_[pos.shard_index];
      rd_kafka_topic_partition_list_add(list.list, p.topic.c_str(), p.partition)->offset =
          static_cast<int64_t>(pos.next_offset);
    }
  }
  rd_kafka_resp_err_t err = CommitError(rd_kafka_commit(rk_, list.list, 0), list.list);
  std::lock_guard<std::mutex> lock(mu_);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    counters_.commit_errors++;
    counters_.last_error = std::string("commit: ") + rd_kafka_err2str(err);
    return Unavailable("kafka commit: " + std::string(rd_kafka_err2str(err)));
  }
  for (const broker::ShardPosition& pos : positions) {
    parts_[pos.shard_index]->committed = static_cast<int64_t>(pos.next_offset);
  }
  return Status::Ok();
}

Status KafkaSource::RecordPlan(const JournalEntry& entry) {
  if (entry.ranges.size() != 1) return InvalidArgument("a kafka batch holds one partition");
  const ShardRange& r = entry.ranges[0];
  PartitionList list(1);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (r.shard >= parts_.size()) return NotFound("no such partition");
    Partition* p = parts_[r.shard].get();
    if (!p->assigned) return Cancelled("partition " + p->label + " was revoked");
    p->in_flight = true;
    rd_kafka_topic_partition_t* tp =
        rd_kafka_topic_partition_list_add(list.list, p->topic.c_str(), p->partition);
    tp->offset = static_cast<int64_t>(r.first);
    std::string plan = EncodeJournalEntry(entry);
    tp->metadata = std::malloc(plan.size());
    std::memcpy(tp->metadata, plan.data(), plan.size());
    tp->metadata_size = plan.size();
  }
  rd_kafka_resp_err_t err = CommitError(rd_kafka_commit(rk_, list.list, 0), list.list);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Ok();
  std::lock_guard<std::mutex> lock(mu_);
  parts_[r.shard]->in_flight = false;
  flight_cv_.notify_all();
  counters_.commit_errors++;
  counters_.last_error = std::string("plan commit: ") + rd_kafka_err2str(err);
  // Refused while the partition is still assigned here (a rebalance in progress that may leave
  // it with this member, as a cooperative one does): retried. Dropping the batch would let the
  // next batch's plan commit an offset past it.
  if (!parts_[r.shard]->assigned) {
    return Cancelled("partition " + parts_[r.shard]->label +
                     " is no longer this member's: " + rd_kafka_err2str(err));
  }
  return Unavailable(std::string("kafka plan commit: ") + rd_kafka_err2str(err));
}

void KafkaSource::FlushEnded(uint32_t shard) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shard < parts_.size()) parts_[shard]->in_flight = false;
  flight_cv_.notify_all();
}

std::optional<JournalEntry> KafkaSource::TakePlan(uint32_t shard, uint64_t next) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shard >= parts_.size()) return std::nullopt;
  Partition* p = parts_[shard].get();
  std::optional<JournalEntry> plan = std::move(p->plan);
  p->plan.reset();
  if (!plan || plan->ranges[0].first != next) return std::nullopt;
  counters_.plans_replayed++;
  return plan;
}

uint64_t KafkaSource::Generation(uint32_t shard) const {
  std::lock_guard<std::mutex> lock(mu_);
  return shard < parts_.size() ? parts_[shard]->generation : 0;
}

void KafkaSource::NoteDropped(uint32_t /*shard*/) {
  std::lock_guard<std::mutex> lock(mu_);
  counters_.batches_dropped++;
}

void KafkaSource::Describe(uint32_t shard, uint64_t offset, FailedRecord* f) const {
  f->shard_id = RangeLabel(shard);
  f->sequence_number = std::to_string(offset);
}

std::string KafkaSource::RangeLabel(uint32_t shard) const {
  std::lock_guard<std::mutex> lock(mu_);
  return shard < parts_.size() ? parts_[shard]->label : std::to_string(shard);
}

SourceStats KafkaSource::stats() const {
  std::vector<std::tuple<std::string, int32_t, SourceShardStats>> assigned;
  SourceStats s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    s = counters_;
    for (const auto& p : parts_) {
      if (!p->assigned) continue;
      SourceShardStats sh;
      sh.id = p->label;
      sh.committed = p->committed;
      sh.buffered = p->msgs.size() - p->head;
      assigned.emplace_back(p->topic, p->partition, std::move(sh));
    }
  }
  for (auto& [topic, partition, sh] : assigned) {
    int64_t low = -1, high = -1;
    if (rk_ != nullptr &&
        rd_kafka_get_watermark_offsets(rk_, topic.c_str(), partition, &low, &high) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        high >= 0) {
      sh.end = high;
      int64_t from = sh.committed >= 0 ? sh.committed : std::max<int64_t>(low, 0);
      sh.lag = static_cast<uint64_t>(std::max<int64_t>(high - from, 0));
    }
    s.shards.push_back(std::move(sh));
  }
  return s;
}

}  // namespace sluice::buffer
