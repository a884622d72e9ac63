#include "buffer/call_ledger.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <random>

#include "core/fd.h"

namespace sluice::buffer {

namespace {

// Version 2 added the signalled state and the kill count: an older file starts empty (it costs
// at most a crash count, never a record).
constexpr char kMagic[] = "sluice-calls 2\n";
constexpr size_t kHeader = 1024;
constexpr size_t kSlotSize = 1024;

// kSignalled: in a call when a fatal signal came (set by the handler).
enum : uint32_t { kIdle = 0, kInCall = 1, kAbandoned = 2, kSignalled = 3 };

void CopyText(char* dst, size_t cap, std::string_view src) {
  size_t n = std::min(cap - 1, src.size());
  std::memcpy(dst, src.data(), n);
  dst[n] = '\0';
}

}  // namespace

// One worker's record in the mapping. Text fields are NUL-terminated (truncated if longer).
struct CallLedger::Slot {
  std::atomic<uint64_t> owner;  // token of the ledger that entered the call now running
  std::atomic<uint32_t> state;  // kIdle, kInCall, kAbandoned, kSignalled
  uint32_t crashes;             // crashes of the process on `batch`
  uint32_t kills;               // deaths without a fatal signal on `batch`
  char plugin[64];
  char call[32];
  char delivery[160];
  char batch[748];
};
static_assert(sizeof(CallLedger::Slot) <= kSlotSize);
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<uint32_t>::is_always_lock_free);  // stored by the signal handler

namespace {

// The slot of the call the current thread is in (for the crash handler); null outside calls.
thread_local CallLedger::Slot* t_slot = nullptr;

constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
struct sigaction g_previous[NSIG];

void Say(const char* s) {
  size_t n = std::strlen(s);
  while (n > 0) {
    ssize_t w = ::write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<size_t>(w);
  }
}

// Async-signal-safe: a lock-free atomic store, write(2) and sigaction(2) only, on memory
// already set up.
void OnFatalSignal(int sig, siginfo_t* info, void*) {
  if (CallLedger::Slot* s = t_slot) {
    uint32_t in_call = kInCall;
    s->state.compare_exchange_strong(in_call, kSignalled);
    const char* name = sig == SIGSEGV   ? "SIGSEGV"
                       : sig == SIGBUS  ? "SIGBUS"
                       : sig == SIGILL  ? "SIGILL"
                       : sig == SIGFPE  ? "SIGFPE"
                       : sig == SIGABRT ? "SIGABRT"
                                        : "a fatal signal";
    Say("sluice: fatal ");
    Say(name);
    Say(" in plugin ");
    Say(s->plugin);
    Say(" (");
    Say(s->call);
    Say(") of delivery ");
    Say(s->delivery);
    Say(", batch ");
    Say(s->batch);
    Say("; the batch is retried at the next start and spilled as Plugin.Crashed after 3 "
        "crashes\n");
  }
  // The previous handler (the default: a core dump; or a sanitizer's) takes it from here: a
  // fault the kernel raised recurs when this handler returns; one sent is raised again.
  ::sigaction(sig, &g_previous[sig], nullptr);
  if (info == nullptr || info->si_code <= 0) ::raise(sig);
}

void InstallCrashReporter() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = OnFatalSignal;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    for (int sig : kFatalSignals) ::sigaction(sig, &sa, &g_previous[sig]);
  });
}

uint64_t NewToken() {
  std::random_device rd;
  uint64_t t = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  return t == 0 ? 1 : t;
}

}  // namespace

Result<std::unique_ptr<CallLedger>> CallLedger::Open(const std::filesystem::path& path,
                                                     std::string_view delivery) {
  const size_t size = kHeader + kSlotSize * kSlots;
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640));
  if (!fd.valid()) return ErrnoError("open " + path.string(), errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoError("stat " + path.string(), errno);
  bool fresh = static_cast<size_t>(st.st_size) < size;
  if (fresh && ::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
    return ErrnoError("size " + path.string(), errno);
  }
  void* map = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (map == MAP_FAILED) return ErrnoError("map " + path.string(), errno);
  if (fresh || std::memcmp(map, kMagic, sizeof(kMagic)) != 0) {
    std::memset(map, 0, size);
    std::memcpy(map, kMagic, sizeof(kMagic));
  }
  std::unique_ptr<CallLedger> ledger(new CallLedger(map, size, std::string(delivery)));
  for (int i = 0; i < kSlots; ++i) {
    Slot* s = ledger->slot(i);
    s->batch[sizeof(s->batch) - 1] = '\0';
    s->plugin[sizeof(s->plugin) - 1] = '\0';
    s->call[sizeof(s->call) - 1] = '\0';
    uint32_t state = s->state.load();
    if (state == kInCall || state == kSignalled) {
      const bool signalled = state == kSignalled;
      ++(signalled ? s->crashes : s->kills);
      ledger->crashes_found_.push_back(
          {s->plugin, s->call, s->batch, signalled, s->crashes, s->kills});
    }
    s->state.store(kIdle);
    s->owner.store(0);
  }
  InstallCrashReporter();
  return ledger;
}

