// The call ledger: which plugin call each delivery worker is in, kept in a shared file mapping
// (<state_dir>/calls) so that it outlives a crash of the process. A plugin runs in the daemon's
// process by default, so a segfault in on_deliver kills the daemon; on the next start the ledger
// tells which plugin, call and batch it died in, and counts such crashes per batch. The delivery
// spills a batch that crashed the daemon kMaxCrashes times (errorCode Plugin.Crashed) instead of
// calling the plugin with it again: a poison batch cannot make a crash loop.
//
// The mapping is written with plain stores to shared memory (no syscall per call): a crashed
// process's stores stay in the page cache. A power loss may lose them; that costs at most a
// crash count, never a record.
//
// Also installed, once per process: a handler of fatal signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE,
// SIGABRT) that writes one line to stderr naming the plugin call the crashing thread was in, then
// lets the previous handler (the default, or a sanitizer's) take the signal.
//
// THREADING: each slot belongs to one worker thread (Enter/Leave on it); Begin, Forget and
// CrashesOf read other slots' batches, under one mutex (once per batch); CallAge and CallStuck
// may run on any thread. A worker abandoned by Stop may still Leave its slot after
// another ledger reopened the file: a slot is cleared only by the ledger that entered it.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sluice::buffer {

class CallLedger final {
 public:
  static constexpr uint32_t kMaxCrashes = 3;
  static constexpr int kSlots = 64;  // one per worker: deliveries[].concurrency is at most 64

  // A call the previous run died in.
  struct Crash {
    std::string plugin, call, batch;
    uint32_t count = 0;  // crashes of this process on this batch so far
  };

  // Opens (creating) the ledger file; records every slot left in a call as a crash.
  static Result<std::unique_ptr<CallLedger>> Open(const std::filesystem::path& path,
                                                  std::string_view delivery);
  ~CallLedger();
  CallLedger(const CallLedger&) = delete;
  CallLedger& operator=(const CallLedger&) = delete;

  struct Slot;  // the layout of one slot in the file

  const std::vector<Crash>& crashes_found() const { return crashes_found_; }
  // Crashes recorded against `batch` (an object key or request id), in any slot.
  uint32_t CrashesOf(std::string_view batch) const;

  // Worker `slot` starts on `batch`; its crash count follows it from any other slot.
  void Begin(int slot, std::string_view batch);
  // Forgets `batch` (spilled or done) in every slot.
  void Forget(std::string_view batch);
  // About to call `call` of `plugin`; `durable`: record it in the file (in-process calls; a call
  // into a child process cannot crash the daemon and is only timed). `timeout_ms`: past this age
  // the call is stuck (CallStuck).
  void Enter(int slot, const char* plugin, const char* call, int64_t now_mono_ms, bool durable,
             int64_t timeout_ms);
  void Leave(int slot);
  // Stop gave up waiting for the call in `slot`: the next start must not count it as a crash.
  void Abandon(int slot);
  // The age of the oldest call running now, in ms (0: none).
  int64_t OldestCallAgeMs(int64_t now_mono_ms) const;
  // Whether a call running now is older than the timeout it entered with.
  bool CallStuck(int64_t now_mono_ms) const;

 private:
  CallLedger(void* map, size_t size, std::string delivery);
  Slot* slot(int i) const;

  void* map_;
  size_t size_;
  std::string delivery_;
  uint64_t owner_;  // this ledger's token, written into the slots it enters
  std::array<std::atomic<int64_t>, kSlots> started_{};
  std::array<std::atomic<int64_t>, kSlots> timeouts_{};
  std::vector<Crash> crashes_found_;
  mutable std::mutex mu_;  // slots' batch and crashes, as Begin, Forget and CrashesOf see them
};

}  // namespace sluice::buffer
