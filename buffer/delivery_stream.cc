#include "buffer/delivery_stream.h"

#include <algorithm>
#include <deque>
#include <tuple>

#include "broker/metadata.h"
#include "buffer/codec.h"
#include "core/log.h"

namespace sluice::buffer {
namespace {

// An idle worker waits on one shard's appends in slices this long: appends to its other shards
// and a Stop are noticed within one slice (the broker's wait cannot be interrupted otherwise).
constexpr int64_t kIdleWaitMs = 20;
constexpr size_t kMaxReadBytes = 10 << 20;
constexpr size_t kMinReadBytes = 64 << 10;

}  // namespace

DeliveryStream::DeliveryStream(const DeliveryOptions& options,
                               std::unique_ptr<DeliverySource> source, Clock* clock)
    : options_(options),
      source_(std::move(source)),
      spill_warner_(options.name, options.sink.type),
      clock_(clock),
      rng_(std::random_device{}()) {}

Result<std::unique_ptr<DeliveryStream>> DeliveryStream::Create(
    const DeliveryOptions& options, broker::Stream* stream, PluginHost* host,
    const std::filesystem::path& state_dir, Clock* clock) {
  if (stream == nullptr)
    return InvalidArgument("deliveries." + options.name + ": no source stream");
  return Create(options, std::make_unique<StreamSource>(stream), host, state_dir, clock);
}

Result<std::unique_ptr<DeliveryStream>> DeliveryStream::Create(
    const DeliveryOptions& options, std::unique_ptr<DeliverySource> source, PluginHost* host,
    const std::filesystem::path& state_dir, Clock* clock) {
  std::string where = "deliveries." + options.name + ": ";
  if (source == nullptr) return InvalidArgument(where + "no source");
  if (options.concurrency < 1 || options.concurrency > 64) {
    return InvalidArgument(where + "concurrency must be 1..64");
  }
  std::vector<ConfigIssue> issues;
  std::optional<DeliveryPlan> plan = PlanDelivery(options, host, &issues);
  if (!plan) return InvalidArgument(FormatIssues(std::move(issues)));
  std::unique_ptr<DeliveryStream> ds(new DeliveryStream(options, std::move(source), clock));
  ds->policy_ = plan->policy;
  ds->plugin_ = plan->plugin;
  ds->partition_specs_ = std::move(plan->partition_specs);
  ds->backup_plugin_ = plan->backup_plugin;
  ds->backup_all_ = plan->backup_all;
  ds->backup_prefix_ = std::move(plan->backup_prefix);
  ds->prefix_ = std::move(plan->prefix);
  ds->error_prefix_ = std::move(plan->error_prefix);
  if (!ds->plugin_->replay_exactly_once()) {
    SLUICE_LOG(Warn,
               "the sink does not declare idempotent object keys: a batch replayed after a "
               "crash may be delivered twice")
        .With("delivery", options.name)
        .With("sink", options.sink.type);
  }
  const ValidatedOptions& sink_options = plan->sink_options;
  const Plugin* transform_plugin = plan->transform_plugin;
  const ValidatedOptions& transform_options = plan->transform_options;
  const std::optional<ValidatedOptions>& backup_options = plan->backup_options;
  ds->state_dir_ = state_dir;
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) return IoError(where + "cannot create " + state_dir.string() + ": " + ec.message());
  ds->errors_root_ = options.errors_path.empty() ? state_dir / "errors"
                                                 : std::filesystem::path(options.errors_path);
  ds->journal_ = std::make_unique<BatchJournal>(state_dir);
  // Registers the consumer (a stream) or joins the group (kafka: fetching starts).
  RETURN_IF_ERROR(ds->source_->Open(options));
  Backoff backoff{options.retry_backoff_base, options.retry_backoff_cap};
  // Where an instance runs; a child's wait for a call ends when stop's grace has passed.
  auto isolated = [stopper = &ds->stopper_](Isolation where, Millis call_timeout) {
    return IsolationOptions{.isolation = where, .call_timeout = call_timeout, .aborted = [stopper] {
                              return stopper->Aborted();
                            }};
  };
  const std::optional<Keyring>& keyring = plan->keyring;
  for (int i = 0; i < options.concurrency; ++i) {
    auto w = std::make_unique<Worker>();
    w->index = i;
    // A plugin in a child reads the batches where they are built (shared memory) rather than
    // from a copy; should no memory file be had, they are copied as before.
    bool any_child =
        options.sink.isolation == Isolation::kProcess ||
        (options.backup_sink && options.backup_sink->isolation == Isolation::kProcess) ||
        (!options.transform.plugin.empty() && options.transform.isolation == Isolation::kProcess);
    if (any_child) {
      for (PendingBatch* b : {&w->batch, &w->transformed, &w->backup_batch}) b->data.Share();
    }
    w->shared_memory = any_child;
    // A record sink gets each record's partition key (ABI 1.5); an object sink has no use for it.
    w->batch.keep_keys = w->transformed.keep_keys = !ds->plugin_->object_sink();
    // The batch never outgrows its size hint by more than one read: no reallocation later.
    w->batch.data.reserve(ds->policy_.buffer_size + ds->policy_.buffer_size / 8 + (1u << 20));
    ASSIGN_OR_RETURN(w->sink, SinkInstance::Create(
                                  ds->plugin_, sink_options, options.name, &ds->plugin_counters_,
                                  isolated(options.sink.isolation, ds->policy_.call_timeout)));
    std::unique_ptr<Encryptor> encryptor, errors_encryptor;
    if (keyring) {
      auto e = Encryptor::Create(*keyring, options.encryption_key_id);
      if (!e.ok()) return e.status().Annotate(where + "encryption");
      encryptor = std::move(*e);
      errors_encryptor = encryptor->Clone();
    }
    w->sender = std::make_unique<BatchSender>(w->sink.get(), options.compression, ds->policy_,
                                              backoff, ds->errors_root_, clock, &ds->stopper_,
                                              &ds->counters_, ds->rng_(), std::move(encryptor));
    w->sender->set_spill_warner(&ds->spill_warner_);
    {
      DeliveryStream* raw = ds.get();
      Worker* wp = w.get();
      w->sender->set_spill_intent([raw, wp](const SpilledPart& part) { raw->NoteSpill(wp, part); });
    }
    w->sender->set_names(options.name, options.sink.type);
    w->processing_errors =
        std::make_unique<ErrorWriter>(ds->errors_root_, std::move(errors_encryptor));
    if (backup_options) {
      ASSIGN_OR_RETURN(w->backup_sink,
                       SinkInstance::Create(
                           ds->backup_plugin_, *backup_options, options.name, &ds->plugin_counters_,
                           isolated(options.backup_sink->isolation,
                                    options.backup_sink->call_timeout.value_or(
                                        ds->backup_plugin_->policy().call_timeout))));
      // Backup objects are written as they are buffered: records (all) or JSON lines
      // (failed_only), uncompressed and unencrypted.
      w->backup = std::make_unique<BatchSender>(w->backup_sink.get(), Compression::kNone,
                                                ds->policy_, backoff, ds->errors_root_, clock,
                                                &ds->stopper_, &ds->backup_counters_, ds->rng_());
      if (!ds->backup_all_) {
        DeliveryStream* raw = ds.get();
        Worker* wp = w.get();
        w->sender->set_spill_hook(
            [raw, wp](std::string_view key, std::string_view jsonl, const JournalEntry& e) {
              raw->BackupFailed(wp, key, jsonl, e);
            });
      }
    }
    if (options.transform.kind == TransformOptions::Kind::kExec) {
      ASSIGN_OR_RETURN(
          w->transform,
          ExecTransform::Create(options.transform.exec, options.name, options.transform.timeout,
                                options.transform.retries, options.transform.buffer_size));
    } else if (options.transform.kind == TransformOptions::Kind::kPlugin) {
      ASSIGN_OR_RETURN(auto instance,
                       SinkInstance::Create(
                           transform_plugin, transform_options, options.name, &ds->plugin_counters_,
                           isolated(options.transform.isolation, options.transform.timeout)));
      ASSIGN_OR_RETURN(w->transform, PluginTransform::Create(std::move(instance), options.name,
                                                             options.transform.retries,
                                                             options.transform.buffer_size));
    } else if (options.transform.kind == TransformOptions::Kind::kHttp) {
      ASSIGN_OR_RETURN(
          w->transform,
          HttpTransform::Create(options.transform.url, options.name, options.transform.timeout,
                                options.transform.retries, options.transform.buffer_size));
    } else if (options.transform.kind == TransformOptions::Kind::kLua) {
      // One Lua state per worker.
      ASSIGN_OR_RETURN(w->transform, LuaTransform::Create(options.transform.lua, options.name));
    }
    if (w->transform) w->transform->set_sink(options.sink.type);
    ds->workers_.push_back(std::move(w));
  }
  return ds;
}

