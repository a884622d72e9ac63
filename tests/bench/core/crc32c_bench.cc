// CRC32C of one buffer per call, at record-frame sizes and larger: bytes per second of the
// dispatching Extend (three interleaved streams when the CPU has PCLMULQDQ) and of one stream.
#include <benchmark/benchmark.h>

#include <string>

#include "core/crc32c.h"

namespace {

std::string Buffer(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 131 + 7);
  return s;
}

void BM_Crc32c(benchmark::State& state) {
  std::string buf = Buffer(static_cast<size_t>(state.range(0)));
  uint32_t crc = 0;
  for (auto _ : state) {
    crc = sluice::crc32c::Extend(crc, buf.data(), buf.size());
    benchmark::DoNotOptimize(crc);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Crc32c)
    ->Arg(32)
    ->Arg(64)
    ->Arg(100)
    ->Arg(150)
    ->Arg(200)
    ->Arg(400)
    ->Arg(1024)
    ->Arg(16384)
    ->Arg(1 << 20);

}  // namespace
