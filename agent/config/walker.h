// Checks a YAML tree against the schema and fills the Config through the fields' setters.
//
// Reports every problem it finds (unknown keys with a "did you mean", wrong types, values out of
// range, missing required keys, duplicate keys) and carries on, so one run lists them all.
// Applies each absent key's documented default. Not thread-safe; one walk per LoadContext.
#pragma once

#include "agent/config/config_node.h"
#include "agent/config/errors.h"
#include "agent/config/schema.h"

namespace sluice::config {

void WalkSection(LoadContext& ctx, const Section& section, const Node& node,
                 const std::string& path, ErrorList* errors);

}  // namespace sluice::config
