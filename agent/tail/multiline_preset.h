// Multiline presets: the lines of a runtime's stack trace that belong together (java, python,
// go), and the parts of a container runtime's split lines (docker, cri).
//
// This file holds the per-line tests, pure and table-tested; the Framer (framer.h,
// framer_presets.cc) runs the state machines that use them. The trace classifiers are
// hand-written: each looks at the first bytes of a line (and, for a few, its last bytes), with no
// regular expression and no allocation, so a preset costs about what a memchr of the line does.
// A trailing '\r' (CRLF files) is ignored by every test.
//
// THREADING: pure functions, no state.
#pragma once

#include <optional>
#include <string_view>

namespace sluice::agent {

enum class MultilinePreset { kNone, kJava, kPython, kGo, kDocker, kCri };

// "java", "python", "go", "docker", "cri"; nullopt for anything else, "" included.
std::optional<MultilinePreset> ParseMultilinePreset(std::string_view name);
std::string_view MultilinePresetName(MultilinePreset preset);

// java: true when the line continues the record before it: an indented line (a space or a tab,
// then something other than whitespace: "\tat ...", "\t... 3 more", "\tSuppressed: ...",
// "\tCaused by: ..."), or at the line's start "Caused by:", "Suppressed:" or "... N" ("... 3
// more", "... 12 common frames omitted"). Any other line starts a record.
bool JavaContinues(std::string_view line);

// python: "Traceback (most recent call last):" (also "Exception Group Traceback ...") starts a
// traceback.
bool IsPythonTracebackStart(std::string_view line);
// python: the line that ends a traceback, a dotted name at the line's start followed by ':' or
// by nothing ("ValueError: bad", "requests.exceptions.HTTPError: 404", "KeyboardInterrupt").
bool IsPythonExceptionLine(std::string_view line);
// python: the line between two tracebacks of a chained exception ("During handling of the above
// exception, another exception occurred:", "The above exception was the direct cause of the
// following exception:").
bool IsPythonChainMarker(std::string_view line);

// go: a line that starts a trace: "panic: ", "fatal error: ", a "goroutine N [...]:" header, or a
// line holding "http: panic serving " (net/http's recovered handler panic, after a log prefix).
bool IsGoTraceStart(std::string_view line);
// go: a line within a trace (blank lines aside): a goroutine header, a call
// ("main.main()", "net/http.(*conn).serve(0xc000120000)"), "created by ...", an indented line,
// "[signal ...", "panic: ..." (a panic while panicking), "fatal error: ...", "runtime stack:",
// "...additional frames elided...".
bool IsGoTraceLine(std::string_view line);
// go: "exit status N" (printed by `go run`), the last line of a trace.
bool IsGoExitStatus(std::string_view line);

bool IsBlank(std::string_view line);  // empty, or only spaces, tabs and a '\r'

}  // namespace sluice::agent
