// AWS KMS key names as the Kinesis and Firehose APIs take them, mapped to the master keys of the
// broker's keyring (BrokerOptions::keyring): the APIs' KMS keys are the keyring's keys.
//
// A key is named by its id, its ARN (arn:aws:kms:<region>:<account>:key/<id>), an alias
// (alias/<name>) or an alias's ARN, all meaning the keyring's key <id> or <name>.
//
// THREADING: pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sluice::broker::api {

// The keyring id `key_id` names, or nullopt for an ARN that is not a KMS key's or alias's.
// `managed_alias` (as "alias/aws/kinesis"; empty: none) is AWS's managed key of the service,
// which means the keyring's primary: "" (StreamEncryption::key_id), so it follows a rotation.
std::optional<std::string> KeyringIdOf(std::string_view key_id, std::string_view managed_alias);

// KMS's answer for a key it does not have, in its words ("Key 'arn:...:key/k9' does not exist",
// "Alias arn:...:alias/x is not found."); a bare id or alias is put in an ARN of `region` and
// `account`.
std::string KmsKeyNotFound(std::string_view key_id, std::string_view region,
                           std::string_view account);

}  // namespace sluice::broker::api
