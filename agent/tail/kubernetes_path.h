// Kubernetes metadata from a container log's path, with no API server call: the kubelet names
// each container's log file after the pod, namespace and container it belongs to.
//
//   /var/log/containers/<pod>_<namespace>_<container>-<64-character container id>.log
//   /var/log/pods/<namespace>_<pod>_<pod uid>/<container>/<restart count>.log
//
// The names follow Kubernetes' rules: a pod name is a DNS subdomain (lowercase letters, digits,
// '-' and '.', at most 253 characters, each dot-separated label starting and ending with a letter
// or digit), a namespace and a container name are DNS labels (no '.', at most 63). None holds a
// '_', so the file name splits at its first two '_' as Fluent Bit's kubernetes filter regex does.
// Only the file name (and for the second layout its two parent directories) is read, so the
// layouts are recognised under any mount point (/host/var/log/containers/...).
//
// THREADING: pure function, no state.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sluice::agent {

struct KubernetesPath {
  std::string pod_name;
  std::string namespace_name;
  std::string container_name;
  std::string container_id;  // /var/log/containers layout; empty in the pods layout
  std::string pod_uid;       // /var/log/pods layout; empty in the containers layout

  bool operator==(const KubernetesPath&) const = default;
};

// The names in `path`, or nullopt when it is in neither layout or a name breaks the rules.
std::optional<KubernetesPath> ParseKubernetesLogPath(std::string_view path);

}  // namespace sluice::agent
