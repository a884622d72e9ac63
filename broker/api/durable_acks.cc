#include "broker/api/durable_acks.h"

#include <algorithm>
#include <shared_mutex>

#include "broker/api/kinesis_api.h"
#include "core/log.h"

namespace sluice::broker::api {

DurableWait WaitFor(const Stream& stream, uint64_t generation) {
  if (stream.DurableGeneration() >= generation) return {};
  return DurableWait{stream.name(), generation};
}

Result<std::unique_ptr<DurableAcks>> DurableAcks::Create(uv_loop_t* loop, Broker* broker,
                                                         FailureAnswer on_failure) {
  std::unique_ptr<DurableAcks> d(new DurableAcks(broker, std::move(on_failure)));
  if (int rc = uv_async_init(loop, &d->async_,
                             [](uv_async_t* h) { static_cast<DurableAcks*>(h->data)->Deliver(); });
      rc != 0) {
    return Internal(std::string("uv_async_init: ") + uv_strerror(rc));
  }
  d->async_.data = d.get();
  d->thread_ = std::thread([raw = d.get()] { raw->Run(); });
  return d;
}

DurableAcks::DurableAcks(Broker* broker, FailureAnswer on_failure)
    : broker_(broker), on_failure_(std::move(on_failure)) {}

DurableAcks::~DurableAcks() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void DurableAcks::Hold(DurableWait wait, std::shared_ptr<http::HttpResponder> responder,
                       http::HttpResponse response) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.push_back({std::move(wait), std::move(responder), std::move(response)});
  }
  cv_.notify_one();
}

void DurableAcks::Run() {
  std::vector<Held> batch;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) return;  // stopping, and nothing held
      batch.swap(pending_);
    }
    Commit(batch);
    {
      std::lock_guard<std::mutex> lock(mu_);
      held_ += batch.size();
      std::move(batch.begin(), batch.end(), std::back_inserter(ready_));
    }
    batch.clear();
    uv_async_send(&async_);
  }
}

// One Sync per stream for every put of the batch: the commit takes the stream's write generation
// when it starts, which every held put's generation is at most.
void DurableAcks::Commit(std::vector<Held>& batch) {
  std::sort(batch.begin(), batch.end(),
            [](const Held& a, const Held& b) { return a.wait.stream < b.wait.stream; });
  for (size_t i = 0; i < batch.size();) {
    size_t end = i;
    uint64_t need = 0;
    while (end < batch.size() && batch[end].wait.stream == batch[i].wait.stream) {
      need = std::max(need, batch[end].wait.generation);
      ++end;
    }
    Status st;
    {
      // A stream deleted since took its records with it: nothing left to commit for them.
      std::shared_lock<std::shared_mutex> removal(StreamRemovalLock());
      Result<Stream*> s = broker_->GetStream(batch[i].wait.stream);
      if (s.ok() && (*s)->DurableGeneration() < need) {
        st = (*s)->Sync();
        std::lock_guard<std::mutex> lock(mu_);
        ++commits_;
      }
    }
    // Logged when commits start failing and when they recover, not for every put.
    if (!st.ok() && !failing_) {
      SLUICE_LOG(Error, "kinesis api: puts not made durable, answered as failed")
          .With("stream", batch[i].wait.stream)
          .With("error", st.ToString());
    } else if (st.ok() && failing_) {
      SLUICE_LOG(Info, "kinesis api: puts made durable again");
    }
    failing_ = !st.ok();
    if (!st.ok()) {
      for (size_t k = i; k < end; ++k) on_failure_(&batch[k].response, st);
    }
    i = end;
  }
}

void DurableAcks::Deliver() {
  std::vector<Held> ready;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ready.swap(ready_);
  }
  for (Held& h : ready) h.responder->Complete(std::move(h.response));
}

void DurableAcks::Stop(std::function<void()> on_closed) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  Deliver();
  on_closed_ = std::move(on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), [](uv_handle_t* h) {
    auto* self = static_cast<DurableAcks*>(h->data);
    if (self->on_closed_) self->on_closed_();
  });
}

uint64_t DurableAcks::commits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return commits_;
}

uint64_t DurableAcks::held() const {
  std::lock_guard<std::mutex> lock(mu_);
  return held_;
}

}  // namespace sluice::broker::api
