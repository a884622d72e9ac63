#include "agent/tail/multiline_preset.h"

namespace sluice::agent {
namespace {

std::string_view Chomp(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

bool IsSpace(char c) { return c == ' ' || c == '\t'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// An indented line with something other than whitespace on it.
bool IsIndented(std::string_view line) {
  if (line.empty() || !IsSpace(line.front())) return false;
  for (char c : line) {
    if (!IsSpace(c)) return true;
  }
  return false;
}

}  // namespace

std::optional<MultilinePreset> ParseMultilinePreset(std::string_view name) {
  if (name == "java") return MultilinePreset::kJava;
  if (name == "python") return MultilinePreset::kPython;
  if (name == "go") return MultilinePreset::kGo;
  if (name == "docker") return MultilinePreset::kDocker;
  if (name == "cri") return MultilinePreset::kCri;
  return std::nullopt;
}

std::string_view MultilinePresetName(MultilinePreset preset) {
  switch (preset) {
    case MultilinePreset::kNone:
      return "";
    case MultilinePreset::kJava:
      return "java";
    case MultilinePreset::kPython:
      return "python";
    case MultilinePreset::kGo:
      return "go";
    case MultilinePreset::kDocker:
      return "docker";
    case MultilinePreset::kCri:
      return "cri";
  }
  return "";
}

bool IsBlank(std::string_view line) {
  for (char c : Chomp(line)) {
    if (!IsSpace(c)) return false;
  }
  return true;
}

bool JavaContinues(std::string_view line) {
  line = Chomp(line);
  if (line.empty()) return false;
  if (IsSpace(line.front())) return IsIndented(line);
  if (line.starts_with("Caused by:") || line.starts_with("Suppressed:")) return true;
  // "... 3 more", "... 12 common frames omitted"
  return line.size() > 4 && line.starts_with("... ") && IsDigit(line[4]);
}

bool IsPythonTracebackStart(std::string_view line) {
  line = Chomp(line);
  if (line.starts_with("Exception Group ")) line.remove_prefix(16);
  return line == "Traceback (most recent call last):";
}

bool IsPythonExceptionLine(std::string_view line) {
  line = Chomp(line);
  // (?:[^\s.():]+\.)*[^\s.():]+ then ':' or the end of the line
  size_t segment = 0;
  for (char c : line) {
    if (c == ':') return segment > 0;
    if (c == '.') {
      if (segment == 0) return false;
      segment = 0;
      continue;
    }
    if (IsSpace(c) || c == '(' || c == ')') return false;
    ++segment;
  }
  return segment > 0;
}

bool IsPythonChainMarker(std::string_view line) {
  line = Chomp(line);
  return line == "During handling of the above exception, another exception occurred:" ||
         line == "The above exception was the direct cause of the following exception:";
}

namespace {

// "goroutine 1 [running]:", "goroutine 7 gp=0xc000007 m=0 mp=0x5f4 [select]:"
bool IsGoroutineHeader(std::string_view line) {
  return line.size() > 12 && line.starts_with("goroutine ") && IsDigit(line[10]) &&
         line.ends_with("]:");
}

// A frame's call: no blank before the first '(' and the line ends with ')'.
bool IsGoCall(std::string_view line) {
  if (line.size() < 3 || IsSpace(line.front()) || line.back() != ')') return false;
  for (char c : line) {
    if (c == '(') return true;
    if (IsSpace(c)) return false;
  }
  return false;
}

}  // namespace

bool IsGoTraceStart(std::string_view line) {
  line = Chomp(line);
  return line.starts_with("panic: ") || line.starts_with("fatal error: ") ||
         IsGoroutineHeader(line) || line.find("http: panic serving ") != std::string_view::npos;
}

bool IsGoTraceLine(std::string_view line) {
  line = Chomp(line);
  if (line.empty()) return false;
  if (IsSpace(line.front())) return IsIndented(line);
  return IsGoroutineHeader(line) || IsGoCall(line) || line.starts_with("created by ") ||
         line.starts_with("[signal ") || line.starts_with("panic: ") ||
         line.starts_with("fatal error: ") || line == "runtime stack:" ||
         line == "...additional frames elided...";
}

bool IsGoExitStatus(std::string_view line) {
  line = Chomp(line);
  if (!line.starts_with("exit status ") || line.size() == 12) return false;
  for (char c : line.substr(12)) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

}  // namespace sluice::agent
