// Clock: wall time in milliseconds since the Unix epoch and a monotonic time, behind an interface
// so tests can move time by hand. Thread-safe: SystemClock is stateless; FakeClock uses atomics.
#pragma once

#include <atomic>
#include <cstdint>

namespace sluice {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMs() const = 0;        // wall clock, ms since epoch (arrival timestamps)
  virtual int64_t MonotonicMs() const = 0;  // never goes back (timeouts, expiry)
  // The process-wide real clock; never null, never freed.
  static Clock* Real();
};

class SystemClock final : public Clock {
 public:
  int64_t NowMs() const override;
  int64_t MonotonicMs() const override;
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t now_ms = 1'700'000'000'000) : now_(now_ms), mono_(1'000'000) {}
  int64_t NowMs() const override { return now_.load(); }
  int64_t MonotonicMs() const override { return mono_.load(); }
  void Advance(int64_t ms) {
    now_ += ms;
    mono_ += ms;
  }
  void SetWall(int64_t now_ms) { now_ = now_ms; }  // a wall-clock jump; monotonic time is kept

 private:
  std::atomic<int64_t> now_;
  std::atomic<int64_t> mono_;
};

}  // namespace sluice
