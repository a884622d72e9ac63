// Which option and log field names hold secrets: the one word list the configuration loader
// (inline secrets in readable files, <key>_file / <key>_env, for every key of the file), the
// logger (fields written as [redacted]) and the kafka sink (the librdkafka properties it logs)
// share. The plugin host goes by an option's SLUICE_SECRET flag instead. Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace sluice {

// True when `key` names a secret: it contains secret, token, password, passwd, access_key,
// api_key, private_key, authorization, credential, sasl or key.pem, and does not end in _id,
// _env, _file or _path (access_key_id names a key; token_file and password_env say where a
// secret is). Case-sensitive: callers with names in other cases lower them first.
bool IsSecretKey(std::string_view key);

// The value of environment variable `name`; an error names the variable.
Result<std::string> SecretFromEnv(std::string_view name);

// The contents of the file at `path` (one trailing newline dropped); refuses a file others can
// read (mode & 0004). An error names the path, never the secret.
Result<std::string> SecretFromFile(const std::string& path);

// The file mode bits of `path`.
Result<int> FileMode(const std::string& path);

}  // namespace sluice
