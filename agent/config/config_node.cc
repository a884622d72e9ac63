#include "agent/config/config_node.h"

#include <cstdio>

#include "core/json.h"

namespace sluice::config {
namespace {

void AppendJson(const Node& node, std::string* out) {
  switch (node.kind) {
    case Node::Kind::kNull:
      *out += "null";
      break;
    case Node::Kind::kScalar:
      AppendJsonString(node.text, out);
      break;
    case Node::Kind::kSequence:
      out->push_back('[');
      for (size_t i = 0; i < node.items.size(); ++i) {
        if (i) out->push_back(',');
        AppendJson(node.items[i], out);
      }
      out->push_back(']');
      break;
    case Node::Kind::kMap:
      out->push_back('{');
      for (size_t i = 0; i < node.entries.size(); ++i) {
        if (i) out->push_back(',');
        AppendJsonString(node.entries[i].key.text, out);
        out->push_back(':');
        AppendJson(node.entries[i].value, out);
      }
      out->push_back('}');
      break;
  }
}

}  // namespace

std::string_view KindName(const Node& node) {
  switch (node.kind) {
    case Node::Kind::kNull:
      return "null";
    case Node::Kind::kScalar:
      return "a string";
    case Node::Kind::kSequence:
      return "a list";
    case Node::Kind::kMap:
      return "a map";
  }
  return "?";
}

std::string ToJsonText(const Node& node) {
  std::string out;
  AppendJson(node, &out);
  return out;
}

}  // namespace sluice::config
