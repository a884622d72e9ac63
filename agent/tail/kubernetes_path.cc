#include "agent/tail/kubernetes_path.h"

namespace sluice::agent {
namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters.
bool IsDnsLabel(std::string_view s) {
  if (s.empty() || s.size() > 63 || !IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) {
    return false;
  }
  for (char c : s) {
    if (!IsLowerAlnum(c) && c != '-') return false;
  }
  return true;
}

// RFC 1123 subdomain: labels joined by '.', at most 253 characters.
bool IsDnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (;;) {
    size_t dot = s.find('.');
    std::string_view label = s.substr(0, dot);
    if (label.empty() || !IsLowerAlnum(label.front()) || !IsLowerAlnum(label.back())) {
      return false;
    }
    for (char c : label) {
      if (!IsLowerAlnum(c) && c != '-') return false;
    }
    if (dot == std::string_view::npos) return true;
    s.remove_prefix(dot + 1);
  }
}

// 8-4-4-4-12 lowercase hex digits.
bool IsUid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !IsHex(s[i])) return false;
  }
  return true;
}

// The last component of `path` (after the last '/'), and `path` shortened to before it.
std::string_view PopComponent(std::string_view* path) {
  size_t slash = path->rfind('/');
  if (slash == std::string_view::npos) {
    std::string_view last = *path;
    *path = {};
    return last;
  }
  std::string_view last = path->substr(slash + 1);
  *path = path->substr(0, slash);
  return last;
}

// <pod>_<namespace>_<container>-<id>.log
std::optional<KubernetesPath> ContainersLayout(std::string_view name) {
  constexpr size_t kIdSize = 64;
  if (!name.ends_with(".log")) return std::nullopt;
  name.remove_suffix(4);
  if (name.size() < kIdSize + 1 || name[name.size() - kIdSize - 1] != '-') return std::nullopt;
  std::string_view id = name.substr(name.size() - kIdSize);
  for (char c : id) {
    if (!IsLowerAlnum(c)) return std::nullopt;
  }
  name.remove_suffix(kIdSize + 1);
  size_t first = name.find('_');
  if (first == std::string_view::npos) return std::nullopt;
  size_t second = name.find('_', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  std::string_view pod = name.substr(0, first);
  std::string_view ns = name.substr(first + 1, second - first - 1);
  std::string_view container = name.substr(second + 1);
  if (!IsDnsSubdomain(pod) || !IsDnsLabel(ns) || !IsDnsLabel(container)) return std::nullopt;
  return KubernetesPath{std::string(pod), std::string(ns), std::string(container), std::string(id),
                        ""};
}

// <namespace>_<pod>_<uid>/<container>/<n>.log
std::optional<KubernetesPath> PodsLayout(std::string_view path) {
  std::string_view file = PopComponent(&path);
  std::string_view container = PopComponent(&path);
  std::string_view pod_dir = PopComponent(&path);
  if (!file.ends_with(".log") || file.size() == 4) return std::nullopt;
  for (char c : file.substr(0, file.size() - 4)) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  size_t first = pod_dir.find('_');
  size_t last = pod_dir.rfind('_');
  if (first == std::string_view::npos || first == last) return std::nullopt;
  std::string_view ns = pod_dir.substr(0, first);
  std::string_view pod = pod_dir.substr(first + 1, last - first - 1);
  std::string_view uid = pod_dir.substr(last + 1);
  if (!IsDnsLabel(ns) || !IsDnsSubdomain(pod) || !IsUid(uid) || !IsDnsLabel(container)) {
    return std::nullopt;
  }
  return KubernetesPath{std::string(pod), std::string(ns), std::string(container), "",
                        std::string(uid)};
}

}  // namespace

std::optional<KubernetesPath> ParseKubernetesLogPath(std::string_view path) {
  std::string_view rest = path;
  std::string_view name = PopComponent(&rest);
  if (auto k = ContainersLayout(name)) return k;
  return PodsLayout(path);
}

}  // namespace sluice::agent
