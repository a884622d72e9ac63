#include "broker/api/api_token.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cerrno>

#include "broker/file_util.h"
#include "core/base64.h"
#include "core/fd.h"

namespace sluice::broker::api {
namespace {

constexpr size_t kMacSize = 16;
constexpr uint8_t kVersion = 1;

void PutInt(uint64_t v, int bytes, std::string* out) {
  for (int i = bytes - 1; i >= 0; i--) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetInt(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++) v = (v << 8) | p[i];
  return v;
}

std::string Mac(const std::string& key, std::string_view payload) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), md, &len);
  return std::string(reinterpret_cast<char*>(md), kMacSize);
}

constexpr size_t kKeyBytes = 32;
constexpr char kKeyFile[] = "api_token.key";

Status RandomBytes(std::string* out, size_t n) {
  out->assign(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out->data()), static_cast<int>(n)) != 1) {
    return Internal("token codec: no random bytes for the key");
  }
  return Status::Ok();
}

// Writes `key` to a new temporary file of its own beside `path`, 0600 from its creation, synced.
Status WriteKeyFile(const std::filesystem::path& tmp, const std::string& key) {
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoError("create " + tmp.string(), errno);
  Status st = PwriteAll(fd.get(), key.data(), key.size(), 0, tmp.string());
  if (st.ok() && ::fsync(fd.get()) != 0) st = ErrnoError("fsync " + tmp.string(), errno);
  if (!st.ok()) ::unlink(tmp.c_str());
  return st;
}

}  // namespace

Result<TokenCodec> TokenCodec::Open(const std::filesystem::path& data_dir) {
  const std::filesystem::path path = data_dir / kKeyFile;
  // Twice at most: a second pass reads the key of an instance that created it first.
  for (int pass = 0; pass < 2; pass++) {
    std::string key;
    Status read = ReadFileInto(path, &key);
    if (read.ok() && key.size() == kKeyBytes) return TokenCodec(std::move(key));
    if (!read.ok() && read.code() != Code::kNotFound) return read;
    const bool replace = read.ok();  // there, but not a key: replaced
    RETURN_IF_ERROR(RandomBytes(&key, kKeyBytes));
    std::string tag;
    RETURN_IF_ERROR(RandomBytes(&tag, 6));
    std::string name = ".tmp-" + std::string(kKeyFile) + "-";
    for (char b : tag) {
      static constexpr char kHex[] = "0123456789abcdef";
      name.push_back(kHex[(static_cast<unsigned char>(b) >> 4) & 15]);
      name.push_back(kHex[static_cast<unsigned char>(b) & 15]);
    }
    const std::filesystem::path tmp = data_dir / name;
    RETURN_IF_ERROR(WriteKeyFile(tmp, key));
    // link() publishes the file only if no other instance has: the first key wins everywhere.
    // Where hard links are not supported, and to replace a bad key, rename() (last one wins).
    int rc = replace ? ::rename(tmp.c_str(), path.c_str()) : ::link(tmp.c_str(), path.c_str());
    int err = rc == 0 ? 0 : errno;
    if (rc != 0 && (err == EPERM || err == EOPNOTSUPP || err == ENOTSUP)) {
      rc = ::rename(tmp.c_str(), path.c_str());
      err = rc == 0 ? 0 : errno;
    }
    ::unlink(tmp.c_str());  // the link's second name; gone already after a rename
    if (rc == 0) {
      RETURN_IF_ERROR(FsyncDir(data_dir));
      return TokenCodec(std::move(key));
    }
    if (err != EEXIST) return ErrnoError("create " + path.string(), err);
  }
  return Internal("token codec: " + path.string() + " keeps changing");
}

Result<TokenCodec> TokenCodec::Create() {
  std::string key(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), 32) != 1) {
    return Internal("token codec: no random bytes for the key");
  }
  return TokenCodec(std::move(key));
}

std::string TokenCodec::Encode(const TokenFields& f) const {
  std::string p;
  p.reserve(32 + f.name.size() + f.extra.size() + kMacSize);
  p.push_back(static_cast<char>(kVersion));
  p.push_back(static_cast<char>(f.kind));
  PutInt(static_cast<uint64_t>(f.issued_ms), 8, &p);
  PutInt(f.shard_index, 4, &p);
  PutInt(f.offset, 8, &p);
  std::string_view name = std::string_view(f.name).substr(0, 255);
  std::string_view extra = std::string_view(f.extra).substr(0, 255);
  p.push_back(static_cast<char>(name.size()));
  p.append(name);
  p.push_back(static_cast<char>(extra.size()));
  p.append(extra);
  p.append(Mac(key_, p));
  return Base64Encode(p);
}

Result<TokenFields> TokenCodec::Decode(std::string_view token, uint8_t kind) const {
  Result<std::string> raw = Base64Decode(token);
  if (!raw.ok() || raw->size() < 2 + 8 + 4 + 8 + 2 + kMacSize) return InvalidArgument("malformed");
  const std::string& p = *raw;
  std::string_view body(p.data(), p.size() - kMacSize);
  std::string mac = Mac(key_, body);
  if (CRYPTO_memcmp(mac.data(), p.data() + body.size(), kMacSize) != 0) {
    return InvalidArgument("not issued by this server");
  }
  auto* u = reinterpret_cast<const unsigned char*>(body.data());
  if (u[0] != kVersion || u[1] != kind) return InvalidArgument("wrong kind of token");
  TokenFields f;
  f.kind = u[1];
  f.issued_ms = static_cast<int64_t>(GetInt(u + 2, 8));
  f.shard_index = static_cast<uint32_t>(GetInt(u + 10, 4));
  f.offset = GetInt(u + 14, 8);
  size_t pos = 22;
  size_t n = u[pos++];
  if (pos + n + 1 > body.size()) return InvalidArgument("malformed");
  f.name.assign(body.substr(pos, n));
  pos += n;
  size_t m = u[pos++];
  if (pos + m != body.size()) return InvalidArgument("malformed");
  f.extra.assign(body.substr(pos, m));
  return f;
}

}  // namespace sluice::broker::api
