// Encryption at rest: StartStreamEncryption, StopStreamEncryption, and how a stream's encryption
// is described (DescribeStream, DescribeStreamSummary).
//
// AWS's KMS keys are the master keys of the broker's keyring (BrokerOptions::keyring). A KeyId
// names one in any form AWS accepts a key (kms_keys.h); AWS's managed key alias/aws/kinesis
// means the keyring's primary (its last key, so it follows a rotation). The stream keeps the
// keyring's id, so DescribeStream reports that id (or alias/aws/kinesis) whatever form
// StartStreamEncryption was given.
#include <optional>

#include "broker/api/kinesis_call.h"
#include "broker/api/kms_keys.h"

namespace sluice::broker::api {
namespace {

constexpr std::string_view kAwsManagedKey = "alias/aws/kinesis";

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
    std::optional<std::string> id = KeyringIdOf(*key_id, kAwsManagedKey);
    if (!id) {
      c.Fail("KMSNotFoundException", KmsKeyNotFound(*key_id, options_.region, options_.account_id));
      return;
    }
    want.enabled = true;
    want.key_id = std::move(*id);
  }
  Status st = s->SetEncryption(want);
  if (st.ok()) return;
  switch (st.code()) {
    case Code::kNotFound:
      c.Fail("KMSNotFoundException", KmsKeyNotFound(*key_id, options_.region, options_.account_id));
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
