#include "buffer/envelope.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "core/base64.h"

namespace sluice::buffer {
namespace {

constexpr char kMagic[] = "SLUICEE1";
constexpr size_t kMagicLen = 8, kNonce = 12, kTag = 16, kKey = 32;

struct CipherCtx {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  ~CipherCtx() { EVP_CIPHER_CTX_free(ctx); }
};

// AES-256-GCM seal of `in` into out (same length) + tag.
bool Seal(const uint8_t* key, const uint8_t* nonce, std::string_view aad, std::string_view in,
          uint8_t* out, uint8_t* tag) {
  CipherCtx c;
  int len = 0;
  if (!c.ctx || EVP_EncryptInit_ex(c.ctx, EVP_aes_256_gcm(), nullptr, key, nonce) != 1)
    return false;
  if (EVP_EncryptUpdate(c.ctx, nullptr, &len, reinterpret_cast<const uint8_t*>(aad.data()),
                        static_cast<int>(aad.size())) != 1) {
    return false;
  }
  size_t done = 0;
  while (done < in.size()) {  // chunks keep lengths within int
    int chunk = static_cast<int>(std::min<size_t>(in.size() - done, 1u << 30));
    if (EVP_EncryptUpdate(c.ctx, out + done, &len,
                          reinterpret_cast<const uint8_t*>(in.data()) + done, chunk) != 1) {
      return false;
    }
    done += static_cast<size_t>(len);
  }
  if (EVP_EncryptFinal_ex(c.ctx, out + done, &len) != 1) return false;
  return EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_GET_TAG, kTag, tag) == 1;
}

bool Open(const uint8_t* key, const uint8_t* nonce, std::string_view aad, std::string_view in,
          const uint8_t* tag, uint8_t* out) {
  CipherCtx c;
  int len = 0;
  if (!c.ctx || EVP_DecryptInit_ex(c.ctx, EVP_aes_256_gcm(), nullptr, key, nonce) != 1)
    return false;
  if (EVP_DecryptUpdate(c.ctx, nullptr, &len, reinterpret_cast<const uint8_t*>(aad.data()),
                        static_cast<int>(aad.size())) != 1) {
    return false;
  }
  size_t done = 0;
  while (done < in.size()) {
    int chunk = static_cast<int>(std::min<size_t>(in.size() - done, 1u << 30));
    if (EVP_DecryptUpdate(c.ctx, out + done, &len,
                          reinterpret_cast<const uint8_t*>(in.data()) + done, chunk) != 1) {
      return false;
    }
    done += static_cast<size_t>(len);
  }
  if (EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_TAG, kTag, const_cast<uint8_t*>(tag)) != 1) {
    return false;
  }
  return EVP_DecryptFinal_ex(c.ctx, out + done, &len) == 1;
}

}  // namespace

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
    if (!bytes.ok() || bytes->size() != kKey) {
      return InvalidArgument(at + "key " + std::string(id) + " is not 32 bytes of base64");
    }
    if (k.Find(id)) return InvalidArgument(at + "duplicate key id " + std::string(id));
    Key key{std::string(id), {}};
    std::memcpy(key.bytes.data(), bytes->data(), kKey);
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

Result<std::unique_ptr<Encryptor>> Encryptor::Create(Keyring keyring, std::string_view key_id) {
  std::unique_ptr<Encryptor> e(new Encryptor());
  e->keyring_ = std::move(keyring);
  e->key_ = key_id.empty() ? &e->keyring_.keys().back() : e->keyring_.Find(key_id);
  if (!e->key_)
    return NotFound("encryption key id " + std::string(key_id) + " is not in the keyring");
  return e;
}

Status Encryptor::Encrypt(std::string_view plain, std::string* out) {
  const std::string& id = key_->id;
  size_t header = kMagicLen + 1 + id.size() + kNonce + kKey + kTag + kNonce;
  out->resize(header + plain.size() + kTag);
  uint8_t* p = reinterpret_cast<uint8_t*>(out->data());
  std::memcpy(p, kMagic, kMagicLen);
  p[kMagicLen] = static_cast<uint8_t>(id.size());
  std::memcpy(p + kMagicLen + 1, id.data(), id.size());
  size_t pos = kMagicLen + 1 + id.size();
  std::string_view wrap_aad(out->data(), pos);
  uint8_t data_key[kKey];
  if (RAND_bytes(data_key, kKey) != 1 || RAND_bytes(p + pos, kNonce) != 1 ||
      RAND_bytes(p + pos + kNonce + kKey + kTag, kNonce) != 1) {
    return Internal("RAND_bytes failed");
  }
  if (!Seal(key_->bytes.data(), p + pos, wrap_aad,
            std::string_view(reinterpret_cast<const char*>(data_key), kKey), p + pos + kNonce,
            p + pos + kNonce + kKey)) {
    return Internal("AES-GCM key wrap failed");
  }
  const uint8_t* data_nonce = p + header - kNonce;
  bool ok = Seal(data_key, data_nonce, std::string_view(out->data(), header), plain, p + header,
                 p + header + plain.size());
  OPENSSL_cleanse(data_key, kKey);
  return ok ? Status::Ok() : Internal("AES-GCM encryption failed");
}

Result<std::string> DecryptObject(const Keyring& keyring, std::string_view object) {
  auto bad = [](const char* what) { return Corruption(std::string("encrypted object: ") + what); };
  if (object.size() < kMagicLen + 1 || object.substr(0, kMagicLen) != kMagic) {
    return bad("bad magic (not written by sluice encryption)");
  }
  size_t id_len = static_cast<uint8_t>(object[kMagicLen]);
  size_t header = kMagicLen + 1 + id_len + kNonce + kKey + kTag + kNonce;
  if (object.size() < header + kTag) return bad("truncated");
  std::string_view id = object.substr(kMagicLen + 1, id_len);
  const Keyring::Key* key = keyring.Find(id);
  if (!key)
    return NotFound("encrypted object: key id " + std::string(id) + " is not in the keyring");
  const uint8_t* p = reinterpret_cast<const uint8_t*>(object.data());
  size_t pos = kMagicLen + 1 + id_len;
  uint8_t data_key[kKey];
  if (!Open(key->bytes.data(), p + pos, object.substr(0, pos), object.substr(pos + kNonce, kKey),
            p + pos + kNonce + kKey, data_key)) {
    return bad("the data key does not unwrap (wrong key or tampered header)");
  }
  std::string plain(object.size() - header - kTag, '\0');
  bool ok = Open(data_key, p + header - kNonce, object.substr(0, header),
                 object.substr(header, plain.size()), p + object.size() - kTag,
                 reinterpret_cast<uint8_t*>(plain.data()));
  OPENSSL_cleanse(data_key, kKey);
  if (!ok) return bad("authentication failed (tampered or truncated)");
  return plain;
}

std::unique_ptr<Encryptor> Encryptor::Clone() const {
  auto e = Create(keyring_, key_->id);
  return e.ok() ? std::move(*e) : nullptr;  // cannot fail: this one was created from the same
}

}  // namespace sluice::buffer
