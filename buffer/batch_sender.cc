#include "buffer/batch_sender.h"

#include <algorithm>

#include "core/log.h"
#include "core/units.h"

namespace sluice::buffer {

// The code outcomes are pre-filled with: none of OK, RETRY, REJECT.
constexpr int32_t kUnsetOutcome = -1;
// While a batch keeps failing, on_healthcheck is asked at most this often.
constexpr int64_t kHealthcheckEveryMs = 30000;
namespace {

int64_t SteadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void PendingBatch::Clear() {
  data.clear();
  recs.clear();
  keys.clear();
  ranges.clear();
  oldest_arrival_ms = 0;
  oldest_time_ms = 0;
  has_event_time = false;
  first_buffered_mono = 0;
  payload_bytes = 0;
}

void PendingBatch::Add(uint32_t shard, const broker::RecordView& r, std::string_view delimiter,
                       int64_t mono) {
  if (recs.empty()) {
    first_buffered_mono = mono;
    oldest_arrival_ms = r.arrival_ms;
    oldest_time_ms = r.time_ms();
  } else {
    oldest_arrival_ms = std::min(oldest_arrival_ms, r.arrival_ms);
    oldest_time_ms = std::min(oldest_time_ms, r.time_ms());
  }
  has_event_time |= r.event_ms != broker::kNoEventTime;
  recs.push_back(
      {shard, r.offset, r.arrival_ms, data.size(), r.data.size(), keys.size(), r.event_ms});
  if (keep_keys) {
    keys.append(r.partition_key);
    keys.push_back('\0');
  }
  data.append(r.data);
  data.append(delimiter);
  payload_bytes += r.data.size();
  if (!ranges.empty() && ranges.back().shard == shard) {
    ranges.back().last = r.offset;
    return;
  }
  for (auto& range : ranges) {
    if (range.shard == shard) {
      range.last = r.offset;
      return;
    }
  }
  ranges.push_back({shard, r.offset, r.offset});
}

void Stopper::RequestStop(std::chrono::milliseconds grace) {
  abort_at_ns_ = SteadyNs() + std::chrono::duration_cast<std::chrono::nanoseconds>(grace).count();
  stopping_ = true;
  std::lock_guard<std::mutex> lock(mu_);
  cv_.notify_all();
}

bool Stopper::Aborted() const { return stopping_.load() && SteadyNs() >= abort_at_ns_.load(); }

bool Stopper::WaitUntil(const Clock* clock, int64_t deadline_mono) {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (Aborted()) return false;
    int64_t left = deadline_mono - clock->MonotonicMs();
    if (left <= 0) return true;
    // Poll at most every 20 ms so a fake clock moved by a test is noticed.
    cv_.wait_for(lock, std::chrono::milliseconds(std::min<int64_t>(left, 20)));
  }
}

void Stopper::Nap(int64_t ms) {
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_) return;
  cv_.wait_for(lock, std::chrono::milliseconds(ms));
}

BatchSender::BatchSender(SinkInstance* sink, Compression compression, const ResolvedPolicy& policy,
                         Backoff backoff, std::filesystem::path errors_root, const Clock* clock,
                         Stopper* stopper, DeliveryCounters* counters, uint64_t seed,
                         std::unique_ptr<Encryptor> encryptor)
    : sink_(sink),
      object_sink_(sink->plugin().object_sink()),
      compression_(sink->plugin().has_flag(SLUICE_FLAG_NO_HOST_COMPRESSION) ? Compression::kNone
                                                                            : compression),
      encoder_(compression_),
      policy_(policy),
      backoff_(backoff),
      errors_(std::move(errors_root), encryptor ? encryptor->Clone() : nullptr),
      clock_(clock),
      stopper_(stopper),
      counters_(counters),
      rng_(seed),
      encryptor_(std::move(encryptor)) {}

