// AES-256-GCM envelope encryption of delivered objects. Each object gets a fresh random 256-bit
// data key; the data key is wrapped (AES-256-GCM) by a master key from a local keyring, and the
// object carries the key id, so objects written before a key rotation still decrypt as long as
// the old key stays in the keyring.
//
// Object layout (all integers big-endian):
//   "SLUICEE1"                      8 bytes magic
//   key id length                   1 byte (1..255), then the key id (ASCII)
//   wrap nonce                      12 bytes
//   wrapped data key                32 bytes
//   wrap tag                        16 bytes   (AAD: magic + key id length + key id)
//   data nonce                      12 bytes
//   ciphertext                      n bytes
//   data tag                        16 bytes   (AAD: every header byte above)
//
// The keyring is core/keyring.h's.
// THREADING: Keyring is immutable after Load; an Encryptor belongs to one worker.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/keyring.h"
#include "core/status.h"

namespace sluice::buffer {

using Keyring = ::sluice::Keyring;

class Encryptor final {
 public:
  // `key_id` empty: the keyring's last key.
  static Result<std::unique_ptr<Encryptor>> Create(Keyring keyring, std::string_view key_id);
  // Replaces *out with the encrypted object.
  Status Encrypt(std::string_view plain, std::string* out);
  // Another Encryptor with the same keyring and key, for another owner.
  std::unique_ptr<Encryptor> Clone() const;
  // The id of the master key new data keys are wrapped with.
  const std::string& key_id() const { return key_->id; }

 private:
  Keyring keyring_;
  const Keyring::Key* key_ = nullptr;
};

// Decrypts an object written by Encryptor (what `sluice decrypt` calls).
Result<std::string> DecryptObject(const Keyring& keyring, std::string_view object);

}  // namespace sluice::buffer
