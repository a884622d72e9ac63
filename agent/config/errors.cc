#include "agent/config/errors.h"

#include <algorithm>

namespace sluice::config {

void ErrorList::Add(int line, int column, std::string path, std::string message) {
  errors_.push_back({line, column, std::move(path), std::move(message)});
}

std::string ErrorList::Format(std::string_view file) const {
  std::vector<const ConfigError*> sorted;
  sorted.reserve(errors_.size());
  for (const ConfigError& e : errors_) sorted.push_back(&e);
  std::stable_sort(sorted.begin(), sorted.end(), [](const ConfigError* a, const ConfigError* b) {
    return a->line != b->line ? a->line < b->line : a->column < b->column;
  });
  std::string out;
  for (const ConfigError* e : sorted) {
    if (!out.empty()) out += '\n';
    out += file;
    out += ':' + std::to_string(e->line) + ':' + std::to_string(e->column) + ": ";
    if (!e->path.empty()) out += e->path + ": ";
    out += e->message;
  }
  return out;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + cost});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string_view NearestSpelling(std::string_view word, std::span<const std::string_view> options) {
  std::string_view best;
  size_t best_distance = 3;  // farther than 2 edits is not a misspelling
  for (std::string_view option : options) {
    size_t d = EditDistance(word, option);
    if (d < best_distance && d < word.size()) {
      best = option;
      best_distance = d;
    }
  }
  return best;
}

std::string DidYouMean(std::string_view word, std::span<const std::string_view> options) {
  std::string_view best = NearestSpelling(word, options);
  if (best.empty()) return "";
  return " (did you mean '" + std::string(best) + "'?)";
}

std::string JoinPath(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  std::string out(parent);
  out += '.';
  out += key;
  return out;
}

std::string IndexPath(std::string_view parent, size_t index) {
  return std::string(parent) + "[" + std::to_string(index) + "]";
}

}  // namespace sluice::config
