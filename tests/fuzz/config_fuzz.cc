// Fuzz target: the YAML configuration loader (parse, ${VAR} substitution, schema checks, the
// cross-key rules). Any input must give a Config or an error Status, never a crash or a throw.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = sluice::config::LoadConfigText(text, "fuzz.yaml");
  if (config.ok()) {
    // A loaded config must survive the conversions the daemon makes next.
    (void)sluice::config::BrokerOptionsOf(*config);
  }
  return 0;
}
