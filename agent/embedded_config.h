// The default configuration (conf/sluice.yaml), compiled into the binary so that `sluice run`
// without -c, and `sluice config`, work from any directory.
#pragma once

#include <string_view>

namespace sluice::agent {

std::string_view EmbeddedDefaultConfig();

}  // namespace sluice::agent
