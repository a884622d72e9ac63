// Master keys and AES-256-GCM, shared by envelope-encrypted objects (buffer/envelope.h) and
// encrypted broker segments (broker/FORMAT.md).
//
// Keyring file: one key per line, `<key id> <base64 of 32 bytes>`; `#` starts a comment. The
// last key is the primary unless a key id is named. A keyring readable by group or others is
// refused. Key material is never logged.
// THREADING: Keyring is immutable after Load; a GcmContext belongs to one thread at a time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;

namespace sluice {

inline constexpr size_t kAesKeyBytes = 32;
inline constexpr size_t kGcmNonceBytes = 12;
inline constexpr size_t kGcmTagBytes = 16;
// A data key wrapped by a master key: nonce, the key sealed, tag.
inline constexpr size_t kWrappedKeyBytes = kGcmNonceBytes + kAesKeyBytes + kGcmTagBytes;

class Keyring final {
 public:
  struct Key {
    std::string id;
    std::array<uint8_t, kAesKeyBytes> bytes;
  };
  static Result<Keyring> Load(const std::filesystem::path& path);
  static Result<Keyring> Parse(std::string_view text, std::string_view where);
  const Key* Find(std::string_view id) const;
  // `id` empty: the primary (last) key.
  const Key* FindOrPrimary(std::string_view id) const {
    return id.empty() ? &keys_.back() : Find(id);
  }
  const std::vector<Key>& keys() const { return keys_; }

 private:
  std::vector<Key> keys_;
};

// One-shot AES-256-GCM: seals `in` into out (same length) and tag; opens likewise (false: the
// tag does not match).
bool GcmSeal(const uint8_t* key, const uint8_t* nonce, std::string_view aad, std::string_view in,
             uint8_t* out, uint8_t* tag);
bool GcmOpen(const uint8_t* key, const uint8_t* nonce, std::string_view aad, std::string_view in,
             const uint8_t* tag, uint8_t* out);

// Wraps a fresh random data key under `master` into wrapped[kWrappedKeyBytes]; `aad` binds it
// to where it is stored. Returns the data key.
Result<std::array<uint8_t, kAesKeyBytes>> NewWrappedDataKey(const Keyring::Key& master,
                                                            std::string_view aad, uint8_t* wrapped);
// Unwraps what NewWrappedDataKey wrote; kCorruption when it does not authenticate.
Result<std::array<uint8_t, kAesKeyBytes>> UnwrapDataKey(const Keyring::Key& master,
                                                        std::string_view aad,
                                                        const uint8_t* wrapped);

// An AES-256-GCM context keyed once and used for many messages, each with its own nonce: the
// key schedule is not redone per message. Seal and Open work in place.
class GcmContext final {
 public:
  enum class Mode { kSeal, kOpen };
  GcmContext(const std::array<uint8_t, kAesKeyBytes>& key, Mode mode);
  ~GcmContext();
  GcmContext(const GcmContext&) = delete;
  GcmContext& operator=(const GcmContext&) = delete;
  bool ok() const { return ctx_ != nullptr; }
  // Encrypts data[0, len) in place and writes the tag.
  bool Seal(const uint8_t* nonce, const uint8_t* aad, size_t aad_len, uint8_t* data, size_t len,
            uint8_t* tag);
  // A sealed message in pieces: Begin, Update for each piece in order (in and out may be the
  // same), Finish for the tag.
  bool Begin(const uint8_t* nonce, const uint8_t* aad, size_t aad_len);
  bool Update(const uint8_t* in, uint8_t* out, size_t len);
  bool Finish(uint8_t* tag);
  // Decrypts data[0, len) in place; false when the tag does not match (data is then garbage).
  bool Open(const uint8_t* nonce, const uint8_t* aad, size_t aad_len, uint8_t* data, size_t len,
            const uint8_t* tag);

 private:
  EVP_CIPHER_CTX* ctx_ = nullptr;
  Mode mode_;
};

}  // namespace sluice
