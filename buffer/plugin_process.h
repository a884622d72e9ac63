// `isolation: process`: a plugin instance in a child process, so that a crash or a hang of the
// plugin kills only the child.
//
// The child is the daemon's own executable re-run as `sluice plugin-host --fd N` (never a fork
// without exec: the daemon is multi-threaded). It loads the plugin with PluginHost::LoadFile (the
// same ABI checks), creates one InProcessSinkInstance from the options the parent validated and
// sends, and serves calls. Transport: a SOCK_SEQPACKET socket pair for small messages (one request
// and one reply per call; the plugin's log lines and counters, forwarded to the parent) and a
// shared memory file (memfd, passed with SCM_RIGHTS, grown by either side when a batch or an
// answer is larger) for requests and answers: batch fields, outcomes and transform outputs.
// Objects and records the delivery built in a shared region (SharedBytes: the batch buffers of a
// delivery with a plugin child) are not copied: the region's memory file is passed to the child
// once, which maps it read-only, and the request says where the bytes are. Bytes elsewhere are
// copied into the request. The child loads the plugin from the parent's private (sealed) copy,
// passed with the create request, so it runs exactly the code the parent checked.
//
// Failures: the child dying during a call (SIGSEGV, abort, exit) answers SLUICE_DELIVER_RETRY with
// error code Plugin.Crashed; a call older than the call timeout kills the child (SIGKILL) and
// answers RETRY with Plugin.Timeout; the aborted predicate turning true (stop's grace passed) does
// the same with Plugin.Aborted. The next call starts a new child (on_create again), after a
// back-off of 100 ms doubling to 5 s between restarts.
//
// THREADING: as every SinkInstance: calls never overlap; the counters are atomics.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "buffer/plugin_host.h"
#include "buffer/shared_bytes.h"

namespace sluice::buffer {

// The child's side: serves the parent on the socket `fd` until it closes or sends destroy.
// Returns the process exit code. Called by `sluice plugin-host --fd N`.
int PluginChildMain(int fd);

// Children of destroyed instances still exiting (they are reaped aside, not waited for): for a
// benchmark that counts its reaped children's CPU.
int PluginChildrenExiting();

class ProcessSinkInstance final : public SinkInstance {
 public:
  // Starts the child and creates the instance there; fails as on_create fails.
  static Result<std::unique_ptr<ProcessSinkInstance>> Create(const Plugin* plugin,
                                                             const ValidatedOptions& options,
                                                             std::string delivery,
                                                             PluginCounters* counters,
                                                             const IsolationOptions& isolation);
  // Sends destroy (on_destroy in the child), waits briefly, then kills the child.
  ~ProcessSinkInstance() override;

  int Deliver(const sluice_batch& batch, sluice_deliver_result* result) override;
  int Transform(const sluice_record* records, size_t count,
                sluice_transform_output* outputs) override;
  Status Healthcheck() override;

  uint64_t child_restarts() const override { return restarts_.load(); }
  uint64_t child_crashes() const override { return crashes_.load(); }
  uint64_t child_timeouts() const override { return timeouts_.load(); }
  // The running child's pid; -1 when none runs (it died and is not restarted yet).
  pid_t child_pid() const { return pid_; }
  // The size of the last request written to the shared memory: bytes that were in a shared
  // region (SharedBytes) are not in it, only their place.
  uint64_t last_request_bytes() const { return last_request_bytes_; }

 private:
  struct Shm {
    int fd = -1;
    char* base = nullptr;
    size_t size = 0;
  };
  // How a call ended.
  enum class Ended { kReply, kCrashed, kTimeout, kAborted };
  struct Reply {
    Ended ended = Ended::kReply;
    int32_t rc = 0;
    uint64_t offset = 0, len = 0;  // the answer in shared memory
    std::string text;              // inline payload (create's error)
    std::string error;             // not kReply: what happened, for the caller's message
  };

  // What a call was about, for log lines.
  struct CallLabel {
    std::string_view batch_id, key;
  };

  ProcessSinkInstance(const Plugin* plugin, const ValidatedOptions& options, std::string delivery,
                      PluginCounters* counters, const IsolationOptions& isolation);
  // Spawns a child and creates the instance in it.
  Status Start();
  // Before a call: a child that runs, started again (after the back-off) when the last one died.
  // When there is none, why not: kCancelled while the delivery is stopping (answered RETRY with
  // Plugin.Aborted), else the start's error (RETRY with Plugin.CreateFailed).
  Status EnsureChild();
  // Whether [p, p + len) is in a shared region (SharedBytes) the child maps, now that it was
  // offered to the child (its descriptor passed once per child). *region is it.
  bool Offer(const void* p, size_t len, SharedRegion* region);
  // Makes the shared memory at least `n` bytes (mapped here).
  bool EnsureShm(size_t n);
  // Sends a request whose payload is shm[0, len) and waits for its answer, forwarding log lines
  // and counters meanwhile. `call` names the ABI function; `label` the batch, for log lines.
  Reply Call(uint32_t type, uint64_t len, const char* call, const CallLabel& label,
             std::chrono::milliseconds timeout, bool check_aborted);
  // Adds the counts a reply carries (see kReply).
  void AddCounts(std::string_view encoded);
  // The child is gone or killed: reap it, close the socket, count, log.
  void Lost(Reply* reply, const char* call, const CallLabel& label);
  void KillChild();

  ValidatedOptions options_;
  std::string delivery_;
  PluginCounters* counters_;
  IsolationOptions isolation_;
  pid_t pid_ = -1;
  int sock_ = -1;
  Shm shm_;
  bool destroying_ = false;  // counters are no longer added (the owner may be going)
  int64_t restart_at_ms_ = 0;
  int64_t backoff_ms_ = 0;  // 0: no failure since the last good call
  std::atomic<uint64_t> restarts_{0}, crashes_{0}, timeouts_{0};
  std::vector<sluice_record_outcome> scratch_outcomes_;
  std::vector<uint64_t> child_regions_;  // the shared regions the running child maps
  uint64_t last_request_bytes_ = 0;
};

}  // namespace sluice::buffer
