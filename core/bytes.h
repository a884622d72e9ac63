// Byte views shared by every layer: records travel as std::string_view (binary-safe) or
// std::span<const std::byte>; these helpers convert between the two without copying.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace sluice {

using ByteSpan = std::span<const std::byte>;

inline ByteSpan AsBytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
inline std::string_view AsChars(ByteSpan b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace sluice
