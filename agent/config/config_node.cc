#include "agent/config/config_node.h"

#include <cstdio>

namespace sluice::config {
namespace {

void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          *out += buf;
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

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
