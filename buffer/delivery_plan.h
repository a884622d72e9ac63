// The one validation path of a delivery: everything its options resolve to before anything
// starts (plugins loaded, sink options validated, policy resolved, prefixes parsed against the
// partition keys, keyring read). `sluice check`, a reload and `run` all call PlanDelivery, and
// DeliveryStream::Create builds from its result, so what check accepts is what starts.
//
// THREADING: PlanDelivery is thread-safe (the PluginHost is). It reads the keyring file and
// loads plugins (and a lua transform's script, whose top level runs in a sandbox), nothing else:
// no directory is created and no consumer registered.
#pragma once

#include <optional>
#include <vector>

#include "buffer/delivery_options.h"
#include "buffer/delivery_policy.h"
#include "buffer/envelope.h"
#include "buffer/object_naming.h"
#include "buffer/partitioner.h"
#include "buffer/plugin_host.h"

namespace sluice::buffer {

struct DeliveryPlan {
  const Plugin* plugin = nullptr;
  ValidatedOptions sink_options;
  ResolvedPolicy policy;
  std::optional<PrefixTemplate> prefix, error_prefix;
  std::vector<PartitionKeySpec> partition_specs;
  const Plugin* transform_plugin = nullptr;  // transform: {plugin: ...}
  ValidatedOptions transform_options;
  const Plugin* backup_plugin = nullptr;  // with a backup section
  std::optional<ValidatedOptions> backup_options;
  std::optional<PrefixTemplate> backup_prefix;
  bool backup_all = false;
  std::optional<Keyring> keyring;  // with encryption
};

// Checks every option of `options` and appends each problem to `issues` (all of them, with the
// position of the key at fault). Returns the plan when there was none.
std::optional<DeliveryPlan> PlanDelivery(const DeliveryOptions& options, PluginHost* host,
                                         std::vector<ConfigIssue>* issues);

}  // namespace sluice::buffer
