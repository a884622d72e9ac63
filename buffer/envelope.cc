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

constexpr auto& Seal = GcmSeal;
constexpr auto& Open = GcmOpen;

}  // namespace

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
