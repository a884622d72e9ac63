// The call ledger: which plugin call each delivery worker is in, kept in a shared file mapping
// (<state_dir>/calls) so that it outlives a crash of the process. A plugin runs in the daemon's
// process by default, so a segfault in on_deliver kills the daemon; on the next start the ledger
// tells which plugin, call and batch it died in, and counts such deaths per batch. The delivery
// spills a batch that crashed the daemon kMaxCrashes times (errorCode Plugin.Crashed) instead of
// calling the plugin with it again: a poison batch cannot make a crash loop.
//
// A crash is a death by a fatal signal, which the handler below marks in the slot. A process that
// ended inside a call without that mark was killed (kill -9, the OOM killer, a power cut) or died
// where no handler could run (a stack overflow): counted apart, and spilled only after kMaxKills
// of them, so that an operator's kill -9 during a slow upload does not spill a healthy batch
// while a batch that makes the plugin exhaust memory still cannot loop forever.
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
// DeathsOf read other slots' batches, under one mutex (once per batch); CallAge and CallStuck
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
  static constexpr uint32_t kMaxKills = 10;
  static constexpr int kSlots = 64;  // one per worker: deliveries[].concurrency is at most 64

  // A call the previous run died in.
  struct Crash {
    std::string plugin, call, batch;
    bool signalled = false;  // a fatal signal (a crash); false: killed, or no handler could run
    uint32_t count = 0;      // crashes of this process on this batch so far
    uint32_t kills = 0;      // deaths without a fatal signal on this batch so far
  };
  // What the daemon died of on one batch, counted over its runs.
  struct Deaths {
    uint32_t crashes = 0, kills = 0;
    // Whether the batch must not be handed to the plugin again.
    bool poison() const { return crashes >= kMaxCrashes || kills >= kMaxKills; }
  };

  // Opens (creating) the ledger file; records every slot left in a call as a crash.
  static Result<std::unique_ptr<CallLedger>> Open(const std::filesystem::path& path,
                                                  std::string_view delivery);
  ~CallLedger();
  CallLedger(const CallLedger&) = delete;
  CallLedger& operator=(const CallLedger&) = delete;

  struct Slot;  // the layout of one slot in the file

  const std::vector<Crash>& crashes_found() const { return crashes_found_; }
  // Deaths recorded against `batch` (an object key or request id), in any slot.
  Deaths DeathsOf(std::string_view batch) const;

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
  mutable std::mutex mu_;  // slots' batch and deaths, as Begin, Forget and DeathsOf see them
};

}  // namespace sluice::buffer
