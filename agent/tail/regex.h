// Regex: a compiled PCRE2 pattern (JIT where the platform allows) with reusable match data.
//
// THREADING: a Regex is not thread-safe: Match reuses one match-data block. Use one per flow; the
// flow lives on the loop thread.
// OWNERSHIP: owns the compiled code and match data; frees them on destruction.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sluice::agent {

class Regex final {
 public:
  // Compiles `pattern`; the error names the offset and the reason.
  static Result<std::unique_ptr<Regex>> Compile(std::string_view pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // True if the pattern matches somewhere in `subject` (anchor it with ^ to match at the start).
  bool Matches(std::string_view subject);
  // Matches and fills `groups` with capture groups 1..n (an unset group is an empty view with a
  // null data pointer). Views point into `subject`. Returns false on no match.
  bool Capture(std::string_view subject, std::vector<std::string_view>* groups);
  // The first match at or after `from`: [*begin, *end) of `subject`. False when there is none.
  bool Find(std::string_view subject, size_t from, size_t* begin, size_t* end);

  int capture_count() const { return capture_count_; }
  // Names of the named groups, indexed by group number - 1 (empty for unnamed groups).
  const std::vector<std::string>& group_names() const { return group_names_; }

 private:
  Regex() = default;
  int Run(std::string_view subject, size_t from = 0);

  void* code_ = nullptr;        // pcre2_code*
  void* match_data_ = nullptr;  // pcre2_match_data*
  bool jit_ = false;
  int capture_count_ = 0;
  std::vector<std::string> group_names_;
};

}  // namespace sluice::agent
