// The yaml-cpp adapter: the only file that includes yaml-cpp or sees its exceptions.
#include "agent/config/yaml_adapter.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <sstream>
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

// Thrown by DocumentProbe past kMaxNodes values, before yaml-cpp builds any node: a file of a
// few MiB of short values would otherwise take a GiB of nodes before the budget refused it.
struct TooManyValues {
  YAML::Mark at;
};

// Notes where a document starts and where its first node is, and counts values.
class DocumentProbe final : public YAML::EventHandler {
 public:
  explicit DocumentProbe(size_t* values) : values_(values) {}
  YAML::Mark start;
  YAML::Mark first_node;
  bool has_node = false;

  void OnDocumentStart(const YAML::Mark& mark) override { start = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { Note(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { Note(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Note(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Note(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Note(mark);
  }
  void OnMapEnd() override {}

 private:
  void Note(const YAML::Mark& mark) {
    if (!has_node) first_node = mark;
    has_node = true;
    if (++*values_ > kMaxNodes) throw TooManyValues{mark};
  }
  size_t* values_;
};

// The documents of a file, as far as they can be read: their number and where the second starts.
struct DocumentCount {
  int documents = 0;  // -1: a stall, reported as a syntax error
  YAML::Mark second;
};

// Reads the documents in `text` through a probe, without building nodes. yaml-cpp 0.7 (Debian 12)
// has a parser bug (fixed upstream in 2024, yaml-cpp pull request 1319) where a token that no rule
// accepts at a document boundary, such as a leading `,`, yields an empty document without consuming
// the token, so every further document is the same empty one and YAML::LoadAll loops allocating
// without bound. Such a stall shows as a document starting where the previous one started; it is
// reported as a syntax error at that token. At most kMaxDocuments are read. Throws what yaml-cpp
// throws.
DocumentCount CountDocuments(std::string_view text, ErrorList* errors) {
  constexpr int kMaxDocuments = 1000;
  std::istringstream in{std::string(text)};
  YAML::Parser parser(in);
  DocumentCount count;
  YAML::Mark previous_start;
  size_t values = 0;
  while (count.documents < kMaxDocuments) {
    DocumentProbe probe(&values);
    try {
      if (!parser.HandleNextDocument(probe)) break;
    } catch (const TooManyValues& e) {
      errors->Add(e.at.line + 1, e.at.column + 1, "",
                  "the file holds more than " + std::to_string(kMaxNodes) + " values");
      count.documents = -1;
      return count;
    }
    if (count.documents > 0 && probe.start.pos == previous_start.pos) {
      const YAML::Mark& at = probe.has_node ? probe.first_node : probe.start;
      char c = at.pos >= 0 && static_cast<size_t>(at.pos) < text.size() ? text[at.pos] : '?';
      errors->Add(at.line + 1, at.column + 1, "",
                  std::string("YAML syntax error: unexpected '") + c +
                      "' (not the start of a key, a value or a list item)");
      count.documents = -1;
      return count;
    }
    if (count.documents == 1) count.second = probe.has_node ? probe.first_node : probe.start;
    previous_start = probe.start;
    ++count.documents;
  }
  return count;
}

}  // namespace

Node ParseYaml(std::string_view text, ErrorList* errors) {
  Node root;
  root.line = 1;
  root.column = 1;
  try {
    // Never YAML::LoadAll: see CountDocuments.
    DocumentCount count = CountDocuments(text, errors);
    if (count.documents <= 0) return root;
    if (count.documents > 1) {
      Node second;
      SetMark(count.second, &second);
      errors->Add(second.line, second.column, "",
                  "the file holds " + std::to_string(count.documents) +
                      " YAML documents; sluice reads exactly one");
      return root;
    }
    const YAML::Node doc = YAML::Load(std::string(text));
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
