// Processor: the `processing:` steps of a flow, applied in order to each record: single_line,
// csv_to_json, log_to_json (built-in formats or a custom PCRE2 pattern), add_metadata, json (a
// JSON object line taken as the record), grep (keep or drop by a field matching a pattern),
// logfmt (key=value pairs into a JSON object).
//
// A step that cannot parse a record leaves it as it was; the outcome says so and the caller
// counts it (and sends it to the error output when the step asks for that). JSON is written with
// RapidJSON; record bytes that are not UTF-8 are escaped (see json_text.h).
//
// THREADING: not thread-safe (reuses buffers and match data); one per flow, on the loop thread.
// OWNERSHIP: owns its compiled patterns. The output view of Process is valid until the next call.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/tail/flow_options.h"
#include "agent/tail/flow_stats.h"
#include "agent/tail/json_text.h"
#include "agent/tail/regex.h"
#include "core/status.h"

namespace sluice::agent {

struct RecordContext {
  std::string_view file;
  uint64_t offset = 0;  // file offset of the record's first byte
  int64_t now_ms = 0;
  std::string_view host;
};

struct ProcessResult {
  std::string_view data;
  bool unparsed = false;         // some step could not parse the record
  bool to_error_output = false;  // ...and that step sends such records to the error output
  bool dropped = false;          // a step (grep) dropped it: nothing to put
};

class Processor final {
 public:
  // Compiles the steps; errors name the step ("processing[2]: ...").
  static Result<std::unique_ptr<Processor>> Create(const std::vector<ProcessingStep>& steps);
  ~Processor();

  bool empty() const { return steps_.empty(); }
  ProcessResult Process(std::string_view record, const RecordContext& ctx);
  const std::vector<StepStats>& stats() const { return stats_; }

 private:
  struct Step;
  Processor() = default;
  bool Apply(Step& step, std::string_view in, bool in_json, const RecordContext& ctx,
             std::string* out);
  bool LogToJson(Step& step, std::string_view in, std::string* out);
  bool CsvToJson(const Step& step, std::string_view in, std::string* out);
  bool LogfmtToJson(std::string_view in, std::string* out);
  void AddMetadata(const Step& step, std::string_view in, bool in_json, const RecordContext& ctx,
                   std::string* out);

  // grep: whether the record matches (its field, or itself, against the pattern).
  bool GrepMatches(Step& step, std::string_view in, bool in_json);

  std::vector<std::unique_ptr<Step>> steps_;
  std::vector<StepStats> stats_;
  std::string buf_[2];
  std::string scratch_;
  std::string unquoted_;  // logfmt: a quoted value, unescaped
  std::vector<std::string_view> groups_;
  std::vector<std::string> csv_fields_;
};

}  // namespace sluice::agent