BatchSender::Outcome BatchSender::Send(const PendingBatch& batch, const JournalEntry& entry) {
  std::vector<uint32_t>& pending = pending_;
  pending.resize(batch.recs.size());
  for (uint32_t i = 0; i < pending.size(); ++i) pending[i] = i;
  std::vector<Spill> spill;
  if (object_sink_) {
    // A replay of a batch whose object was spilled before the crash: spilled again under the
    // same error key (the same object), never delivered as well.
    for (const SpilledPart& part : entry.spilled) {
      if (part.object_key != entry.object_key) continue;
      SLUICE_LOG(Info, "a replayed object was spilled before the restart; spilling it again")
          .With("delivery", delivery_)
          .With("sink", sink_type_)
          .With("key", entry.object_key)
          .With("error_key", entry.error_key);
      for (uint32_t i : pending) spill.push_back({i, part.attempts, part.code, part.message});
      return WriteSpill(batch, entry, &spill) ? Outcome::kDone : Outcome::kAborted;
    }
  }
  size_t object_bytes = 0;
  sluice_batch b{};
  b.struct_size = sizeof(b);
  b.batch_id = entry.object_key.c_str();
  if (object_sink_) {
    std::string_view entry_name = entry.object_key;
    entry_name = entry_name.substr(entry_name.rfind('/') + 1);
    if (entry_name.size() > 4 && entry_name.substr(entry_name.size() - 4) == ".zip") {
      entry_name.remove_suffix(4);
    }
    std::string_view object = batch.data;  // no codec: the framed records are the object
    if (compression_ != Compression::kNone) {
      Status st = encoder_.Encode(batch.data, &encoded_, entry_name, batch.oldest_time_ms);
      if (!st.ok()) {
        for (uint32_t i : pending) spill.push_back({i, 0, "Encode.Failed", st.message()});
        pending.clear();
      }
      object = encoded_;
    }
    if (encryptor_ && !pending.empty()) {
      Status st = encryptor_->Encrypt(object, &encrypted_);
      if (!st.ok()) {
        for (uint32_t i : pending) spill.push_back({i, 0, "Encrypt.Failed", st.message()});
        pending.clear();
      }
      object = encrypted_;
    }
    object_bytes = object.size();
    b.object_key = entry.object_key.c_str();
    b.object_data = reinterpret_cast<const uint8_t*>(object.data());
    b.object_len = object.size();
    b.content_encoding = ContentEncoding(compression_).data();
    if (!b.content_encoding) b.content_encoding = "";
    // Ciphertext is not gzip whatever it holds: a Content-Encoding would have clients decode it.
    if (encryptor_) b.content_encoding = "encrypted";
    b.key_id = encryptor_ ? encryptor_->key_id().c_str() : "";
  } else {
    // Record ids "<shard>-<offset>": stable across retries and replays.
    ids_.clear();
    std::vector<size_t> id_pos(batch.recs.size());
    for (size_t i = 0; i < batch.recs.size(); ++i) {
      id_pos[i] = ids_.size();
      ids_ += std::to_string(batch.recs[i].shard) + "-" + std::to_string(batch.recs[i].offset);
      ids_.push_back('\0');
    }
    records_.resize(batch.recs.size());
    key_ptrs_.resize(batch.keep_keys ? batch.recs.size() : 0);
    for (size_t i = 0; i < batch.recs.size(); ++i) {
      const auto& r = batch.recs[i];
      records_[i] = {reinterpret_cast<const uint8_t*>(batch.data.data() + r.pos), r.len,
                     r.time_ms(), ids_.data() + id_pos[i]};
      if (batch.keep_keys) key_ptrs_[i] = batch.keys.data() + r.key_pos;
    }
    b.content_encoding = "";
    b.key_id = "";
  }
  int64_t start = clock_->MonotonicMs();
  int attempt = 0;
  uint32_t crashes_in_a_row = 0;  // attempts a plugin child died in (isolation: process)
  std::string last_code, last_message;
  std::vector<sluice_record> send_records;
  std::vector<const char*> send_keys;
  bool said_longer = false;
  // An attempt whose request reached the sink and whose answer was lost: the object may be
  // stored, so the batch is not spilled at retry_duration (RetryLimitMs).
  bool maybe_stored = false;
  while (!pending.empty()) {
    ++attempt;
    b.attempt = static_cast<uint32_t>(attempt);
    if (!object_sink_) {
      send_records.clear();
      send_keys.clear();
      for (uint32_t i : pending) {
        send_records.push_back(records_[i]);
        if (!key_ptrs_.empty()) send_keys.push_back(key_ptrs_[i]);
      }
      b.records = send_records.data();
      b.record_count = send_records.size();
      b.partition_keys = send_keys.empty() ? nullptr : send_keys.data();
      // Unset until the plugin says otherwise: an outcome it leaves alone is not a delivery.
      outcomes_.assign(pending.size(), sluice_record_outcome{kUnsetOutcome, 0, nullptr});
    }
    sluice_deliver_result result;
    result.outcomes = object_sink_ ? nullptr : outcomes_.data();
    if (ledger_) {
      ledger_->Enter(slot_, sink_->plugin().name().c_str(), "on_deliver", clock_->MonotonicMs(),
                     sink_->in_process(), sink_->call_timeout().count());
    }
    int rc = sink_->Deliver(b, &result);
    if (ledger_) ledger_->Leave(slot_);
    counters_->attempts++;
    if (attempt > 1) counters_->retries++;
    last_code = result.error_code;
    last_message = result.error_message;
    uint32_t retry_after = result.retry_after_ms;
    if (object_sink_ && rc == SLUICE_DELIVER_RETRY && result.maybe_delivered != 0) {
      maybe_stored = true;
    }
    std::vector<uint32_t>& still = still_;
    still.clear();
    if (rc == SLUICE_DELIVER_OK) {
      // all pending delivered
    } else if (rc == SLUICE_DELIVER_REJECT) {
      for (uint32_t i : pending) spill.push_back({i, attempt, last_code, last_message});
    } else if (rc == SLUICE_DELIVER_PARTIAL && !object_sink_) {
      uint64_t delivered = 0, retried = 0, rejected = 0, bad = 0;
      for (size_t k = 0; k < pending.size(); ++k) {
        const sluice_record_outcome& o = outcomes_[k];
        std::string reason = o.reason ? o.reason : "";
        if (o.code == SLUICE_DELIVER_OK) {
          ++delivered;
        } else if (o.code == SLUICE_DELIVER_REJECT) {
          ++rejected;
          spill.push_back({pending[k], attempt, "Record.Rejected", reason});
        } else {
          still.push_back(pending[k]);
          if (o.code == SLUICE_DELIVER_RETRY) {
            ++retried;
            retry_after = std::max(retry_after, o.retry_after_ms);
            if (!reason.empty()) last_message = reason;
          } else {
            ++bad;  // unset or not a per-record code: the plugin's error, retried
          }
        }
      }
      counters_->records_retried += retried + bad;
      counters_->bad_outcomes += bad;
      if (bad > 0) {
        last_code = "Plugin.BadPartial";
        last_message = std::to_string(bad) + " of " + std::to_string(pending.size()) +
                       " outcomes unset or invalid (not OK, RETRY or REJECT)";
      } else if (last_code.empty()) {
        last_code = "Record.Retry";
      }
      if ((retried + rejected + bad) > 0 && log::LoudAttempt(attempt)) {
        SLUICE_LOG(Warn, "delivery attempt partly failed; retrying the rest")
            .With("delivery", delivery_)
            .With("sink", sink_type_)
            .With("key", entry.object_key)
            .With("attempt", attempt)
            .With("delivered", delivered)
            .With("retried", retried)
            .With("rejected", rejected)
            .With("invalid", bad)
            .With("code", last_code)
            .With("error", last_message);
      }
    } else {
      if (rc != SLUICE_DELIVER_RETRY) {
        last_code = "Plugin.BadAnswer";
        last_message = "on_deliver returned " + std::to_string(rc);
      }
      still = pending;
      if (log::LoudAttempt(attempt)) {
        SLUICE_LOG(Warn, "delivery attempt failed; retrying")
            .With("delivery", delivery_)
            .With("sink", sink_type_)
            .With("key", entry.object_key)
            .With("attempt", attempt)
            .With("code", last_code)
            .With("error", last_message);
      }
    }
    if (rc != SLUICE_DELIVER_OK) counters_->NoteError(last_code, last_message, clock_->NowMs());
    crashes_in_a_row =
        rc == SLUICE_DELIVER_RETRY && last_code == "Plugin.Crashed" ? crashes_in_a_row + 1 : 0;
    if (crashes_in_a_row >= CallLedger::kMaxCrashes) {
      // A poison batch: the plugin dies on it every time. Spilled, not retried for hours.
      for (uint32_t i : still) spill.push_back({i, attempt, last_code, last_message});
      still.clear();
    }
    pending.swap(still);
    if (pending.empty()) {
      if (attempt > 1) {
        SLUICE_LOG(Info, "delivery recovered")
            .With("delivery", delivery_)
            .With("sink", sink_type_)
            .With("key", entry.object_key)
            .With("attempts", attempt)
            .With("seconds", static_cast<double>(clock_->MonotonicMs() - start) / 1000.0);
      }
      break;
    }
    int64_t delay = std::max<int64_t>(backoff_.Delay(attempt, &rng_).count(), retry_after);
    int64_t now = clock_->MonotonicMs();
    if (now - start + delay >
        RetryLimitMs(entry, maybe_stored, now - start + delay, &said_longer)) {
      for (uint32_t i : pending) spill.push_back({i, attempt, last_code, last_message});
      pending.clear();
      break;
    }
    if (attempt >= 2 && now - last_health_mono_ >= kHealthcheckEveryMs) CheckHealth();
    if (!stopper_->WaitUntil(clock_, now + delay)) return Outcome::kAborted;
  }
  uint64_t delivered_records = batch.recs.size() - spill.size();
  // A delivery got through: whatever the plugin said of its health earlier is stale.
  if (delivered_records > 0 && !counters_->PluginHealth().empty()) counters_->NoteHealth("");
  if (!spill.empty() && object_sink_ && spill_intent_) {
    // Said before it is written: a crash between the two and the replay spills it again.
    spill_intent_(
        {entry.object_key, spill.front().attempts, spill.front().code, spill.front().message});
  }
  if (!spill.empty() && !WriteSpill(batch, entry, &spill)) return Outcome::kAborted;
  counters_->records_delivered += delivered_records;
  if (delivered_records > 0) {
    uint64_t spilled_bytes = 0;
    for (const Spill& s : spill) spilled_bytes += batch.recs[s.index].len;
    counters_->bytes_delivered += batch.payload_bytes - spilled_bytes;
    counters_->objects_delivered++;  // record sinks: batches
    if (object_sink_) counters_->bytes_sent += object_bytes;
  }
  return Outcome::kDone;
}

