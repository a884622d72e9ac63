#include "core/hash_key.h"

#include <openssl/evp.h>

#include <algorithm>

namespace sluice {

uint128 HashKeyOf(std::string_view partition_key) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // EVP_Digest with a fetched-once MD5: no context allocation per call beyond OpenSSL's own.
  static const EVP_MD* md5 = EVP_MD_fetch(nullptr, "MD5", nullptr);
  EVP_Digest(partition_key.data(), partition_key.size(), digest, &len, md5, nullptr);
  uint128 v = 0;
  for (unsigned i = 0; i < 16; ++i) v = (v << 8) | digest[i];
  return v;
}

Result<uint128> ParseHashKey(std::string_view decimal) {
  if (decimal.empty()) return InvalidArgument("hash key is empty");
  if (decimal.size() > 39) return InvalidArgument("hash key is out of range [0, 2^128-1]");
  uint128 v = 0;
  for (char c : decimal) {
    if (c < '0' || c > '9') return InvalidArgument("hash key must be a decimal integer");
    uint128 digit = static_cast<uint128>(c - '0');
    if (v > (kMaxHashKey - digit) / 10) {
      return InvalidArgument("hash key is out of range [0, 2^128-1]");
    }
    v = v * 10 + digit;
  }
  return v;
}

std::string HashKeyToString(uint128 v) {
  if (v == 0) return "0";
  std::string s;
  while (v != 0) {
    s.push_back(static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  }
  std::reverse(s.begin(), s.end());
  return s;
}

}  // namespace sluice
