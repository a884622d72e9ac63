// DurableAcks: answers to puts held until their records are durable.
//
// A PutRecords (PutRecord, Firehose PutRecordBatch and PutRecord) answered with a sequence number
// is an acknowledgement: the client drops its copy. So the answer goes out only once the stream's
// group commit covers the records (Stream::DurableGeneration reaches the put's generation), as the
// stream's fsync policy defines it: `always` streams are durable when PutBatch returns, `never`
// streams at once (they are exempt: a power cut may lose what they acknowledged), `interval`
// streams here. A put that finds its records durable already is answered at once; the others are
// handed to this object, whose thread commits (Stream::Sync) for every put that waited: all the
// puts that arrived while one commit ran share the next one, one fdatasync per dirty shard. A
// commit that fails turns the held answers into errors (the client puts again).
//
// THREADING: Hold from any thread; the answers are completed on the loop's thread (an async
// handle). Create and Stop on the loop's thread. OWNERSHIP: the loop and the broker are not owned
// and must outlive this object, which must live until Stop's callback has run.
#pragma once

#include <uv.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "broker/broker.h"
#include "core/http/http_server.h"
#include "core/status.h"

namespace sluice::broker::api {

// What a put's answer waits for: `stream`'s DurableGeneration() to reach `generation`. An empty
// stream name: nothing (answer at once).
struct DurableWait {
  std::string stream;
  uint64_t generation = 0;
};

// After a put to `stream` that was given generation `generation` (WriteGeneration() read after
// PutBatch): what its answer must wait for, nothing when the records are durable already.
DurableWait WaitFor(const Stream& stream, uint64_t generation);

class DurableAcks final {
 public:
  // `on_failure` turns a held answer into the error the client gets when its commit failed (on
  // the commit thread).
  using FailureAnswer = std::function<void(http::HttpResponse*, const Status&)>;
  static Result<std::unique_ptr<DurableAcks>> Create(uv_loop_t* loop, Broker* broker,
                                                     FailureAnswer on_failure);
  ~DurableAcks();
  DurableAcks(const DurableAcks&) = delete;
  DurableAcks& operator=(const DurableAcks&) = delete;

  // Completes `response` through `responder` once `wait` is met (or the commit failed).
  void Hold(DurableWait wait, std::shared_ptr<http::HttpResponder> responder,
            http::HttpResponse response);

  // Commits and answers every held put, then closes the async handle; `on_closed` runs on the
  // loop once it is closed. Hold must not be called any more.
  void Stop(std::function<void()> on_closed);

  // Commits made for held puts, and the puts held (for tests).
  uint64_t commits() const;
  uint64_t held() const;

 private:
  struct Held {
    DurableWait wait;
    std::shared_ptr<http::HttpResponder> responder;
    http::HttpResponse response;
  };
  DurableAcks(Broker* broker, FailureAnswer on_failure);
  void Run();
  void Commit(std::vector<Held>& batch);
  void Deliver();

  Broker* broker_;
  FailureAnswer on_failure_;
  uv_async_t async_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Held> pending_;  // waiting for the next commit
  std::vector<Held> ready_;    // committed, to be completed on the loop
  bool stopping_ = false;
  uint64_t commits_ = 0;
  uint64_t held_ = 0;
  bool failing_ = false;  // the last commit failed (commit thread only)
  std::function<void()> on_closed_;
};

}  // namespace sluice::broker::api