int64_t BatchSender::RetryLimitMs(const JournalEntry& entry, bool maybe_stored, int64_t elapsed_ms,
                                  bool* said) {
  const int64_t limit = policy_.retry_duration.count();
  if (elapsed_ms <= limit || !object_sink_ || (!entry.replay && !maybe_stored) ||
      policy_.retry_max.count() <= limit) {
    return limit;
  }
  // A replayed object may have been stored by an upload whose answer the crash cut off, and an
  // upload whose answer was lost (maybe_stored) may have stored it: spilled, it would be in the
  // sink and in the error output. Its key is the same, so a later upload replaces it; it is
  // retried for as long as the sink type allows (s3: 24 h, as Firehose).
  if (!*said) {
    *said = true;
    SLUICE_LOG(Warn,
               "a batch may already be in the sink; retrying it past retry_duration, up to the "
               "sink type's most, rather than spilling it")
        .With("delivery", delivery_)
        .With("sink", sink_type_)
        .With("key", entry.object_key)
        .With("why", entry.replay ? "replayed after a restart" : "an upload's answer was lost")
        .With("retry_duration", FormatDuration(policy_.retry_duration))
        .With("up_to", FormatDuration(policy_.retry_max));
  }
  return policy_.retry_max.count();
}

void DeliveryCounters::NoteHealth(std::string message) {
  std::lock_guard<std::mutex> lock(error_mu_);
  plugin_health_ = std::move(message);
}

