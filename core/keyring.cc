#include "core/keyring.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/base64.h"

namespace sluice {

Result<Keyring> Keyring::Parse(std::string_view text, std::string_view where) {
  Keyring k;
  int line_no = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(start, nl - start);
    start = nl + 1;
    ++line_no;
    size_t hash = line.find('#');
    if (hash != std::string_view::npos) line = line.substr(0, hash);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r' || line.back() == '\t')) {
      line.remove_suffix(1);
    }
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty()) continue;
    std::string at = std::string(where) + ":" + std::to_string(line_no) + ": ";
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos) return InvalidArgument(at + "expected `<key id> <base64>`");
    std::string_view id = line.substr(0, sp), b64 = line.substr(line.find_last_of(' ') + 1);
    if (id.empty() || id.size() > 255) return InvalidArgument(at + "key id must be 1..255 chars");
    auto bytes = Base64Decode(b64);
    if (!bytes.ok() || bytes->size() != kAesKeyBytes) {
      return InvalidArgument(at + "key " + std::string(id) + " is not 32 bytes of base64");
    }
    if (k.Find(id)) return InvalidArgument(at + "duplicate key id " + std::string(id));
    Key key{std::string(id), {}};
    std::memcpy(key.bytes.data(), bytes->data(), kAesKeyBytes);
    OPENSSL_cleanse(bytes->data(), bytes->size());
    k.keys_.push_back(std::move(key));
  }
  if (k.keys_.empty()) return InvalidArgument(std::string(where) + ": the keyring has no keys");
  return k;
}

Result<Keyring> Keyring::Load(const std::filesystem::path& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoError("keyring " + path.string(), errno);
  if ((st.st_mode & 077) != 0) {
    return InvalidArgument("keyring " + path.string() +
                           " is readable by group or others; chmod 600 it");
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return Parse(ss.str(), path.string());
}

const Keyring::Key* Keyring::Find(std::string_view id) const {
  for (const auto& k : keys_)
    if (k.id == id) return &k;
  return nullptr;
}

namespace {

struct CipherCtx {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  ~CipherCtx() { EVP_CIPHER_CTX_free(ctx); }
};

// Runs `in` through an initialised context in pieces whose lengths fit an int.
bool CipherUpdate(EVP_CIPHER_CTX* ctx, bool seal, const uint8_t* in, size_t n, uint8_t* out) {
  size_t done = 0;
  int len = 0;
  while (done < n) {
    int chunk = static_cast<int>(std::min<size_t>(n - done, 1u << 30));
    int rc = seal ? EVP_EncryptUpdate(ctx, out + done, &len, in + done, chunk)
                  : EVP_DecryptUpdate(ctx, out + done, &len, in + done, chunk);
    if (rc != 1) return false;
    done += static_cast<size_t>(len);
  }
  return true;
}

}  // namespace

bool GcmSeal(const uint8_t* key, const uint8_t* nonce, std::string_view aad, std::string_view in,
             uint8_t* out, uint8_t* tag) {
  CipherCtx c;
  int len = 0;
  if (!c.ctx || EVP_EncryptInit_ex(c.ctx, EVP_aes_256_gcm(), nullptr, key, nonce) != 1) {
    return false;
  }
  if (EVP_EncryptUpdate(c.ctx, nullptr, &len, reinterpret_cast<const uint8_t*>(aad.data()),
                        static_cast<int>(aad.size())) != 1) {
    return false;
  }
  if (!CipherUpdate(c.ctx, true, reinterpret_cast<const uint8_t*>(in.data()), in.size(), out)) {
    return false;
  }
  if (EVP_EncryptFinal_ex(c.ctx, out + in.size(), &len) != 1) return false;
  return EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_GET_TAG, kGcmTagBytes, tag) == 1;
}

bool GcmOpen(const uint8_t* key, const uint8_t* nonce, std::string_view aad, std::string_view in,
             const uint8_t* tag, uint8_t* out) {
  CipherCtx c;
  int len = 0;
  if (!c.ctx || EVP_DecryptInit_ex(c.ctx, EVP_aes_256_gcm(), nullptr, key, nonce) != 1) {
    return false;
  }
  if (EVP_DecryptUpdate(c.ctx, nullptr, &len, reinterpret_cast<const uint8_t*>(aad.data()),
                        static_cast<int>(aad.size())) != 1) {
    return false;
  }
  if (!CipherUpdate(c.ctx, false, reinterpret_cast<const uint8_t*>(in.data()), in.size(), out)) {
    return false;
  }
  if (EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_TAG, kGcmTagBytes, const_cast<uint8_t*>(tag)) !=
      1) {
    return false;
  }
  return EVP_DecryptFinal_ex(c.ctx, out + in.size(), &len) == 1;
}