DeliveryStream::~DeliveryStream() {
  if (started_) Stop(std::chrono::milliseconds(0));
  source_->Close();
}

Status DeliveryStream::Start() {
  if (started_) return InvalidArgument("delivery stream " + options_.name + " already started");
  auto ledger = CallLedger::Open(state_dir_ / "calls", options_.name);
  if (!ledger.ok()) return ledger.status().Annotate("delivery " + options_.name + ": call ledger");
  ledger_ = std::move(*ledger);
  for (const CallLedger::Crash& c : ledger_->crashes_found()) {
    SLUICE_LOG(Error, c.signalled
                          ? "the previous run ended inside a plugin call: a crash (fatal signal)"
                          : "the previous run ended inside a plugin call without a fatal signal "
                            "(killed, out of memory or power lost)")
        .With("delivery", options_.name)
        .With("sink", options_.sink.type)
        .With("plugin", c.plugin)
        .With("call", c.call)
        .With("batch", c.batch)
        .With("crashes", static_cast<uint64_t>(c.count))
        .With("kills", static_cast<uint64_t>(c.kills))
        .With("spilled_after", c.signalled ? static_cast<uint64_t>(CallLedger::kMaxCrashes)
                                           : static_cast<uint64_t>(CallLedger::kMaxKills));
  }
  for (auto& w : workers_) {
    w->sender->set_call_ledger(ledger_.get(), w->index);
    if (w->backup) w->backup->set_call_ledger(ledger_.get(), w->index);
  }
  started_ = true;
  for (auto& w : workers_) {
    Worker* raw = w.get();
    w->thread = std::thread([this, raw] { Run(raw); });
  }
  return Status::Ok();
}

void DeliveryStream::RequestStop(std::chrono::milliseconds grace) {
  if (stop_deadline_) return;
  stop_deadline_ = std::chrono::steady_clock::now() + grace + std::chrono::seconds(1);
  stopper_.RequestStop(grace);
  std::lock_guard<std::mutex> lock(recover_mu_);
  recover_cv_.notify_all();
}