std::string DeliveryCounters::PluginHealth() const {
  std::lock_guard<std::mutex> lock(error_mu_);
  return plugin_health_;
}

void BatchSender::CheckHealth() {
  last_health_mono_ = clock_->MonotonicMs();
  if (!sink_->plugin().table().on_healthcheck) return;
  if (ledger_) {
    ledger_->Enter(slot_, sink_->plugin().name().c_str(), "on_healthcheck", last_health_mono_,
                   sink_->in_process(), sink_->call_timeout().count());
  }
  Status st = sink_->Healthcheck();
  if (ledger_) ledger_->Leave(slot_);
  std::string was = counters_->PluginHealth();
  std::string now = st.ok() ? "" : std::string(st.message().substr(0, 500));
  if (now == was) return;
  if (!now.empty()) {
    SLUICE_LOG(Warn, "the sink plugin reports itself unhealthy")
        .With("delivery", delivery_)
        .With("sink", sink_type_)
        .With("error", now);
  } else {
    SLUICE_LOG(Info, "the sink plugin reports itself healthy again")
        .With("delivery", delivery_)
        .With("sink", sink_type_);
  }
  counters_->NoteHealth(std::move(now));
}

void DeliveryCounters::NoteError(std::string_view code, std::string_view message, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(error_mu_);
  last_error_.assign(code);
  if (!message.empty()) last_error_.append(": ").append(message.substr(0, 500));
  last_error_ms_ = now_ms;
}

