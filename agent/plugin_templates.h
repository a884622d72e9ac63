// The projects `sluice plugin new` writes: one per language (c, cpp) and kind (object, record,
// transform), each a CMakeLists.txt using find_package(SluiceSDK), one source file and a README.
// Pure functions.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace sluice::agent {

// The files (name relative to the project directory, contents) of plugin `name`; empty when
// `lang` or `kind` is not one of the above.
std::vector<std::pair<std::string, std::string>> PluginTemplate(const std::string& name,
                                                                const std::string& lang,
                                                                const std::string& kind);

}  // namespace sluice::agent
