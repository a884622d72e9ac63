// CRC32C (Castagnoli), the checksum of every stored record frame. Uses the SSE4.2 crc32
// instruction when the CPU has it (checked once at run time), three streams at once joined by a
// carry-less multiplication when it also has PCLMULQDQ, a slicing table otherwise.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sluice::crc32c {

// The CRC of data[0, n) continued from `crc` (0 to start).
uint32_t Extend(uint32_t crc, const void* data, size_t n);
inline uint32_t Value(const void* data, size_t n) { return Extend(0, data, n); }
// Always the table version; for tests that compare both paths.
uint32_t ExtendPortable(uint32_t crc, const void* data, size_t n);
bool HardwareAccelerated();

// A stored CRC is masked so that a CRC over bytes that contain CRCs stays well distributed
// (LevelDB's rule).
inline uint32_t Mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }
inline uint32_t Unmask(uint32_t masked) {
  uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}

}  // namespace sluice::crc32c
