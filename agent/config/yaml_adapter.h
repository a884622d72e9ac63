// The only place yaml-cpp is used: parses YAML text into a config::Node tree.
//
// yaml-cpp reports errors by throwing; every exception is caught here and turned into a
// ConfigError carrying the line and column yaml-cpp points at. Pure function; thread-safe.
#pragma once

#include <string_view>
#include <vector>

#include "agent/config/config_node.h"
#include "agent/config/errors.h"

namespace sluice::config {

// Parses text holding one YAML document (more than one is an error). An empty text yields a null
// node. On an error, appends to `errors` and returns a null node. Scalars are copied to both
// `text` and `raw`; ${VAR} expansion is a separate step (env_subst.h).
Node ParseYaml(std::string_view text, ErrorList* errors);

}  // namespace sluice::config