void DeliveryStream::Stop(std::chrono::milliseconds grace) {
  RequestStop(grace);
  // Workers notice the abort within a wait slice; one inside a plugin call cannot. A second past
  // the grace, such a worker is abandoned so that stop stays bounded.
  const auto deadline = *stop_deadline_;
  for (auto& w : workers_) {
    if (!w->thread.joinable()) continue;
    while (!w->exited && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (w->exited) {
      w->thread.join();
      continue;
    }
    w->abandoned = true;
    if (ledger_) ledger_->Abandon(w->index);
    abandoned_ = true;
    SLUICE_LOG(Error,
               "a plugin call outlived stop's grace; abandoned (its batch stays journaled "
               "and is replayed at the next start)")
        .With("delivery", options_.name)
        .With("sink", options_.sink.type)
        .With("plugin", plugin_->name())
        .With("call_age_s",
              static_cast<double>(ledger_ ? ledger_->OldestCallAgeMs(clock_->MonotonicMs()) : 0) /
                  1000.0);
    w->thread.detach();
  }
}

DeliveryStats DeliveryStream::stats() const {
  DeliveryStats s;
  s.records_in = counters_.records_in;
  s.bytes_in = counters_.bytes_in;
  s.records_delivered = counters_.records_delivered;
  s.bytes_delivered = counters_.bytes_delivered;
  s.objects_delivered = counters_.objects_delivered;
  s.bytes_sent = counters_.bytes_sent;
  s.records_spilled = counters_.records_spilled;
  s.records_dropped = counters_.records_dropped;
  s.objects_spilled = counters_.objects_spilled;
  s.attempts = counters_.attempts;
  s.retries = counters_.retries;
  s.records_retried = counters_.records_retried;
  s.bad_outcomes = counters_.bad_outcomes;
  s.batches_replayed = counters_.batches_replayed;
  s.records_backed_up = backup_counters_.records_delivered;
  s.objects_backed_up = backup_counters_.objects_delivered;
  s.backup_records_spilled = backup_counters_.records_spilled;
  s.errors = counters_.errors;
  std::tie(s.last_error, s.last_error_ms) = counters_.LastError();
  for (const auto& w : workers_) {
    for (const SinkInstance* sink : {w->sink.get(), w->backup_sink.get()}) {
      if (sink == nullptr) continue;
      s.child_restarts += sink->child_restarts();
      s.child_crashes += sink->child_crashes();
      s.child_timeouts += sink->child_timeouts();
    }
    s.buffered_bytes += w->buffered;
    int64_t oldest = w->oldest;
    if (oldest != 0 &&
        (s.oldest_buffered_arrival_ms == 0 || oldest < s.oldest_buffered_arrival_ms)) {
      s.oldest_buffered_arrival_ms = oldest;
    }
  }
  s.plugin_counters = plugin_counters_.Snapshot();
  s.call_age_ms = ledger_ ? ledger_->OldestCallAgeMs(clock_->MonotonicMs()) : 0;
  s.call_timeout_ms = policy_.call_timeout.count();
  s.call_stuck = ledger_ && ledger_->CallStuck(clock_->MonotonicMs());
  s.batches_crashed = batches_crashed_;
  s.plugin_health = counters_.PluginHealth();
  s.source = source_->stats();
  return s;
}

void DeliveryStream::Run(Worker* w) {
  struct Exit {
    Worker* w;
    ~Exit() { w->exited = true; }
  } exit{w};
  if (w->index == 0) {
    w->sender->CheckHealth();  // once per start (the instances share a destination)
    Recover(w);
    std::lock_guard<std::mutex> lock(recover_mu_);
    recovered_ = true;
    recover_cv_.notify_all();
  } else {
    std::unique_lock<std::mutex> lock(recover_mu_);
    recover_cv_.wait(lock, [this] { return recovered_ || stopper_.stopping(); });
    if (!recovered_) return;
  }
  const int n = static_cast<int>(workers_.size());
  const bool shared = source_->shared();
  std::vector<uint32_t> shards;
  while (!stopper_.Aborted()) {
    bool stopping = stopper_.stopping();
    bool got = false;
    shards.clear();
    if (!stopping) {
      for (uint32_t s : source_->ReadableShards()) {
        if (static_cast<int>(s % n) == w->index) shards.push_back(s);
      }
      got = ReadSome(w, shards);
    }
    PendingBatch& b = w->batch;
    int64_t age = b.empty() ? 0 : clock_->MonotonicMs() - b.first_buffered_mono;
    bool buffering = !b.empty();
    // buffer.interval 0s flushes once the worker has read all there is, not after every read:
    // while records keep coming, batches still fill up to the buffer size (a flush per read
    // would cost a journal and checkpoint sync per few records).
    const bool aged = policy_.buffer_interval.count() > 0 || !got;
    if (shared) {
      if (!FlushParts(w, stopping, aged)) break;
      for (const auto& [shard, part] : w->parts) {
        if (part.empty()) continue;
        age = std::max(age, clock_->MonotonicMs() - part.first_buffered_mono);
        buffering = true;
      }
      if (stopping) break;
    } else {
      bool due = !b.empty() && (stopping || b.data.size() >= policy_.buffer_size ||
                                (aged && age >= policy_.buffer_interval.count()));
      if (due) {
        if (!Flush(w, Plan(w))) break;
        continue;
      }
      if (stopping) break;
    }
    if (got) continue;
    int64_t wait = kIdleWaitMs;
    if (buffering) wait = std::clamp<int64_t>(policy_.buffer_interval.count() - age, 1, wait);
    if (shards.empty()) {
      stopper_.Nap(wait);
    } else {
      source_->WaitForData(shards[0], w->next[shards[0]], std::chrono::milliseconds(wait));
    }
  }
}

PendingBatch& DeliveryStream::PartOf(Worker* w, uint32_t shard) {
  auto it = w->parts.find(shard);
  if (it != w->parts.end()) return it->second;
  PendingBatch& b = w->parts[shard];
  b.keep_keys = w->batch.keep_keys;
  if (w->shared_memory) b.data.Share();
  return b;
}

bool DeliveryStream::FlushParts(Worker* w, bool stopping, bool aged) {
  // The shards' batches together stay under twice the buffer size: past it, the largest is due.
  uint64_t total = 0, largest_size = 0;
  uint32_t largest = 0;
  for (const auto& [shard, part] : w->parts) {
    total += part.data.size();
    if (part.data.size() > largest_size) {
      largest = shard;
      largest_size = part.data.size();
    }
  }
  const bool over = total > 2 * policy_.buffer_size;
  for (auto it = w->parts.begin(); it != w->parts.end();) {
    const uint32_t shard = it->first;
    PendingBatch& part = it->second;
    // Revoked (or revoked and assigned again) since it was read: its records are the next
    // reader's, from the committed offset.
    if (source_->Generation(shard) != w->generations[shard]) {
      if (!part.empty()) {
        source_->NoteDropped(shard);
        SLUICE_LOG(Info,
                   "dropped the buffered records of a partition moved away; its next reader "
                   "reads them again from the committed offset")
            .With("delivery", options_.name)
            .With("sink", options_.sink.type)
            .With("shard", source_->RangeLabel(shard))
            .With("records", static_cast<uint64_t>(part.recs.size()));
      }
      w->next.erase(shard);
      w->planned.erase(shard);
      w->generations.erase(shard);
      it = w->parts.erase(it);
      continue;
    }
    auto planned = w->planned.find(shard);
    const int64_t age = part.empty() ? 0 : clock_->MonotonicMs() - part.first_buffered_mono;
    // A replayed plan is due once read to its last offset.
    const bool plan_read =
        planned != w->planned.end() && w->next[shard] > planned->second.ranges[0].last;
    const bool due = !part.empty() && (stopping || plan_read || (over && shard == largest) ||
                                       part.data.size() >= policy_.buffer_size ||
                                       (aged && age >= policy_.buffer_interval.count()));
    if (!due) {
      ++it;
      continue;
    }
    std::swap(w->batch, part);
    JournalEntry entry;
    if (planned != w->planned.end()) {
      entry = std::move(planned->second);
      w->planned.erase(planned);
      entry.worker = w->index;
      entry.ranges = w->batch.ranges;
      entry.records = w->batch.recs.size();
      entry.replay = true;
      SLUICE_LOG(Info, "replaying a batch planned by the partition's previous reader")
          .With("delivery", options_.name)
          .With("sink", options_.sink.type)
          .With("shard", source_->RangeLabel(shard))
          .With("key", entry.object_key)
          .With("records", static_cast<uint64_t>(entry.records));
      counters_.batches_replayed++;
    } else {
      entry = Plan(w);
    }
    bool ok;
    if (CallLedger::Deaths deaths = ledger_->DeathsOf(entry.object_key); deaths.poison()) {
      ok = SpillCrashed(w, entry, deaths);
    } else {
      ok = Flush(w, std::move(entry));
    }
    source_->FlushEnded(shard);
    // An aborted flush keeps its records for the next reader: nothing was committed.
    w->batch.Clear();
    std::swap(w->batch, part);
    w->buffered = 0;
    w->oldest = 0;
    if (!ok) return false;
    ++it;
  }
  uint64_t buffered = 0;
  int64_t oldest = 0;
  for (const auto& [shard, part] : w->parts) {
    buffered += part.data.size();
    if (!part.empty() && (oldest == 0 || part.oldest_arrival_ms < oldest))
      oldest = part.oldest_arrival_ms;
  }
  w->buffered = buffered;
  w->oldest = oldest;
  return true;
}

bool DeliveryStream::ReadSome(Worker* w, const std::vector<uint32_t>& shards) {
  const bool object_sink = plugin_->object_sink();
  const bool shared = source_->shared();
  std::string_view delimiter = object_sink ? std::string_view(options_.record_delimiter) : "";
  bool got = false;
  broker::ReadBatch& rb = w->read;
  // Shared sources: the shards' batches together stay under twice the buffer size, which
  // FlushParts keeps by flushing the largest.
  const uint64_t parts_bound = 2 * policy_.buffer_size;
  uint64_t parts_total = 0;
  for (const auto& [shard, part] : w->parts) parts_total += part.data.size();
  for (uint32_t s : shards) {
    if (shared && parts_total >= parts_bound) break;
    PendingBatch& b = shared ? PartOf(w, s) : w->batch;
    if (b.data.size() >= policy_.buffer_size) {
      if (shared) continue;
      break;
    }
    auto it = w->next.find(s);
    if (shared && it != w->next.end() && w->generations[s] != source_->Generation(s)) {
      continue;  // FlushParts drops what this assignment buffered first
    }
    if (it == w->next.end()) {
      if (shared) w->generations[s] = source_->Generation(s);
      auto ck = source_->GetCheckpoint(s);
      uint64_t start = 0;
      if (ck.ok()) {
        start = *ck;
      } else if (ck.status().code() != Code::kNotFound) {
        counters_.errors++;
        SLUICE_LOG(Error, "cannot read checkpoint")
            .With("delivery", options_.name)
            .With("sink", options_.sink.type)
            .With("shard", s)
            .With("error", ck.status().message());
        continue;
      }
      it = w->next.emplace(s, start).first;
      if (shared) {
        if (std::optional<JournalEntry> plan = source_->TakePlan(s, start)) {
          w->planned[s] = std::move(*plan);
        }
      }
    }
    auto planned = shared ? w->planned.find(s) : w->planned.end();
    // A replayed plan's batch is read to its last offset and flushed alone.
    if (planned != w->planned.end() && it->second > planned->second.ranges[0].last) continue;
    broker::ReadLimits limits;
    uint64_t room = policy_.buffer_size - b.data.size();
    if (shared) room = std::min(room, parts_bound - parts_total);
    limits.max_bytes = std::clamp<size_t>(room, kMinReadBytes, kMaxReadBytes);
    Status st = source_->Read(s, it->second, limits, &rb);
    if (!st.ok()) {
      counters_.errors++;
      SLUICE_LOG(Error, "source read failed")
          .With("delivery", options_.name)
          .With("sink", options_.sink.type)
          .With("shard", s)
          .With("error", st.message());
      continue;
    }
    int64_t mono = clock_->MonotonicMs();
    uint64_t bytes = 0, records = 0;
    uint64_t next = rb.next_offset;
    for (const auto& r : rb.records) {
      if (planned != w->planned.end() && r.offset > planned->second.ranges[0].last) {
        next = planned->second.ranges[0].last + 1;  // the rest is read again after the replay
        break;
      }
      b.Add(s, r, delimiter, mono);
      bytes += r.data.size();
      ++records;
    }
    counters_.records_in += records;
    counters_.bytes_in += bytes;
    parts_total += bytes;
    it->second = next;
    if (records > 0) {
      got = true;
      if (!shared) {
        w->buffered = b.data.size();
        w->oldest = b.oldest_arrival_ms;
      }
    } else if (rb.shard_end) {
      bool pending = std::any_of(b.ranges.begin(), b.ranges.end(),
                                 [s](const ShardRange& r) { return r.shard == s; });
      auto ck = source_->GetCheckpoint(s);
      if (!pending && (!ck.ok() || *ck < rb.next_offset)) {
        // A closed shard read to its end: checkpoint there so its children become readable.
        broker::ShardPosition end{s, rb.next_offset};
        Status cs = source_->Checkpoint({&end, 1});
        if (!cs.ok()) counters_.errors++;
      }
    }
  }
  return got;
}

JournalEntry DeliveryStream::Plan(Worker* w) {
  const PendingBatch& b = w->batch;
  JournalEntry e;
  e.worker = w->index;
  e.oldest_arrival_ms = b.oldest_time_ms;  // the naming time: event time when records have one
  e.records = b.recs.size();
  e.ranges = b.ranges;
  std::string seed = options_.name;
  seed.push_back('|');
  seed.append(std::to_string(options_.version));
  for (const auto& r : b.ranges) {
    seed.push_back('|');
    seed.append(source_->RangeSeed(r.shard, r.first, r.last));
  }
  std::string name = ObjectName(options_.name, options_.version, b.oldest_time_ms, StableId(seed));
  std::lock_guard<std::mutex> lock(rng_mu_);
  auto prefix = prefix_->Render(b.oldest_time_ms, "", &rng_);
  auto error_prefix = error_prefix_->Render(b.oldest_time_ms, policy_.error_output_type, &rng_);
  // A prefix that does not render leaves the key empty: Flush then takes the partitioned way,
  // which renders it again and spills the batch, rather than naming it without its prefix.
  if (prefix.ok()) {
    e.object_key = *prefix + name + std::string(CompressionExtension(options_.compression)) +
                   (options_.encryption_keyring.empty() ? "" : ".enc");
  }
  e.error_key = (error_prefix.ok() ? *error_prefix : policy_.error_output_type + "/") + name;
  return e;
}

bool DeliveryStream::Flush(Worker* w, JournalEntry entry) {
  ledger_->Begin(w->index, entry.object_key);
  struct Flushing {
    Worker* w;
    ~Flushing() { w->flushing = nullptr; }
  } flushing{w};
  w->flushing = &entry;
  // The batch's identity goes where its replay will find it: the local journal, or, for a shared
  // source, with the shard's checkpoint. Retried while it fails (the disk, the source away),
  // except when the shard moved to another instance: its records are that one's now.
  const bool shared = source_->shared();
  Status st;
  for (int attempt = 1;; ++attempt) {
    st = shared ? source_->RecordPlan(entry) : journal_->Record(entry);
    if (st.ok() || st.code() == Code::kCancelled) break;
    counters_.errors++;
    SLUICE_LOG(Error, shared ? "cannot record the batch's plan with the source; waiting"
                             : "cannot write the batch journal; waiting")
        .With("delivery", options_.name)
        .With("sink", options_.sink.type)
        .With("error", st.message());
    if (!stopper_.WaitUntil(clock_, clock_->MonotonicMs() + 1000 * std::min(attempt, 30))) {
      return false;
    }
  }
  if (st.code() == Code::kCancelled) {
    source_->NoteDropped(entry.ranges.empty() ? 0 : entry.ranges[0].shard);
    SLUICE_LOG(Info,
               "dropped a batch of a partition moved away before it was sent; its next reader "
               "reads it again from the committed offset")
        .With("delivery", options_.name)
        .With("sink", options_.sink.type)
        .With("key", entry.object_key)
        .With("records", static_cast<uint64_t>(w->batch.recs.size()))
        .With("error", st.message());
    ledger_->Forget(entry.object_key);
    w->batch.Clear();
    return true;
  }
  if (w->backup && backup_all_) BackupAll(w, entry);
  w->has_lambda_keys = false;
  if (w->transform && !Transform(w, entry)) return false;
  // A keyed prefix always goes the partitioned way, so that a batch without the keys is spilled
  // rather than named without them.
  // So does a batch of records with event times under a prefix with a timestamp: each object
  // holds the records of one rendering of the timestamp (the log's own hour, say).
  if (!partition_specs_.empty() || w->has_lambda_keys || prefix_->Keyed() ||
      (w->batch.has_event_time && prefix_->Timed()) || entry.object_key.empty()) {
    if (!SendPartitioned(w, entry)) return false;
  } else if (!w->batch.empty() &&
             w->sender->Send(w->batch, entry) == BatchSender::Outcome::kAborted) {
    return false;
  }
  // Abandoned by Stop while in a plugin call: a newer delivery may own the journal now.
  if (w->abandoned) return false;
  Commit(w, entry);
  return true;
}

void DeliveryStream::NoteSpill(Worker* w, const SpilledPart& part) {
  // Shared sources keep plans with their checkpoints, not here: a replay there may deliver a
  // spilled object as well (at least once).
  if (w->flushing == nullptr || source_->shared()) return;
  w->flushing->spilled.push_back(part);
  Status st = journal_->AddSpill(w->flushing->worker, part);
  if (!st.ok()) {
    counters_.errors++;
    SLUICE_LOG(Warn,
               "cannot record a spill in the batch journal; a crash before the checkpoint may "
               "deliver the spilled object too")
        .With("delivery", options_.name)
        .With("key", part.object_key)
        .With("error", st.message());
  }
}

void DeliveryStream::Commit(Worker* w, const JournalEntry& entry) {
  // Every shard of the batch in one durable write.
  std::vector<broker::ShardPosition>& positions = w->positions;
  positions.clear();
  for (const auto& r : entry.ranges) positions.push_back({r.shard, r.last + 1});
  bool moved = true;
  if (!positions.empty()) {
    // Retried until it is written (a full disk): going on to the next batch would leave this
    // one's journal entry behind, and after a crash the batches between the last checkpoint and
    // the next journaled one would be cut again with other bounds, under other keys (twice).
    // Not for a shared source: its batch's plan is kept with the source's checkpoint, and a
    // checkpoint refused because the shard moved to another instance (its lease taken) never
    // succeeds; retrying it held the worker, and every other shard of the instance, for good.
    Status st = source_->Checkpoint(positions);
    if (!st.ok() && source_->shared()) {
      counters_.errors++;
      SLUICE_LOG(Warn, "checkpoint failed; the shard's next reader replays the batch's plan")
          .With("delivery", options_.name)
          .With("sink", options_.sink.type)
          .With("shards", static_cast<uint64_t>(positions.size()))
          .With("error", st.message());
      st = Status::Ok();
    }
    for (int attempt = 1; !st.ok(); ++attempt) {
      counters_.errors++;
      if (attempt == 1) {
        SLUICE_LOG(Error, "checkpoint failed; retrying before the next batch")
            .With("delivery", options_.name)
            .With("sink", options_.sink.type)
            .With("shards", static_cast<uint64_t>(positions.size()))
            .With("error", st.message());
      }
      const int64_t wait_ms = std::min<int64_t>(int64_t{100} << std::min(attempt, 6), 5000);
      if (!stopper_.WaitUntil(clock_, clock_->MonotonicMs() + wait_ms)) break;
      st = source_->Checkpoint(positions);
    }
    if (!st.ok()) {
      moved = false;  // stopping: the journal replays the batch under the same key at the start
      SLUICE_LOG(Error,
                 "stopping before the checkpoint could be written; the batch will be "
                 "replayed under the same key")
          .With("delivery", options_.name)
          .With("error", st.message());
    }
  }
  if (moved && !source_->shared()) {
    Status st = journal_->Clear(entry.worker);
    if (!st.ok()) counters_.errors++;
  }
  w->batch.Clear();
  w->buffered = 0;
  w->oldest = 0;
}

bool DeliveryStream::SpillCrashed(Worker* w, const JournalEntry& entry, CallLedger::Deaths deaths) {
  const PendingBatch& b = w->batch;
  const uint32_t crashes = deaths.crashes + deaths.kills;
  const std::string message =
      deaths.crashes >= CallLedger::kMaxCrashes
          ? "the daemon crashed " + std::to_string(deaths.crashes) +
                " times in a plugin call on this batch (" + plugin_->name() + ")"
          : "the daemon ended " + std::to_string(deaths.kills) +
                " times without a fatal signal (killed, out of memory) in a plugin call on this "
                "batch (" +
                plugin_->name() + ")";
  std::vector<FailedRecord> failed;
  failed.reserve(b.recs.size());
  for (const auto& r : b.recs) {
    failed.push_back(
        {b.Data(r), r.arrival_ms, static_cast<int>(crashes), "Plugin.Crashed", message, {}, {}});
    SetPosition(r, &failed.back());
  }
  SLUICE_LOG(Error, "spilling a batch that crashed the daemon; the plugin is not called with it")
      .With("delivery", options_.name)
      .With("sink", options_.sink.type)
      .With("plugin", plugin_->name())
      .With("batch", entry.object_key)
      .With("records", static_cast<uint64_t>(failed.size()))
      .With("crashes", static_cast<uint64_t>(deaths.crashes))
      .With("kills", static_cast<uint64_t>(deaths.kills));
  if (!Spill(w, policy_.error_output_type, entry, "", failed)) return false;
  batches_crashed_++;
  Commit(w, entry);
  ledger_->Forget(entry.object_key);
  return true;
}

bool DeliveryStream::Transform(Worker* w, const JournalEntry& entry) {
  PendingBatch& b = w->batch;
  std::string ids;
  std::vector<size_t> id_end;
  for (const auto& r : b.recs) {
    ids.append(std::to_string(r.shard));
    ids.push_back('-');
    ids.append(std::to_string(r.offset));
    id_end.push_back(ids.size());
  }
  std::vector<TransformIn> in;
  size_t start = 0;
  for (size_t i = 0; i < b.recs.size(); ++i) {
    in.push_back({std::string_view(ids).substr(start, id_end[i] - start), b.recs[i].time_ms(),
                  b.Data(b.recs[i])});
    start = id_end[i];
  }
  // A plugin transform in the daemon's process can crash it: its calls are recorded.
  const bool plugin_call = options_.transform.kind == TransformOptions::Kind::kPlugin;
  if (plugin_call) {
    ledger_->Enter(w->index, options_.transform.plugin.c_str(), "on_transform",
                   clock_->MonotonicMs(), options_.transform.isolation == Isolation::kInProcess,
                   options_.transform.timeout.count());
  }
  std::vector<TransformOut> outs = w->transform->Apply(in);
  if (plugin_call) ledger_->Leave(w->index);
  std::string_view delimiter =
      plugin_->object_sink() ? std::string_view(options_.record_delimiter) : "";
  PendingBatch& t = w->transformed;
  t.Clear();
  w->lambda_keys.clear();
  std::vector<FailedRecord> failed;
  uint64_t dropped = 0;
  for (size_t i = 0; i < b.recs.size(); ++i) {
    const auto& r = b.recs[i];
    switch (outs[i].result) {
      case TransformOut::Result::kOk:
        w->has_lambda_keys |= !outs[i].partition_keys.empty();
        w->lambda_keys.push_back(std::move(outs[i].partition_keys));
        t.Add(r.shard,
              broker::RecordView{r.offset, r.arrival_ms, b.Key(r), outs[i].data, r.event_ms},
              delimiter, b.first_buffered_mono);
        break;
      case TransformOut::Result::kDropped:
        ++dropped;
        break;
      case TransformOut::Result::kProcessingFailed:
        failed.push_back(
            {b.Data(r), r.arrival_ms, 1, "Transform.ProcessingFailed", outs[i].error, {}, {}});
        SetPosition(r, &failed.back());
        break;
    }
  }
  if (!failed.empty() && !Spill(w, "processing-failed", entry, "", failed)) return false;
  counters_.records_dropped += dropped;
  // Keep the batch's identity (ranges, oldest arrival) for naming and checkpoints.
  t.ranges = b.ranges;
  t.oldest_arrival_ms = b.oldest_arrival_ms;
  t.oldest_time_ms = b.oldest_time_ms;
  t.first_buffered_mono = b.first_buffered_mono;
  std::swap(b, t);
  return true;
}

bool DeliveryStream::Spill(Worker* w, std::string_view type, const JournalEntry& entry,
                           std::string_view suffix, const std::vector<FailedRecord>& failed) {
  std::string name = entry.error_key.substr(entry.error_key.rfind('/') + 1);
  std::string key;
  {
    std::lock_guard<std::mutex> lock(rng_mu_);
    auto prefix = error_prefix_->Render(entry.oldest_arrival_ms, type, &rng_);
    key = (prefix.ok() ? *prefix : std::string(type) + "/") + name + std::string(suffix);
  }
  for (int attempt = 1;; ++attempt) {
    Status st = w->processing_errors->Write(key, failed, clock_->NowMs());
    if (st.ok()) break;
    counters_.errors++;
    SLUICE_LOG(Error, "cannot write the error output; retrying")
        .With("delivery", options_.name)
        .With("sink", options_.sink.type)
        .With("key", key)
        .With("error", st.message());
    if (!stopper_.WaitUntil(clock_, clock_->MonotonicMs() + 1000 * std::min(attempt, 30))) {
      return false;
    }
  }
  counters_.records_spilled += failed.size();
  counters_.objects_spilled++;
  if (!failed.empty()) {
    spill_warner_.Note(type, failed.front().error_code, failed.front().error_message, failed.size(),
                       clock_->MonotonicMs());
  }
  if (w->backup && !backup_all_) {
    BackupFailed(w, key, w->processing_errors->last_object(), entry);
  }
  return true;
}

void DeliveryStream::BackupAll(Worker* w, const JournalEntry& entry) {
  JournalEntry be = entry;
  std::string name = entry.error_key.substr(entry.error_key.rfind('/') + 1);
  {
    std::lock_guard<std::mutex> lock(rng_mu_);
    auto prefix = backup_prefix_->Render(w->batch.oldest_arrival_ms, "", &rng_);
    be.object_key = (prefix.ok() ? *prefix : "") + name;
    auto ep = error_prefix_->Render(w->batch.oldest_arrival_ms, "backup-failed", &rng_);
    be.error_key = (ep.ok() ? *ep : std::string("backup-failed/")) + name;
  }
  // kAborted leaves the journal entry: the replay sends the backup again, under the same key.
  (void)w->backup->Send(w->batch, be);
}

void DeliveryStream::BackupFailed(Worker* w, std::string_view key, std::string_view jsonl,
                                  const JournalEntry& entry) {
  PendingBatch& b = w->backup_batch;
  b.Clear();
  uint64_t i = 0;
  while (!jsonl.empty()) {
    size_t nl = jsonl.find('\n');
    size_t len = nl == std::string_view::npos ? jsonl.size() : nl + 1;
    b.Add(0, broker::RecordView{i++, entry.oldest_arrival_ms, {}, jsonl.substr(0, len)}, "", 0);
    jsonl.remove_prefix(len);
  }
  if (b.empty()) return;
  JournalEntry be = entry;
  be.object_key = std::string(key);
  be.error_key = std::string(key) + "-backup-failed";
  (void)w->backup->Send(b, be);
}

void DeliveryStream::SetPosition(const PendingBatch::Rec& r, FailedRecord* f) const {
  source_->Describe(r.shard, r.offset, f);
}

bool DeliveryStream::SendPartitioned(Worker* w, const JournalEntry& entry) {
  const PendingBatch& b = w->batch;
  std::map<std::map<std::string, std::string>, std::vector<size_t>> groups;
  std::vector<FailedRecord> failed;
  std::deque<std::string> messages;  // owns the messages `failed` points at
  JsonArena arena;
  for (size_t i = 0; i < b.recs.size(); ++i) {
    const auto& r = b.recs[i];
    auto keys =
        partition_specs_.empty()
            ? Result<std::map<std::string, std::string>>(std::map<std::string, std::string>{})
            : ExtractPartitionKeys(partition_specs_, b.Data(r), &arena);
    if (keys.ok() && w->has_lambda_keys) {
      for (const auto& [k, v] : w->lambda_keys[i]) keys->emplace(k, v);  // query keys win
    }
    if (keys.ok() && b.has_event_time) {
      // The time the prefix renders is a key too: no name a prefix can use starts with a
      // control character.
      keys->emplace("\x01time", prefix_->TimeBucket(r.time_ms()));
    }
    if (!keys.ok()) {
      messages.push_back(keys.status().message());
      failed.push_back(
          {b.Data(r), r.arrival_ms, 0, "PartitionKey.Invalid", messages.back(), {}, {}});
      SetPosition(r, &failed.back());
      continue;
    }
    auto it = groups.find(*keys);
    if (it == groups.end() &&
        groups.size() >= static_cast<size_t>(options_.max_active_partitions)) {
      failed.push_back({b.Data(r),
                        r.arrival_ms,
                        0,
                        "PartitionCountExceeded",
                        "more than max_active_partitions partitions in one buffer",
                        {},
                        {}});
      SetPosition(r, &failed.back());
      continue;
    }
    if (it == groups.end()) it = groups.emplace(std::move(*keys), std::vector<size_t>{}).first;
    it->second.push_back(i);
  }
  // Each group's prefix, before anything is sent: a group whose prefix cannot be rendered (a key
  // value that makes it longer than 512 characters, a key its records lack) is spilled whole,
  // never sent under another key.
  std::map<const std::map<std::string, std::string>*, std::string> prefixes;
  for (auto it = groups.begin(); it != groups.end();) {
    Result<std::string> prefix = [&] {
      std::lock_guard<std::mutex> lock(rng_mu_);
      int64_t oldest = b.recs[it->second.front()].time_ms();
      for (size_t i : it->second) oldest = std::min(oldest, b.recs[i].time_ms());
      return prefix_->Render(oldest, "", &rng_, &it->first);
    }();
    if (prefix.ok()) {
      prefixes[&it->first] = std::move(*prefix);
      ++it;
      continue;
    }
    messages.push_back("prefix: " + prefix.status().message());
    for (size_t i : it->second) {
      const auto& r = b.recs[i];
      failed.push_back(
          {b.Data(r), r.arrival_ms, 0, "PartitionKey.Invalid", messages.back(), {}, {}});
      SetPosition(r, &failed.back());
    }
    it = groups.erase(it);
  }
  if (!failed.empty() && !Spill(w, "partitioning-failed", entry, "", failed)) return false;
  std::string name = entry.error_key.substr(entry.error_key.rfind('/') + 1);
  std::string ext = std::string(CompressionExtension(options_.compression)) +
                    (options_.encryption_keyring.empty() ? "" : ".enc");
  std::string_view delimiter =
      plugin_->object_sink() ? std::string_view(options_.record_delimiter) : "";
  PendingBatch& sub = w->transformed;
  int k = 0;
  for (const auto& [keys, members] : groups) {
    sub.Clear();
    for (size_t i : members) {
      const auto& r = b.recs[i];
      sub.Add(r.shard, broker::RecordView{r.offset, r.arrival_ms, b.Key(r), b.Data(r), r.event_ms},
              delimiter, b.first_buffered_mono);
    }
    JournalEntry pe = entry;
    // The object's id is the batch's, drawn again with the group's keys: stable across a replay
    // of the batch, and distinct per group even where two groups' prefixes render alike.
    std::string key_text = name;
    for (const auto& [k_name, k_value] : keys) key_text += "\n" + k_name + "=" + k_value;
    std::string group_name = name.substr(0, name.size() - 36) + StableId(key_text);
    if (b.has_event_time) {
      // Split by the records' own times: each object is named by its own oldest record.
      int64_t oldest = b.recs[members.front()].time_ms();
      for (size_t i : members) oldest = std::min(oldest, b.recs[i].time_ms());
      group_name = ObjectName(options_.name, options_.version, oldest, StableId(key_text));
    }
    pe.object_key = prefixes[&keys] + group_name + ext;
    pe.error_key = entry.error_key + "-" + std::to_string(k++);
    if (w->sender->Send(sub, pe) == BatchSender::Outcome::kAborted) return false;
  }
  return true;
}

void DeliveryStream::Recover(Worker* w) {
  auto pending = journal_->Pending();
  if (source_->shared() && pending.ok()) {
    // Replays come from the plans kept with the source's checkpoints, by whichever instance
    // reads each shard next; entries left here name shards of a previous assignment.
    for (const JournalEntry& e : *pending) (void)journal_->Clear(e.worker);
    return;
  }
  if (!pending.ok()) {
    counters_.errors++;
    SLUICE_LOG(Error, "cannot read the batch journal")
        .With("delivery", options_.name)
        .With("sink", options_.sink.type)
        .With("error", pending.status().message());
    return;
  }
  std::string_view delimiter =
      plugin_->object_sink() ? std::string_view(options_.record_delimiter) : "";
  // Worker 0's own entry first: replays are journaled in its slot, which must not overwrite an
  // entry not yet replayed.
  std::sort(pending->begin(), pending->end(),
            [](const JournalEntry& a, const JournalEntry& b) { return a.worker < b.worker; });
  broker::ReadBatch& rb = w->read;
  for (JournalEntry& e : *pending) {
    bool done = true;
    for (const auto& r : e.ranges) {
      auto ck = source_->GetCheckpoint(r.shard);
      if (!ck.ok() || *ck <= r.last) done = false;
    }
    if (!done) {
      PendingBatch& b = w->batch;
      b.Clear();
      for (const auto& r : e.ranges) {
        uint64_t off = r.first;
        while (off <= r.last) {
          if (!source_->Read(r.shard, off, broker::ReadLimits{}, &rb).ok() || rb.records.empty()) {
            break;
          }
          for (const auto& rec : rb.records) {
            if (rec.offset >= r.first && rec.offset <= r.last) b.Add(r.shard, rec, delimiter, 0);
          }
          off = rb.next_offset;
        }
      }
      SLUICE_LOG(Info, "replaying a journaled batch")
          .With("delivery", options_.name)
          .With("sink", options_.sink.type)
          .With("key", e.object_key)
          .With("records", static_cast<uint64_t>(b.recs.size()));
      int worker = e.worker;
      e.worker = w->index;
      e.replay = true;
      if (CallLedger::Deaths deaths = ledger_->DeathsOf(e.object_key);
          deaths.poison() && !b.empty()) {
        if (!SpillCrashed(w, e, deaths)) return;
      } else if (!b.empty() && !Flush(w, e)) {
        return;
      }
      e.worker = worker;
      counters_.batches_replayed++;
    }
    if (e.worker != w->index || done) {
      Status st = journal_->Clear(e.worker);
      if (!st.ok()) counters_.errors++;
    }
  }
}

}  // namespace sluice::buffer
