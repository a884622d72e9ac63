// Secrets in configuration: which keys hold them, reading them from the environment or a file,
// and the rule that a file holding secrets must not be readable by others. The functions are
// core/secret_key's (the plugin host resolves plugin-declared secrets with them too).
// Messages never contain a secret value.
#pragma once

#include <string>
#include <string_view>

#include "core/secret_key.h"

namespace sluice::config {

using sluice::FileMode;
using sluice::SecretFromEnv;
using sluice::SecretFromFile;

}  // namespace sluice::config
