// FirehoseApi's server-side encryption: StartDeliveryStreamEncryption,
// StopDeliveryStreamEncryption, CreateDeliveryStream's DeliveryStreamEncryptionConfigurationInput
// and DescribeDeliveryStream's DeliveryStreamEncryptionConfiguration.
//
// A DirectPut delivery stream's records are at rest in its internal broker stream
// (DirectPutStreamName) until delivered, so its SSE is that stream's encryption at rest
// (Stream::SetEncryption), under the broker's keyring (kms_keys.h): AWS_OWNED_CMK is the
// keyring's primary, so it follows a rotation; CUSTOMER_MANAGED_CMK's KeyARN names a keyring key
// by key/<id> or alias/<id>. The records are delivered as they were put: SSE is about the copy
// kept here, as on AWS. A KinesisStreamAsSource delivery stream keeps no records of its own (they
// are in its source stream, which Kinesis StartStreamEncryption encrypts), and AWS refuses SSE for
// it.
#include <algorithm>
#include <cctype>
#include <optional>
#include <string>

#include "broker/api/firehose_api.h"
#include "broker/api/firehose_call.h"
#include "broker/api/kms_keys.h"
#include "core/log.h"

namespace sluice::broker::api {
namespace {

constexpr std::string_view kAwsOwned = "AWS_OWNED_CMK";
constexpr std::string_view kCustomerManaged = "CUSTOMER_MANAGED_CMK";
constexpr std::string_view kKeyArnPattern =
    R"(arn:.*:kms:[a-zA-Z0-9\-]+:\d{12}:(key|alias)/[a-zA-Z_0-9+=,.@\-_/]+)";

// Whether `arn` matches Firehose's AWSKMSKeyARN pattern (kKeyArnPattern), the partition taken
// as one field.
bool IsKmsKeyArn(std::string_view arn) {
  std::string_view fields[5];
  size_t at = 0;
  for (std::string_view& f : fields) {
    size_t colon = arn.find(':', at);
    if (colon == std::string_view::npos) return false;
    f = arn.substr(at, colon - at);
    at = colon + 1;
  }
  std::string_view resource = arn.substr(at);
  auto all = [](std::string_view s, auto pred) {
    return !s.empty() && std::all_of(s.begin(), s.end(), pred);
  };
  auto region_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; };
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  auto name_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("_+=,.@-/").find(c) != std::string_view::npos;
  };
  size_t slash = resource.find('/');
  if (slash == std::string_view::npos) return false;
  std::string_view kind = resource.substr(0, slash);
  return fields[0] == "arn" && fields[2] == "kms" && all(fields[3], region_char) &&
         fields[4].size() == 12 && all(fields[4], digit) && (kind == "key" || kind == "alias") &&
         all(resource.substr(slash + 1), name_char);
}

}  // namespace

bool ReadEncryptionInput(FirehoseApi::Call& c, const rapidjson::Value* input,
                         StreamEncryption* want, std::string* key_arn) {
  *want = StreamEncryption{true, ""};
  key_arn->clear();
  std::optional<std::string_view> type, arn;
  if (input != nullptr) {
    if (!input->IsObject()) {
      c.Fail("SerializationException",
             "Expected an object for DeliveryStreamEncryptionConfigurationInput");
      return false;
    }
    type = c.Str("KeyType", input);
    arn = c.Str("KeyARN", input);
    if (c.failed) return false;
    constexpr std::string_view kAt = "' at 'deliveryStreamEncryptionConfigurationInput.";
    if (!type) {
      c.violations.push_back(
          "Value null at 'deliveryStreamEncryptionConfigurationInput.keyType' failed to "
          "satisfy constraint: Member must not be null");
    } else if (*type != kAwsOwned && *type != kCustomerManaged) {
      c.violations.push_back("Value '" + std::string(*type) + std::string(kAt) +
                             "keyType' failed to satisfy constraint: Member must satisfy enum "
                             "value set: [AWS_OWNED_CMK, CUSTOMER_MANAGED_CMK]");
    }
    if (arn && (arn->empty() || arn->size() > 512)) {
      c.violations.push_back(
          "Value '" + std::string(*arn) + std::string(kAt) +
          "keyARN' failed to satisfy constraint: Member must have length " +
          (arn->empty() ? "greater than or equal to 1" : "less than or equal to 512"));
    } else if (arn && !IsKmsKeyArn(*arn)) {
      c.violations.push_back("Value '" + std::string(*arn) + std::string(kAt) +
                             "keyARN' failed to satisfy constraint: Member must satisfy regular "
                             "expression pattern: " +
                             std::string(kKeyArnPattern));
    }
  }
  if (!c.Check()) return false;
  if (type == kCustomerManaged) {
    if (!arn) {
      c.Fail("InvalidArgumentException", "KeyARN is required when KeyType is CUSTOMER_MANAGED_CMK");
      return false;
    }
    want->key_id = KeyringIdOf(*arn, {}).value_or(std::string());  // the pattern held
    *key_arn = std::string(*arn);
  } else if (arn) {
    c.Fail("InvalidArgumentException",
           "KeyARN must not be given when KeyType is AWS_OWNED_CMK: Firehose uses a key of its "
           "own (here the keyring's primary); give KeyType CUSTOMER_MANAGED_CMK to name a key");
    return false;
  }
  return true;
}

