// Collects the errors of one config load and formats them, one per line, as
// `file:line:col: key.path: message`, sorted by position so the output reads like the file.
//
// Also the "did you mean" helper used for unknown keys and enum values. Not thread-safe; one
// ErrorList per load.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config/config_node.h"

namespace sluice::config {

struct ConfigError {
  int line = 0;
  int column = 0;
  std::string path;  // "deliveries[0].buffer.interval"; empty for syntax errors
  std::string message;
};

class ErrorList final {
 public:
  void Add(int line, int column, std::string path, std::string message);
  void Add(const Node& at, std::string path, std::string message) {
    Add(at.line, at.column, std::move(path), std::move(message));
  }
  bool empty() const { return errors_.empty(); }
  size_t size() const { return errors_.size(); }
  const std::vector<ConfigError>& errors() const { return errors_; }

  // All errors, sorted by line then column (stable), one per line, no trailing newline.
  std::string Format(std::string_view file) const;

 private:
  std::vector<ConfigError> errors_;
};

// Levenshtein distance between two short strings.
size_t EditDistance(std::string_view a, std::string_view b);

// The candidate nearest to `word` when it is near enough to be a likely misspelling (distance at
// most 2, and less than the word's length), else empty.
std::string_view NearestSpelling(std::string_view word, std::span<const std::string_view> options);

// " (did you mean 'x'?)" or "".
std::string DidYouMean(std::string_view word, std::span<const std::string_view> options);

// Joins a key path: JoinPath("a", "b") == "a.b", JoinPath("", "b") == "b".
std::string JoinPath(std::string_view parent, std::string_view key);
std::string IndexPath(std::string_view parent, size_t index);  // "a[3]"

}  // namespace sluice::config
