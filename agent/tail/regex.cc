#include "agent/tail/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace sluice::agent {

Result<std::unique_ptr<Regex>> Regex::Compile(std::string_view pattern) {
  int err = 0;
  PCRE2_SIZE err_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), 0,
                                   &err, &err_offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof(msg));
    return InvalidArgument("regex \"" + std::string(pattern) + "\" at offset " +
                           std::to_string(err_offset) + ": " + reinterpret_cast<const char*>(msg));
  }
  std::unique_ptr<Regex> re(new Regex());
  re->code_ = code;
  re->jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  uint32_t count = 0;
  pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &count);
  re->capture_count_ = static_cast<int>(count);
  re->group_names_.resize(count);
  uint32_t name_count = 0, entry_size = 0;
  PCRE2_SPTR table = nullptr;
  pcre2_pattern_info(code, PCRE2_INFO_NAMECOUNT, &name_count);
  pcre2_pattern_info(code, PCRE2_INFO_NAMEENTRYSIZE, &entry_size);
  pcre2_pattern_info(code, PCRE2_INFO_NAMETABLE, &table);
  for (uint32_t i = 0; i < name_count; ++i) {
    PCRE2_SPTR entry = table + i * entry_size;
    int group = (entry[0] << 8) | entry[1];
    if (group >= 1 && group <= static_cast<int>(count)) {
      re->group_names_[group - 1] = reinterpret_cast<const char*>(entry + 2);
    }
  }
  re->match_data_ = pcre2_match_data_create_from_pattern(code, nullptr);
  if (re->match_data_ == nullptr) return Internal("pcre2: out of memory for match data");
  return re;
}

Regex::~Regex() {
  if (match_data_ != nullptr) pcre2_match_data_free(static_cast<pcre2_match_data*>(match_data_));
  if (code_ != nullptr) pcre2_code_free(static_cast<pcre2_code*>(code_));
}

int Regex::Run(std::string_view subject, size_t from) {
  auto* code = static_cast<pcre2_code*>(code_);
  auto* md = static_cast<pcre2_match_data*>(match_data_);
  // A view may have a null data pointer when empty; PCRE2 wants a valid pointer.
  PCRE2_SPTR s = subject.data() != nullptr ? reinterpret_cast<PCRE2_SPTR>(subject.data())
                                           : reinterpret_cast<PCRE2_SPTR>("");
  if (jit_) return pcre2_jit_match(code, s, subject.size(), from, 0, md, nullptr);
  return pcre2_match(code, s, subject.size(), from, 0, md, nullptr);
}

bool Regex::Matches(std::string_view subject) { return Run(subject) >= 0; }

bool Regex::Capture(std::string_view subject, std::vector<std::string_view>* groups) {
  groups->clear();
  int rc = Run(subject);
  if (rc < 0) return false;
  PCRE2_SIZE* ov = pcre2_get_ovector_pointer(static_cast<pcre2_match_data*>(match_data_));
  for (int i = 1; i <= capture_count_; ++i) {
    PCRE2_SIZE b = ov[2 * i], e = ov[2 * i + 1];
    if (i >= rc || b == PCRE2_UNSET) {
      groups->emplace_back();
    } else {
      groups->emplace_back(subject.data() + b, e - b);
    }
  }
  return true;
}

bool Regex::Find(std::string_view subject, size_t from, size_t* begin, size_t* end) {
  if (from > subject.size() || Run(subject, from) < 0) return false;
  PCRE2_SIZE* ov = pcre2_get_ovector_pointer(static_cast<pcre2_match_data*>(match_data_));
  *begin = ov[0];
  *end = ov[1];
  return true;
}

}  // namespace sluice::agent