std::pair<std::string, int64_t> DeliveryCounters::LastError() const {
  std::lock_guard<std::mutex> lock(error_mu_);
  return {last_error_, last_error_ms_};
}

bool BatchSender::WriteSpill(const PendingBatch& batch, const JournalEntry& entry,
                             std::vector<Spill>* spill) {
  std::sort(spill->begin(), spill->end(),
            [](const Spill& a, const Spill& b) { return a.index < b.index; });
  failed_.clear();
  for (const Spill& s : *spill) {
    const auto& r = batch.recs[s.index];
    failed_.push_back({batch.Data(r), r.arrival_ms, s.attempts, s.code, s.message, {}, {}});
  }
  for (int attempt = 1;; ++attempt) {
    Status st = errors_.Write(entry.error_key, failed_, clock_->NowMs());
    if (st.ok()) break;
    counters_->errors++;
    SLUICE_LOG(Error, "cannot write the error output; retrying (records stay in the broker)")
        .With("delivery", delivery_)
        .With("sink", sink_type_)
        .With("key", entry.error_key)
        .With("error", st.message());
    if (!stopper_->WaitUntil(clock_,
                             clock_->MonotonicMs() + backoff_.Delay(attempt, &rng_).count())) {
      return false;
    }
  }
  counters_->records_spilled += spill->size();
  counters_->objects_spilled++;
  if (spill_hook_) spill_hook_(entry.error_key, errors_.last_object(), entry);
  if (warner_ != nullptr && !spill->empty()) {
    const Spill& first = spill->front();
    warner_->Note(policy_.error_output_type, first.code, first.message, spill->size(),
                  clock_->MonotonicMs());
  }
  return true;
}

}  // namespace sluice::buffer
