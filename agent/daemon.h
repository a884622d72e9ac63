// The daemon: one libuv loop that owns the agent flows, the API server, the admin endpoint and the
// signal handlers, plus the delivery streams' worker threads and the broker's maintenance thread
// (group commit and retention, which block on the disk and so stay off the loop).
//
// Lifecycle: Create() opens the broker and builds every component from the config; Run() runs the
// loop until SIGINT or SIGTERM; then flows stop reading and write their last checkpoints, the
// delivery streams flush within their grace period, the broker syncs, every handle is closed and
// the loop is closed (uv_loop_close() == 0). SIGHUP is reserved for reload and only logged.
//
// THREADING: all methods are called on the thread that runs the loop.
#pragma once

#include <uv.h>

#include <memory>

#include "agent/admin.h"
#include "agent/config/config.h"
#include "core/status.h"

namespace sluice::agent {

class Daemon final {
 public:
  // Checks what the config loader cannot check alone (for `sluice check`): plugins exist and
  // accept their sink sections.
  static Status Validate(const config::Config& config);
  // Creates the daemon, runs it until a stop signal, and shuts it down cleanly.
  static Status RunUntilSignal(const config::Config& config);

  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  ~Daemon();

 private:
  struct State;
  explicit Daemon(std::unique_ptr<State> state);
  Status Start();
  Status Run();
  void BeginStop();
  void FinishStop();
  AdminSnapshot Snapshot() const;

  std::unique_ptr<State> s_;
};

}  // namespace sluice::agent
