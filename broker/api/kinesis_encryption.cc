// Encryption at rest: StartStreamEncryption, StopStreamEncryption, and how a stream's encryption
// is described (DescribeStream, DescribeStreamSummary).
//
// AWS's KMS keys are the master keys of the broker's keyring (BrokerOptions::keyring). A KeyId
// names one as AWS accepts a key: its id, its ARN (arn:aws:kms:<region>:<account>:key/<id>), an
// alias (alias/<name>) or an alias's ARN, all meaning the keyring's key <id> or <name>; AWS's
// managed key alias/aws/kinesis means the keyring's primary (its last key, so it follows a
// rotation). The stream keeps the keyring's id, so DescribeStream reports that id (or
// alias/aws/kinesis) whatever form StartStreamEncryption was given.
#include <optional>

#include "broker/api/kinesis_call.h"

namespace sluice::broker::api {
namespace {

constexpr std::string_view kAwsManagedKey = "alias/aws/kinesis";

// The keyring id a KeyId names ("" for the primary), or nullopt for an ARN that is not a KMS
// key's or alias's.
std::optional<std::string> KeyringIdOf(std::string_view key_id) {
  std::string_view resource = key_id;
  if (key_id.starts_with("arn:")) {
    // arn:<partition>:kms:<region>:<account>:<resource>
    size_t at = 0;
    std::string_view fields[5];
    for (std::string_view& f : fields) {
      size_t colon = key_id.find(':', at);
      if (colon == std::string_view::npos) return std::nullopt;
      f = key_id.substr(at, colon - at);
      at = colon + 1;
    }
    if (fields[2] != "kms") return std::nullopt;
    resource = key_id.substr(at);
    if (resource.starts_with("key/")) return std::string(resource.substr(4));
    if (!resource.starts_with("alias/")) return std::nullopt;
  }
  if (resource == kAwsManagedKey) return std::string();
  if (resource.starts_with("alias/")) return std::string(resource.substr(6));
  return std::string(resource);
}

// KMS's answer for a key it does not have, in its words.
std::string KeyNotFound(std::string_view key_id, std::string_view region,
                        std::string_view account) {
  std::string arn = std::string(key_id);
  bool alias = key_id.starts_with("alias/") || key_id.find(":alias/") != std::string_view::npos;
  if (!key_id.starts_with("arn:")) {
    arn = "arn:aws:kms:" + std::string(region) + ":" + std::string(account) + ":" +
          (alias ? "" : "key/") + std::string(key_id);
  }
  if (alias) return "Alias " + arn + " is not found.";
  return "Key '" + arn + "' does not exist";
}

}  // namespace

void WriteStreamEncryption(KinesisApi::Call& c, const StreamEncryption& encryption) {
  c.Field("EncryptionType", EncryptionTypeOf(encryption));
  if (!encryption.enabled) return;
  c.Field("KeyId", encryption.key_id.empty() ? kAwsManagedKey : encryption.key_id);
}

void KinesisApi::StartStreamEncryption(Call& c) { ChangeEncryption(c, true); }
void KinesisApi::StopStreamEncryption(Call& c) { ChangeEncryption(c, false); }

void KinesisApi::ChangeEncryption(Call& c, bool start) {
  std::optional<std::string_view> type = c.Str("EncryptionType");
  std::optional<std::string_view> key_id = c.Str("KeyId");
  c.NotNull(type.has_value(), "encryptionType");
  c.NotNull(key_id.has_value(), "keyId");
  c.Enum(type, "encryptionType", {"NONE", "KMS"});
  c.Length(key_id, "keyId", 1, 2048);
  Stream* s = ResolveStream(c);  // checks the violations first
  if (s == nullptr) return;
  if (*type != "KMS") {
    c.Fail("InvalidArgumentException",
           "Encryption type " + std::string(*type) + " is not supported; use KMS.");
    return;
  }
  StreamEncryption want;  // Stop: any valid KeyId, as AWS asks for one but does not check it
  if (start) {
    std::optional<std::string> id = KeyringIdOf(*key_id);
    if (!id) {
      c.Fail("KMSNotFoundException", KeyNotFound(*key_id, options_.region, options_.account_id));
      return;
    }
    want.enabled = true;
    want.key_id = std::move(*id);
  }
  Status st = s->SetEncryption(want);
  if (st.ok()) return;
  switch (st.code()) {
    case Code::kNotFound:
      c.Fail("KMSNotFoundException", KeyNotFound(*key_id, options_.region, options_.account_id));
      break;
    case Code::kInvalidArgument:
      // No keyring: as AWS answers an account without KMS.
      c.Fail("KMSOptInRequired",
             "This broker has no keyring (broker.encryption.keyring), so streams cannot be "
             "encrypted: " +
                 st.message());
      break;
    default:
      c.Fail("InternalFailure",
             std::string(start ? "StartStreamEncryption " : "StopStreamEncryption ") + s->name() +
                 ": " + st.message(),
             500);
  }
}

}  // namespace sluice::broker::api