CallLedger::CallLedger(void* map, size_t size, std::string delivery)
    : map_(map), size_(size), delivery_(std::move(delivery)), owner_(NewToken()) {}

CallLedger::~CallLedger() { ::munmap(map_, size_); }

CallLedger::Slot* CallLedger::slot(int i) const {
  return reinterpret_cast<Slot*>(static_cast<char*>(map_) + kHeader +
                                 kSlotSize * static_cast<size_t>(i % kSlots));
}

CallLedger::Deaths CallLedger::DeathsOf(std::string_view batch) const {
  std::lock_guard<std::mutex> lock(mu_);
  Deaths d;
  for (int i = 0; i < kSlots; ++i) {
    const Slot* s = slot(i);
    if ((s->crashes > 0 || s->kills > 0) && batch == s->batch) {
      d.crashes = std::max(d.crashes, s->crashes);
      d.kills = std::max(d.kills, s->kills);
    }
  }
  return d;
}

void CallLedger::Begin(int i, std::string_view batch) {
  std::lock_guard<std::mutex> lock(mu_);
  Slot* own = slot(i);
  if (batch == own->batch) return;
  uint32_t crashes = 0, kills = 0;
  for (int j = 0; j < kSlots; ++j) {
    Slot* s = slot(j);
    if (j != i % kSlots && (s->crashes > 0 || s->kills > 0) && batch == s->batch) {
      crashes = std::max(crashes, s->crashes);
      kills = std::max(kills, s->kills);
      s->crashes = 0;
      s->kills = 0;
      s->batch[0] = '\0';
    }
  }
  CopyText(own->batch, sizeof(own->batch), batch);
  own->crashes = crashes;
  own->kills = kills;
}

void CallLedger::Forget(std::string_view batch) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int j = 0; j < kSlots; ++j) {
    Slot* s = slot(j);
    if (batch == s->batch) {
      s->crashes = 0;
      s->kills = 0;
      s->batch[0] = '\0';
    }
  }
}

void CallLedger::Enter(int i, const char* plugin, const char* call, int64_t now_mono_ms,
                       bool durable, int64_t timeout_ms) {
  timeouts_[static_cast<size_t>(i % kSlots)].store(timeout_ms);
  started_[static_cast<size_t>(i % kSlots)].store(std::max<int64_t>(now_mono_ms, 1));
  if (!durable) return;
  Slot* s = slot(i);
  CopyText(s->plugin, sizeof(s->plugin), plugin);
  CopyText(s->call, sizeof(s->call), call);
  CopyText(s->delivery, sizeof(s->delivery), delivery_);
  s->owner.store(owner_);
  s->state.store(kInCall, std::memory_order_release);
  t_slot = s;
}

void CallLedger::Leave(int i) {
  started_[static_cast<size_t>(i % kSlots)].store(0);
  t_slot = nullptr;
  Slot* s = slot(i);
  uint32_t in_call = kInCall;
  if (s->owner.load() == owner_) s->state.compare_exchange_strong(in_call, kIdle);
}

void CallLedger::Abandon(int i) {
  Slot* s = slot(i);
  uint32_t in_call = kInCall;
  if (s->owner.load() == owner_) s->state.compare_exchange_strong(in_call, kAbandoned);
}

int64_t CallLedger::OldestCallAgeMs(int64_t now_mono_ms) const {
  int64_t oldest = 0;
  for (const auto& started : started_) {
    int64_t t = started.load();
    if (t != 0) oldest = std::max(oldest, now_mono_ms - t);
  }
  return oldest;
}

bool CallLedger::CallStuck(int64_t now_mono_ms) const {
  for (size_t i = 0; i < started_.size(); ++i) {
    int64_t t = started_[i].load();
    int64_t timeout = timeouts_[i].load();
    if (t != 0 && timeout > 0 && now_mono_ms - t > timeout) return true;
  }
  return false;
}

}  // namespace sluice::buffer