Result<std::array<uint8_t, kAesKeyBytes>> NewWrappedDataKey(const Keyring::Key& master,
                                                            std::string_view aad,
                                                            uint8_t* wrapped) {
  std::array<uint8_t, kAesKeyBytes> key;
  if (RAND_bytes(key.data(), kAesKeyBytes) != 1 || RAND_bytes(wrapped, kGcmNonceBytes) != 1) {
    return Internal("RAND_bytes failed");
  }
  if (!GcmSeal(master.bytes.data(), wrapped, aad,
               std::string_view(reinterpret_cast<const char*>(key.data()), kAesKeyBytes),
               wrapped + kGcmNonceBytes, wrapped + kGcmNonceBytes + kAesKeyBytes)) {
    OPENSSL_cleanse(key.data(), key.size());
    return Internal("AES-GCM key wrap failed");
  }
  return key;
}

Result<std::array<uint8_t, kAesKeyBytes>> UnwrapDataKey(const Keyring::Key& master,
                                                        std::string_view aad,
                                                        const uint8_t* wrapped) {
  std::array<uint8_t, kAesKeyBytes> key;
  if (!GcmOpen(
          master.bytes.data(), wrapped, aad,
          std::string_view(reinterpret_cast<const char*>(wrapped + kGcmNonceBytes), kAesKeyBytes),
          wrapped + kGcmNonceBytes + kAesKeyBytes, key.data())) {
    return Corruption("the data key does not unwrap under master key " + master.id +
                      " (another key of that id, or a damaged header)");
  }
  return key;
}

GcmContext::GcmContext(const std::array<uint8_t, kAesKeyBytes>& key, Mode mode) : mode_(mode) {
  ctx_ = EVP_CIPHER_CTX_new();
  if (ctx_ == nullptr) return;
  int rc = mode == Mode::kSeal
               ? EVP_EncryptInit_ex(ctx_, EVP_aes_256_gcm(), nullptr, key.data(), nullptr)
               : EVP_DecryptInit_ex(ctx_, EVP_aes_256_gcm(), nullptr, key.data(), nullptr);
  if (rc != 1) {
    EVP_CIPHER_CTX_free(ctx_);
    ctx_ = nullptr;
  }
}

GcmContext::~GcmContext() { EVP_CIPHER_CTX_free(ctx_); }

bool GcmContext::Seal(const uint8_t* nonce, const uint8_t* aad, size_t aad_len, uint8_t* data,
                      size_t len, uint8_t* tag) {
  return Begin(nonce, aad, aad_len) && Update(data, data, len) && Finish(tag);
}

bool GcmContext::Begin(const uint8_t* nonce, const uint8_t* aad, size_t aad_len) {
  int n = 0;
  if (ctx_ == nullptr || mode_ != Mode::kSeal) return false;
  if (EVP_EncryptInit_ex(ctx_, nullptr, nullptr, nullptr, nonce) != 1) return false;
  return EVP_EncryptUpdate(ctx_, nullptr, &n, aad, static_cast<int>(aad_len)) == 1;
}

bool GcmContext::Update(const uint8_t* in, uint8_t* out, size_t len) {
  return CipherUpdate(ctx_, true, in, len, out);
}

bool GcmContext::Finish(uint8_t* tag) {
  int n = 0;
  uint8_t none[16];
  if (EVP_EncryptFinal_ex(ctx_, none, &n) != 1) return false;
  return EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_GET_TAG, kGcmTagBytes, tag) == 1;
}

bool GcmContext::Open(const uint8_t* nonce, const uint8_t* aad, size_t aad_len, uint8_t* data,
                      size_t len, const uint8_t* tag) {
  int n = 0;
  if (ctx_ == nullptr || mode_ != Mode::kOpen) return false;
  if (EVP_DecryptInit_ex(ctx_, nullptr, nullptr, nullptr, nonce) != 1) return false;
  if (EVP_DecryptUpdate(ctx_, nullptr, &n, aad, static_cast<int>(aad_len)) != 1) return false;
  if (!CipherUpdate(ctx_, false, data, len, data)) return false;
  if (EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_SET_TAG, kGcmTagBytes, const_cast<uint8_t*>(tag)) !=
      1) {
    return false;
  }
  return EVP_DecryptFinal_ex(ctx_, data + len, &n) == 1;
}

}  // namespace sluice
