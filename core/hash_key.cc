#include "core/hash_key.h"

#include <openssl/evp.h>

#include <algorithm>

namespace sluice {

namespace {

// One MD5 context per thread, reused: EVP_Digest creates and frees (and cleanses) a context per
// call, which showed at 8 % of a profile of tailing with random keys.
struct Md5Context {
  Md5Context() : md(EVP_MD_fetch(nullptr, "MD5", nullptr)), ctx(EVP_MD_CTX_new()) {}
  ~Md5Context() {
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
  }
  EVP_MD* md;
  EVP_MD_CTX* ctx;
};

uint128 FromDigest(const unsigned char* digest) {
  uint128 v = 0;
  for (unsigned i = 0; i < 16; ++i) v = (v << 8) | digest[i];
  return v;
}

}  // namespace

uint128 HashKeyOf(std::string_view partition_key) {
  thread_local Md5Context c;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (c.md != nullptr && c.ctx != nullptr && EVP_DigestInit_ex2(c.ctx, c.md, nullptr) == 1 &&
      EVP_DigestUpdate(c.ctx, partition_key.data(), partition_key.size()) == 1 &&
      EVP_DigestFinal_ex(c.ctx, digest, &len) == 1 && len == 16) {
    return FromDigest(digest);
  }
  // The context could not be made (out of memory): the one-shot digest gives the same answer.
  static const EVP_MD* md5 = EVP_MD_fetch(nullptr, "MD5", nullptr);
  EVP_Digest(partition_key.data(), partition_key.size(), digest, &len, md5, nullptr);
  return FromDigest(digest);
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
