#include "agent/config/env_subst.h"

#include <cstdlib>

namespace sluice::config {
namespace {

bool IsNameStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

}  // namespace

Result<std::string> ExpandVariables(std::string_view raw) {
  std::string expanded;
  std::string* out = &expanded;
  out->clear();
  size_t i = 0;
  while (i < raw.size()) {
    char c = raw[i];
    if (c != '$' || i + 1 >= raw.size()) {
      out->push_back(c);
      ++i;
      continue;
    }
    if (raw[i + 1] == '$') {
      out->push_back('$');
      i += 2;
      continue;
    }
    if (raw[i + 1] != '{') {
      out->push_back(c);
      ++i;
      continue;
    }
    size_t close = raw.find('}', i + 2);
    if (close == std::string_view::npos) {
      return InvalidArgument("unterminated \"${\" (write \"$$\" for a literal \"$\")");
    }
    std::string_view body = raw.substr(i + 2, close - (i + 2));
    std::string_view name = body;
    std::string_view fallback;
    bool has_default = false;
    if (size_t sep = body.find(":-"); sep != std::string_view::npos) {
      name = body.substr(0, sep);
      fallback = body.substr(sep + 2);
      has_default = true;
    }
    bool valid = !name.empty() && IsNameStart(name[0]);
    for (char n : name) valid = valid && IsNameChar(n);
    if (!valid) {
      return InvalidArgument("\"${" + std::string(body) +
                             "}\" is not a variable reference (use ${NAME} or ${NAME:-default})");
    }
    const char* value = std::getenv(std::string(name).c_str());
    if (value != nullptr && *value != '\0') {
      *out += value;
    } else if (has_default) {
      *out += fallback;
    } else {
      std::string n(name);
      return InvalidArgument("environment variable " + n +
                             " is not set and has no default (write ${" + n +
                             ":-value} to give one)");
    }
    i = close + 1;
  }
  return expanded;
}

void ExpandTree(Node* node, std::string_view path, ErrorList* errors) {
  switch (node->kind) {
    case Node::Kind::kNull:
      return;
    case Node::Kind::kScalar: {
      if (node->raw.find('$') == std::string::npos) return;
      node->substituted = node->raw.find("${") != std::string::npos;
      Result<std::string> expanded = ExpandVariables(node->raw);
      if (!expanded.ok()) {
        errors->Add(*node, std::string(path), expanded.status().message());
        return;
      }
      node->text = std::move(*expanded);
      return;
    }
    case Node::Kind::kSequence:
      for (size_t i = 0; i < node->items.size(); ++i) {
        ExpandTree(&node->items[i], IndexPath(path, i), errors);
      }
      return;
    case Node::Kind::kMap:
      for (MapEntry& e : node->entries) ExpandTree(&e.value, JoinPath(path, e.key.text), errors);
      return;
  }
}

}  // namespace sluice::config
