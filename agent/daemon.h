// The daemon: one libuv loop that owns the agent flows, the API server, the admin endpoint and the
// signal handlers, plus the delivery streams' worker threads and the broker's maintenance thread
// (group commit and retention, which block on the disk and so stay off the loop).
//
// Lifecycle: Create() opens the broker and builds every component from the config; Run() runs the
// loop until SIGINT or SIGTERM; then flows stop reading and write their last checkpoints, the
// delivery streams flush within their grace period, the broker syncs, every handle is closed and
// the loop is closed (uv_loop_close() == 0).
//
// Reload (SIGHUP or POST /reload on the admin endpoint): the config file is read again and
// validated; if invalid, its errors are logged (and answered) and nothing changes. Otherwise the
// broker's keyring is replaced by the one the loader read again (a key appended is a rotation),
// and the entries whose YAML changed are replaced: new streams are created (a changed shard
// count, retention or encryption is applied to the existing stream; a removed stream keeps its
// data), removed or changed flows stop (putting what they read and checkpointing), then removed
// or changed deliveries stop (flushing and checkpointing their consumer), then the new
// deliveries and flows start and resume from those checkpoints. Admin, broker (except
// broker.encryption), data_dir and plugin_dirs changes need a restart; a reload says so in its
// answer. At start an existing stream whose entry has an encryption section takes that
// encryption.
//
// With NOTIFY_SOCKET set (systemd Type=notify), READY=1 is sent once started, RELOADING=1 and
// READY=1 around a reload and STOPPING=1 on stop.
//
// THREADING: all methods are called on the thread that runs the loop.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "agent/admin.h"
#include "agent/config/config.h"
#include "core/status.h"

namespace sluice::agent {

class Daemon final {
 public:
  // Checks what the config loader cannot check alone: every delivery through
  // buffer::PlanDelivery (plugins exist and accept their sections, buffering and retry ranges,
  // prefixes, keyring), adding each problem to `errors` with its position. The loader's
  // ExtraCheck of `check`, `run` and reload, so all three refuse the same things at once.
  static void CheckDeliveries(const config::Config& config, config::ErrorList* errors);
  // Creates the daemon, runs it until a stop signal, and shuts it down cleanly. `config` was
  // loaded with CheckDeliveries as its ExtraCheck (as `sluice run` loads it), so every error is
  // reported before anything starts.
  static Status RunUntilSignal(const config::Config& config);

  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  ~Daemon();

  struct State;

 private:
  explicit Daemon(std::unique_ptr<State> state);
  Status Start();
  Status Run();
  void BeginStop();
  void FinishStop();
  AdminSnapshot Snapshot();
  // Reads and applies the config file again; `done` gets the answer (daemon_reload.cc).
  void Reload(std::function<void(ReloadReply)> done);
  void ApplyReload(config::Config next, std::map<std::string, std::string> fingerprints,
                   std::string notes);

  std::unique_ptr<State> s_;
};

// Sends a systemd notification ("READY=1", ...) to $NOTIFY_SOCKET if set; a no-op otherwise.
void NotifySystemd(std::string_view message);

}  // namespace sluice::agent
