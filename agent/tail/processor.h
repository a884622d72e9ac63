// Processor: the `processing:` steps of a flow, applied in order to each record: single_line,
// csv_to_json, log_to_json (built-in formats or a custom PCRE2 pattern), add_metadata, json (a
// JSON object line taken as the record), grep (keep or drop by fields matching patterns),
// logfmt (key=value pairs into a JSON object), regex (named groups, typed), timestamp (the
// record's event time from a field), modify (add, set, rename, copy, remove, nest, lift), mask
// (addresses, e-mail, card numbers, patterns), sample and throttle.
//
// A record is parsed once for the steps that read or edit its fields: a step that edits (modify,
// mask of a field, regex of a field) parses the JSON text into a document, the steps after it
// read and edit that document, and it is written back as text only when a step needs text (or at
// the end). A json step followed by such steps parses straight into the document. Steps that
// only read one field (grep, timestamp, sample, throttle) of a record that is still text find it
// in one pass without building a document. Numbers written back from a document are in
// RapidJSON's shortest form (1.50 becomes 1.5).
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
#include "core/json.h"
#include "core/status.h"

namespace sluice::agent {

struct RecordContext {
  std::string_view file;
  uint64_t offset = 0;  // file offset of the record's first byte
  int64_t now_ms = 0;
  std::string_view host;
  std::string_view tag;  // the source's name (a lua step's tag)
};

struct ProcessResult {
  std::string_view data;
  bool unparsed = false;         // some step could not parse the record
  bool to_error_output = false;  // ...and that step sends such records to the error output
  bool dropped = false;          // a step (grep, sample, throttle) dropped it: nothing to put
  bool has_event_time = false;   // a timestamp (or lua) step gave the record's own time:
  int64_t event_ms = 0;          // ...milliseconds since the epoch
  std::string_view error;        // unparsed: why, when the step says (a lua error); else empty
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
  struct State {            // the record between steps
    std::string_view text;  // its text, unless `dom`
    bool json = false;      // `text` is a JSON object
    bool dom = false;       // the record is arena_'s document (`text` is stale)
    int buf = 0;            // the buf_ the next text goes to
  };
  enum class Outcome { kSame, kChanged, kFailed, kDropped };

  Processor() = default;
  Outcome Run(Step& step, State& st, const RecordContext& ctx, ProcessResult* r);
  bool Apply(Step& step, std::string_view in, bool in_json, const RecordContext& ctx,
             std::string* out);
  bool LogToJson(Step& step, std::string_view in, std::string* out);
  bool CsvToJson(const Step& step, std::string_view in, std::string* out);
  bool LogfmtToJson(std::string_view in, std::string* out);
  void AddMetadata(const Step& step, std::string_view in, bool in_json, const RecordContext& ctx,
                   std::string* out);
  Outcome RegexParse(Step& step, State& st);
  Outcome Mask(Step& step, State& st);
  Outcome Lua(Step& step, State& st, const RecordContext& ctx, ProcessResult* r);

  // The record as text (writing the document out when it is one).
  void Materialize(State& st);
  // The record as a document; false when it is not a JSON object.
  bool EnsureDom(State& st);
  // The text of a scalar field (or, for an empty path, of the record) into *value.
  bool FieldText(const std::vector<std::string>& path, State& st, std::string_view* value);

  std::vector<std::unique_ptr<Step>> steps_;
  std::vector<StepStats> stats_;
  std::string buf_[2];
  std::string scratch_;
  std::string field_;     // a field's text found without a document
  std::string unquoted_;  // logfmt: a quoted value, unescaped
  std::string insitu_;    // the text a document was parsed from (its strings point into it)
  JsonArena arena_;
  std::vector<std::string_view> groups_;
  std::vector<std::string> csv_fields_;
  uint64_t sampled_ = 0;  // sample: records seen without a key
  // add_metadata kubernetes: the last file's names (records come file by file)
  std::string k8s_file_;
  std::string k8s_json_;  // the "kubernetes" object's JSON text; empty: not a container log
  std::string error_;     // ProcessResult::error's text
};

}  // namespace sluice::agent
