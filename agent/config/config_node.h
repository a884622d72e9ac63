// A YAML document as plain data: the config loader's view of a file, free of yaml-cpp types.
//
// Built once by ParseYaml (yaml_adapter.h) and then only read. Every node keeps its 1-based line
// and column so that errors can name where a value came from. Plain data; no threading concerns.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sluice::config {

struct MapEntry;

struct Node {
  enum class Kind { kNull, kScalar, kSequence, kMap };
  Kind kind = Kind::kNull;
  std::string text;               // scalar: the value after ${VAR} substitution
  std::string raw;                // scalar: the value as written in the file
  bool substituted = false;       // scalar: `raw` held a ${...} reference
  int line = 0;                   // 1-based; 0 when unknown
  int column = 0;                 // 1-based
  std::vector<Node> items;        // kSequence
  std::vector<MapEntry> entries;  // kMap, in file order (duplicates kept; the loader reports them)

  bool is_null() const { return kind == Kind::kNull; }
  bool is_scalar() const { return kind == Kind::kScalar; }
  bool is_sequence() const { return kind == Kind::kSequence; }
  bool is_map() const { return kind == Kind::kMap; }
};

struct MapEntry {
  Node key;
  Node value;
};

// "a string", "a list", "a map", "null": for messages such as "expected a map, got a list".
std::string_view KindName(const Node& node);

// The node as compact JSON text: scalars become JSON strings, lists arrays, maps objects.
std::string ToJsonText(const Node& node);

}  // namespace sluice::config
