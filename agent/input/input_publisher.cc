#include "agent/input/input_publisher.h"

#include <unistd.h>

#include <random>

#include "core/log.h"

namespace sluice::agent {
namespace {

constexpr int64_t kTickMs = 50;  // durability checks and retries

}  // namespace

Result<std::unique_ptr<InputPublisher>> InputPublisher::Create(uv_loop_t* loop,
                                                               const FlowOptions& opts,
                                                               broker::Stream* stream,
                                                               Clock* clock) {
  const std::string where = "sources[" + opts.name + "]";
  if (loop == nullptr || stream == nullptr || clock == nullptr) {
    return InvalidArgument(where + ": loop, stream and clock are required");
  }
  std::unique_ptr<InputPublisher> p(new InputPublisher(loop, opts, stream, clock));
  auto proc = Processor::Create(opts.processing);
  if (!proc.ok()) return proc.status().Annotate(where);
  p->processor_ = std::move(*proc);
  auto keyer =
      PartitionKeyer::Create(opts.partition_key, opts.partition_key_arg,
                             std::random_device{}() | (uint64_t{std::random_device{}()} << 32));
  if (!keyer.ok()) return keyer.status().Annotate(where);
  p->keyer_ = std::move(*keyer);
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) == 0) p->host_ = host;
  return p;
}

InputPublisher::InputPublisher(uv_loop_t* loop, const FlowOptions& opts, broker::Stream* stream,
                               Clock* clock)
    : loop_(loop),
      opts_(opts),
      stream_(stream),
      hold_(stream->Hold("source " + opts.name, "")),
      clock_(clock),
      putter_(stream, opts.name, opts.batch_max_records, opts.batch_max_bytes) {}

InputPublisher::~InputPublisher() { stream_->Release(hold_); }

void InputPublisher::Start() {
  if (started_) return;
  started_ = true;
  for (uv_timer_t* t : {&kick_, &tick_}) {
    uv_timer_init(loop_, t);
    t->data = this;
    ++open_handles_;
  }
  uv_timer_start(&tick_, OnTick, kTickMs, kTickMs);
}

void InputPublisher::Add(std::string_view record, std::string_view origin, uint64_t position) {
  std::string_view out = record;
  bool skip = false;
  int64_t event_ms = broker::kNoEventTime;
  if (!processor_->empty()) {
    RecordContext ctx{origin, position, clock_->NowMs(), host_, opts_.name};
    ProcessResult r = processor_->Process(record, ctx);
    out = r.data;
    if (r.has_event_time) event_ms = r.event_ms;
    if (r.dropped) {
      ++stats_.records_dropped;
      skip = true;  // nothing to put; its position still becomes durable in order
    } else if (r.unparsed) {
      ++stats_.parse_failures;
    }
  }
  if (out.size() > (1u << 20)) {  // processing made it larger than a stream record may be
    out = out.substr(0, 1u << 20);
    ++stats_.records_truncated;
  }
  Entry e{};
  e.position = position;
  e.done = skip;
  e.event_ms = event_ms;
  e.key_off = static_cast<uint32_t>(arena_.size());
  if (!skip) {
    e.has_hash_key = keyer_->AppendKey(out, origin, &arena_, &e.hash_key);
    e.key_len = static_cast<uint32_t>(arena_.size() - e.key_off);
    e.data_off = static_cast<uint32_t>(arena_.size());
    arena_.append(out);
    e.data_len = static_cast<uint32_t>(out.size());
  }
  batch_.push_back(e);
  if (batch_.size() >= static_cast<size_t>(opts_.batch_max_records) ||
      arena_.size() >= opts_.batch_max_bytes) {
    if (!refused_) Flush();
  } else {
    Kick();
  }
}