void FirehoseApi::FailEncryption(Call& c, const Status& st, std::string_view key_arn) {
  switch (st.code()) {
    case Code::kInvalidArgument:
      // No keyring: no KMS key can be had, which Firehose answers with InvalidKMSResource.
      c.Fail("InvalidKMSResourceException",
             "This broker has no keyring (broker.encryption.keyring), so delivery streams "
             "cannot be encrypted");
      break;
    case Code::kNotFound:
      c.Fail("InvalidKMSResourceException",
             key_arn.empty() ? st.message()
                             : KmsKeyNotFound(key_arn, options_.region, options_.account_id));
      break;
    default:
      c.Fail("InternalFailure", st.message(), 500);
  }
}

void FirehoseApi::WriteEncryption(Call& c, const FirehoseStreamState& state, bool from_stream) {
  StreamEncryption now;
  if (!from_stream) {
    if (auto s = broker_->GetStream(DirectPutStreamName(state.name)); s.ok()) {
      now = (*s)->options().encryption;
    }
  }
  c.w.Key("DeliveryStreamEncryptionConfiguration");
  c.w.StartObject();
  if (now.enabled && now.key_id.empty()) {
    c.Field("KeyType", kAwsOwned);
  } else if (now.enabled) {
    // The KeyARN given when it still names the key (a stream moved to another key by other
    // means is described by that key).
    bool given = !state.key_arn.empty() && KeyringIdOf(state.key_arn, {}) == now.key_id;
    c.Field("KeyARN", given ? state.key_arn
                            : "arn:aws:kms:" + options_.region + ":" + options_.account_id +
                                  ":key/" + now.key_id);
    c.Field("KeyType", kCustomerManaged);
  }
  c.Field("Status", now.enabled ? "ENABLED" : "DISABLED");
  c.w.EndObject();
}

void FirehoseApi::StartDeliveryStreamEncryption(Call& c) { ChangeEncryption(c, true); }
void FirehoseApi::StopDeliveryStreamEncryption(Call& c) { ChangeEncryption(c, false); }

void FirehoseApi::ChangeEncryption(Call& c, bool start) {
  std::optional<std::string_view> name = c.Name();
  StreamEncryption want;  // Stop: disabled
  std::string key_arn;
  if (start) {
    const rapidjson::Value* input = c.Get("DeliveryStreamEncryptionConfigurationInput");
    if (!ReadEncryptionInput(c, input, &want, &key_arn)) return;
  }
  if (!c.Check()) return;
  std::string_view operation =
      start ? "StartDeliveryStreamEncryption" : "StopDeliveryStreamEncryption";
  if (Controller(c, operation) == nullptr) return;
  FirehoseStreamState state;
  if (!Lookup(c, *name, &state)) return;
  const FirehoseDelivery* d = Configured(*name);
  if (d != nullptr && !d->source_stream.empty()) {
    return c.Fail("InvalidArgumentException",
                  "Server-side encryption is not supported for delivery streams with "
                  "KinesisStreamAsSource: " +
                      std::string(*name) + " keeps no records at rest; they are in stream " +
                      d->source_stream + ", which StartStreamEncryption encrypts");
  }
  Stream* s = ResolveDirectPut(c, *name);
  if (s == nullptr) return;
  // The stream first: a refused key changes nothing, and the state never claims encryption its
  // records lack. Should the state not be saved, the stream goes back to what it still says.
  StreamEncryption before = s->options().encryption;
  Status st = s->SetEncryption(want);
  if (!st.ok()) return FailEncryption(c, st, key_arn);
  state.encrypted = start;
  state.key_arn = key_arn;
  if (!ApplyState(c, state, false)) {
    Status back = s->SetEncryption(before);
    if (!back.ok()) {
      SLUICE_LOG(Error, "firehose delivery stream encryption not restored")
          .With("name", *name)
          .With("error", back.message());
    }
    return;
  }
  if (start && key_arn.empty()) key_arn = "(the keyring's primary)";
  SLUICE_LOG(Info, start ? "firehose delivery stream encryption started"
                         : "firehose delivery stream encryption stopped")
      .With("name", *name)
      .With("key", start ? key_arn : std::string("none"));
}

}  // namespace sluice::broker::api
