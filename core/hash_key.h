// Kinesis hash keys: unsigned 128-bit integers. A partition key maps to MD5(key) read as a
// big-endian integer; the API writes hash keys as decimal strings.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace sluice {

using uint128 = unsigned __int128;
inline constexpr uint128 kMaxHashKey = ~static_cast<uint128>(0);

// MD5 of the bytes of `partition_key`, big-endian (OpenSSL EVP). Thread-safe.
uint128 HashKeyOf(std::string_view partition_key);
// Decimal digits only, no sign, no leading '+', value <= 2^128-1.
Result<uint128> ParseHashKey(std::string_view decimal);
std::string HashKeyToString(uint128 v);

}  // namespace sluice
