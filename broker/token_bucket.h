// A token bucket for Kinesis provisioned-mode limits: `rate` tokens per second, holding at most
// `burst`. THREADING: not thread-safe; the owner locks. Times come from Clock::MonotonicMs.
#pragma once

#include <algorithm>
#include <cstdint>

namespace sluice::broker {

class TokenBucket final {
 public:
  TokenBucket(double rate_per_s, double burst) : rate_(rate_per_s), burst_(burst), tokens_(burst) {}

  void Refill(int64_t now_ms) {
    if (last_ms_ < 0) last_ms_ = now_ms;
    if (now_ms > last_ms_) {
      tokens_ = std::min(burst_, tokens_ + rate_ * static_cast<double>(now_ms - last_ms_) / 1000.0);
      last_ms_ = now_ms;
    }
  }
  // Takes n tokens if that many are there.
  bool TryTake(double n, int64_t now_ms) {
    Refill(now_ms);
    if (tokens_ < n) return false;
    tokens_ -= n;
    return true;
  }
  // Whether any token is left (reads may overdraw: a GetRecords of 10 MiB then waits it off).
  bool Positive(int64_t now_ms) {
    Refill(now_ms);
    return tokens_ > 0;
  }
  void Charge(double n) { tokens_ -= n; }

 private:
  double rate_;
  double burst_;
  double tokens_;
  int64_t last_ms_ = -1;
};

}  // namespace sluice::broker
