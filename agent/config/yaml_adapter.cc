// The yaml-cpp adapter: the only file that includes yaml-cpp or sees its exceptions.
#include "agent/config/yaml_adapter.h"

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

namespace sluice::config {
namespace {

constexpr int kMaxDepth = 64;
// Aliases share nodes in yaml-cpp but are expanded here; this bounds a "billion laughs" document.
constexpr size_t kMaxNodes = 100'000;

struct Budget {
  size_t nodes = 0;
};

void SetMark(const YAML::Mark& mark, Node* out) {
  if (mark.is_null()) return;
  out->line = mark.line + 1;
  out->column = mark.column + 1;
}

// Converts one yaml-cpp node; returns false (with an error added) on a problem yaml-cpp accepts
// but we do not (nesting deeper than kMaxDepth, more than kMaxNodes nodes).
bool Convert(const YAML::Node& in, int depth, Budget* budget, ErrorList* errors, Node* out) {
  SetMark(in.Mark(), out);
  if (depth > kMaxDepth) {
    errors->Add(*out, "", "nesting is deeper than " + std::to_string(kMaxDepth) + " levels");
    return false;
  }
  if (++budget->nodes > kMaxNodes) {
    errors->Add(*out, "",
                "the document expands to more than " + std::to_string(kMaxNodes) +
                    " values (through aliases?)");
    return false;
  }
  switch (in.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      out->kind = Node::Kind::kNull;
      return true;
    case YAML::NodeType::Scalar:
      out->kind = Node::Kind::kScalar;
      out->raw = in.Scalar();
      out->text = out->raw;
      return true;
    case YAML::NodeType::Sequence:
      out->kind = Node::Kind::kSequence;
      for (const YAML::Node& item : in) {
        out->items.emplace_back();
        if (!Convert(item, depth + 1, budget, errors, &out->items.back())) return false;
      }
      return true;
    case YAML::NodeType::Map:
      out->kind = Node::Kind::kMap;
      for (const auto& kv : in) {
        out->entries.emplace_back();
        MapEntry& e = out->entries.back();
        if (!Convert(kv.first, depth + 1, budget, errors, &e.key)) return false;
        if (!Convert(kv.second, depth + 1, budget, errors, &e.value)) return false;
        // An empty value (`key:`) has no mark of its own; point at its key.
        if (e.value.line == 0) {
          e.value.line = e.key.line;
          e.value.column = e.key.column;
        }
      }
      return true;
  }
  return true;
}

}  // namespace

Node ParseYaml(std::string_view text, ErrorList* errors) {
  Node root;
  root.line = 1;
  root.column = 1;
  try {
    std::vector<YAML::Node> docs = YAML::LoadAll(std::string(text));
    if (docs.empty()) return root;
    if (docs.size() > 1) {
      Node second;
      SetMark(docs[1].Mark(), &second);
      errors->Add(second.line, second.column, "",
                  "the file holds " + std::to_string(docs.size()) +
                      " YAML documents; sluice reads exactly one");
      return root;
    }
    const YAML::Node& doc = docs[0];
    Node converted;
    Budget budget;
    if (!Convert(doc, 0, &budget, errors, &converted)) return root;
    if (converted.line == 0) {
      converted.line = 1;
      converted.column = 1;
    }
    return converted;
  } catch (const YAML::Exception& e) {
    int line = e.mark.is_null() ? 1 : e.mark.line + 1;
    int column = e.mark.is_null() ? 1 : e.mark.column + 1;
    errors->Add(line, column, "", "YAML syntax error: " + e.msg);
  } catch (const std::exception& e) {
    errors->Add(1, 1, "", std::string("YAML error: ") + e.what());
  }
  return root;
}

}  // namespace sluice::config
