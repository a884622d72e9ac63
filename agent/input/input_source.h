// InputSource: the base of the sources that are not file tails (agent/input). It owns the
// InputPublisher and the source's libuv handles (UvHandle: memory freed in the close callback),
// and sequences a stop: the source stops reading and closes its handles, then the publisher puts
// what is left, syncs and closes. CreateInputSource builds the source of a `sources[].type`.
//
// THREADING: loop thread only.
// OWNERSHIP: `loop`, `stream` and `clock` are not owned and must outlive the source. After Start,
// a source may be destroyed only once its Stop callback has run.
#pragma once

#include <uv.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "agent/input/input_publisher.h"
#include "agent/tail/flow_options.h"
#include "agent/tail/source.h"
#include "broker/broker.h"
#include "core/clock.h"
#include "core/status.h"

namespace sluice::agent {

class InputSource;

// A libuv handle of an input source, heap-allocated and freed by its close callback.
struct UvHandle {
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_pipe_t pipe;
    uv_tty_t tty;
    uv_tcp_t tcp;
    uv_udp_t udp;
    uv_timer_t timer;
    uv_process_t process;
    uv_poll_t poll;
  };
  InputSource* owner = nullptr;
  void* user = nullptr;  // the source's own state for this handle (a connection, ...)
  bool closing = false;
};

class InputSource : public Source {
 public:
  ~InputSource() override;
  void Stop(std::function<void()> on_closed) final;
  FlowStats stats() const override { return publisher_->stats(); }
  const FlowOptions& options() const final { return opts_; }

 protected:
  InputSource(uv_loop_t* loop, const FlowOptions& opts, std::unique_ptr<InputPublisher> publisher);
  // Stops reading and closes (CloseHandle) every handle the source holds.
  virtual void StopReading() = 0;
  // A new handle (initialize it with the matching uv_*_init) owned by this source.
  UvHandle* NewHandle(void* user = nullptr);
  // Closes `h` (once); its memory is freed in the close callback, which then calls `on_closed`
  // of the source (for connection bookkeeping) when set.
  void CloseHandle(UvHandle* h);
  virtual void OnHandleClosed(UvHandle* /*h*/) {}
  bool stopping() const { return stopping_; }

  uv_loop_t* loop_;
  const FlowOptions opts_;
  std::unique_ptr<InputPublisher> publisher_;

 private:
  static void OnClosed(uv_handle_t* h);
  void MaybeFinishStop();
  int handles_ = 0;
  bool stopping_ = false;
  bool finished_ = false;
  std::function<void()> on_closed_;
};

// The source of `opts.type` (not kFile): syslog, stdin, exec or journal. `checkpoint_dir` holds
// what the source checkpoints (the journal's cursor).
Result<std::unique_ptr<Source>> CreateInputSource(uv_loop_t* loop, const FlowOptions& opts,
                                                  broker::Stream* stream,
                                                  const std::filesystem::path& checkpoint_dir,
                                                  Clock* clock);

}  // namespace sluice::agent