bool InputPublisher::Flush() {
  if (batch_.empty()) {
    refused_ = false;
    return true;
  }
  PutOutcome put = putter_.Put(arena_, batch_, &stats_);
  const uint64_t gen = stream_->WriteGeneration();
  size_t done = 0;
  while (done < batch_.size() && batch_[done].done) ++done;
  if (done > 0) pending_.push_back({gen, batch_[done - 1].position});
  if (!put.all_ok) {
    // What was put stays out of the retry; its bytes stay in arena_ until the rest is put.
    batch_.erase(batch_.begin(), batch_.begin() + static_cast<std::ptrdiff_t>(done));
    putter_.NoteRefusal(put, refused_, &stats_);
    refused_ = true;
    retry_at_ms_ = clock_->MonotonicMs() + PutRetryDelayMs(retry_attempt_++);
    return false;
  }
  if (refused_) SLUICE_LOG(Info, "stream accepts records again").With("flow", opts_.name);
  const bool resumed = refused_ || arena_.size() >= opts_.max_buffer_bytes;
  refused_ = false;
  retry_attempt_ = 0;
  batch_.clear();
  arena_.clear();
  if (resumed && on_accepting_ && !closing_) on_accepting_();
  return true;
}

void InputPublisher::AdvanceDurable() {
  if (pending_.empty()) return;
  const uint64_t durable = stream_->DurableGeneration();
  bool any = false;
  uint64_t position = 0;
  while (!pending_.empty() && pending_.front().generation <= durable) {
    position = pending_.front().position;
    any = true;
    pending_.pop_front();
  }
  if (any && on_durable_) on_durable_(position);
}

void InputPublisher::FlushAndSync() {
  if (!refused_) Flush();
  Status st = stream_->Sync();
  if (!st.ok()) SLUICE_LOG(Warn, "stream sync failed").With("error", st.ToString());
  AdvanceDurable();
}

void InputPublisher::Close(std::function<void()> on_closed) {
  if (closing_) return;
  closing_ = true;
  on_closed_ = std::move(on_closed);
  if (!batch_.empty()) Flush();  // once: a stop does not wait for a refusing stream
  Status st = stream_->Sync();
  if (!st.ok()) SLUICE_LOG(Warn, "stream sync at stop failed").With("error", st.ToString());
  AdvanceDurable();
  if (!batch_.empty()) {
    SLUICE_LOG(Warn, "records not accepted by the stream at stop are lost")
        .With("flow", opts_.name)
        .With("records", static_cast<uint64_t>(batch_.size()));
  }
  if (open_handles_ == 0) {
    auto cb = std::move(on_closed_);
    if (cb) cb();
    return;
  }
  for (uv_timer_t* t : {&kick_, &tick_}) {
    uv_timer_stop(t);
    uv_close(reinterpret_cast<uv_handle_t*>(t), [](uv_handle_t* h) {
      auto* self = static_cast<InputPublisher*>(h->data);
      if (--self->open_handles_ == 0 && self->on_closed_) {
        auto cb = std::move(self->on_closed_);
        cb();
      }
    });
  }
}

void InputPublisher::Kick() {
  if (kick_armed_ || !started_ || closing_ || refused_) return;
  kick_armed_ = true;
  uv_timer_start(&kick_, OnKick, 0, 0);
}

void InputPublisher::OnKick(uv_timer_t* t) {
  auto* self = static_cast<InputPublisher*>(t->data);
  self->kick_armed_ = false;
  if (!self->refused_) self->Flush();
}

void InputPublisher::OnTick(uv_timer_t* t) {
  auto* self = static_cast<InputPublisher*>(t->data);
  if (self->closing_) return;
  if (self->refused_ && self->clock_->MonotonicMs() >= self->retry_at_ms_) self->Flush();
  self->AdvanceDurable();
}

FlowStats InputPublisher::stats() const {
  FlowStats s = stats_;
  s.partition_key_fallbacks = keyer_->fallbacks();
  if (processor_) s.steps = processor_->stats();
  return s;
}

}  // namespace sluice::agent
