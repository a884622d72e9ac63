// ${VAR} and ${VAR:-default} substitution in scalar values, applied before values are typed.
//
// `$$` is a literal `$`; a `$` not followed by `{` or `$` is kept as is. `${VAR:-default}` uses the
// default when VAR is unset or empty. A reference to an unset variable without a default is an
// error. Reads the process environment (getenv); call it from one thread while nothing else
// modifies the environment.
#pragma once

#include <string>
#include <string_view>

#include "agent/config/config_node.h"
#include "agent/config/errors.h"
#include "core/status.h"

namespace sluice::config {

// `raw` with its ${VAR} and ${VAR:-default} references expanded ($$ is a literal $), or why not.
Result<std::string> ExpandVariables(std::string_view raw);

// Expands every scalar value (not map keys) of the tree in place: `text` gets the expansion,
// `raw` keeps the original and `substituted` records whether a ${...} was present. Errors name
// the scalar's position and key path.
void ExpandTree(Node* node, std::string_view path, ErrorList* errors);

}  // namespace sluice::config
