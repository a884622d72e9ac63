#include "core/crc32c.h"

#include <nmmintrin.h>
#include <wmmintrin.h>

#include <array>
#include <cstring>

namespace sluice::crc32c {
namespace {

constexpr uint32_t kPoly = 0x82f63b78u;  // Castagnoli, reflected

constexpr std::array<std::array<uint32_t, 256>, 4> MakeTables() {
  std::array<std::array<uint32_t, 256>, 4> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i) {
    for (int s = 1; s < 4; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
  }
  return t;
}

constexpr auto kTables = MakeTables();

// The register times x^(8 * bytes) mod P, i.e. the register after `bytes` zero bytes: one
// carry-less multiplication by x^(8 * bytes - 33) (the product of two reflected 32-bit values is
// one bit short of 64, and crc32 of a 64-bit word multiplies it by x^32) and one crc32 to reduce.
__attribute__((target("sse4.2,pclmul"))) inline uint64_t ShiftBy(uint64_t reg, uint32_t k) {
  __m128i prod = _mm_clmulepi64_si128(_mm_cvtsi64_si128(static_cast<int64_t>(reg)),
                                      _mm_cvtsi32_si128(static_cast<int>(k)), 0);
  return _mm_crc32_u64(0, static_cast<uint64_t>(_mm_cvtsi128_si64(prod)));
}

// Three streams per block of three equal parts run in parallel (crc32 has a latency of 3 cycles
// and a throughput of 1), then are joined by shifting the first two past the parts after them.
constexpr size_t kMaxPart = 4096;                 // bytes per part of the long loop
constexpr size_t kShiftWords = 2 * kMaxPart / 8;  // shifts of 8 .. 2 * kMaxPart bytes
constexpr size_t kMinInterleaved = 96;            // below it one stream is as fast

// kShift[m] = x^(64m - 33) mod P, reflected: the constant that shifts a register by 8m bytes.
constexpr std::array<uint32_t, kShiftWords + 1> kShift = [] {
  std::array<uint32_t, kShiftWords + 1> t{};
  uint32_t r = 1u << 31;  // x^0
  auto times_x = [](uint32_t v) { return (v & 1) ? (v >> 1) ^ kPoly : v >> 1; };
  for (int i = 0; i < 31; ++i) r = times_x(r);  // x^31 = x^(64 * 1 - 33)
  t[1] = r;
  for (size_t m = 2; m <= kShiftWords; ++m) {
    for (int i = 0; i < 64; ++i) r = times_x(r);
    t[m] = r;
  }
  return t;
}();

__attribute__((target("sse4.2,pclmul"))) uint64_t ThreeWay(uint64_t c, const uint8_t* p,
                                                           size_t part) {
  uint64_t c1 = 0, c2 = 0;
  const uint8_t* p1 = p + part;
  const uint8_t* p2 = p + 2 * part;
  for (size_t i = 0; i < part; i += 8) {
    uint64_t v0, v1, v2;
    std::memcpy(&v0, p + i, 8);
    std::memcpy(&v1, p1 + i, 8);
    std::memcpy(&v2, p2 + i, 8);
    c = _mm_crc32_u64(c, v0);
    c1 = _mm_crc32_u64(c1, v1);
    c2 = _mm_crc32_u64(c2, v2);
  }
  return ShiftBy(c, kShift[2 * part / 8]) ^ ShiftBy(c1, kShift[part / 8]) ^ c2;
}

__attribute__((target("sse4.2"))) uint32_t ExtendHardware(uint32_t crc, const uint8_t* p,
                                                          size_t n) {
  uint64_t c = ~crc;
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  if (n >= 4) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    c32 = _mm_crc32_u32(c32, v);
    p += 4;
    n -= 4;
  }
  while (n-- > 0) c32 = _mm_crc32_u8(c32, *p++);
  return ~c32;
}

__attribute__((target("sse4.2,pclmul"))) uint32_t ExtendInterleaved(uint32_t crc, const uint8_t* p,
                                                                    size_t n) {
  uint64_t c = static_cast<uint32_t>(~crc);
  while (n >= 3 * kMaxPart) {
    c = ThreeWay(c, p, kMaxPart);
    p += 3 * kMaxPart;
    n -= 3 * kMaxPart;
  }
  if (n >= kMinInterleaved) {
    const size_t part = n / 24 * 8;
    c = ThreeWay(c, p, part);
    p += 3 * part;
    n -= 3 * part;
  }
  return ExtendHardware(~static_cast<uint32_t>(c), p, n);
}

bool DetectHardware() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
}

bool DetectClmul() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("pclmul");
}

const bool kHardware = DetectHardware();
const bool kClmul = DetectClmul();

}  // namespace

uint32_t ExtendPortable(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t c = ~crc;
  while (n >= 4) {
    uint32_t v;
    std::memcpy(&v, p, 4);  // little-endian hosts only (x86_64, aarch64)
    c ^= v;
    c = kTables[3][c & 0xff] ^ kTables[2][(c >> 8) & 0xff] ^ kTables[1][(c >> 16) & 0xff] ^
        kTables[0][c >> 24];
    p += 4;
    n -= 4;
  }
  while (n-- > 0) c = (c >> 8) ^ kTables[0][(c ^ *p++) & 0xff];
  return ~c;
}

uint32_t Extend(uint32_t crc, const void* data, size_t n) {
  if (kClmul) return ExtendInterleaved(crc, static_cast<const uint8_t*>(data), n);
  if (kHardware) return ExtendHardware(crc, static_cast<const uint8_t*>(data), n);
  return ExtendPortable(crc, data, n);
}

bool HardwareAccelerated() { return kHardware; }

}  // namespace sluice::crc32c
