#include "broker/route_hash.h"

#include <openssl/evp.h>

namespace sluice::broker {

namespace {
struct Md5Context {
  Md5Context() : md(EVP_MD_fetch(nullptr, "MD5", nullptr)), ctx(EVP_MD_CTX_new()) {}
  ~Md5Context() {
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
  }
  EVP_MD* md;
  EVP_MD_CTX* ctx;
};
}  // namespace

uint128 RouteHashKey(std::string_view partition_key) {
  thread_local Md5Context c;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (c.md == nullptr || c.ctx == nullptr || EVP_DigestInit_ex2(c.ctx, c.md, nullptr) != 1 ||
      EVP_DigestUpdate(c.ctx, partition_key.data(), partition_key.size()) != 1 ||
      EVP_DigestFinal_ex(c.ctx, digest, &len) != 1 || len != 16) {
    return HashKeyOf(partition_key);  // the allocating path still gives the right answer
  }
  uint128 v = 0;
  for (unsigned i = 0; i < 16; ++i) v = (v << 8) | digest[i];
  return v;
}

}  // namespace sluice::broker
