// Fuzz target: the agent's processing steps over one record: log_to_json with each built-in
// format (common_apache, combined_apache, apache_error, syslog, rfc5424) and a custom pattern,
// csv_to_json, single_line, and add_metadata after log_to_json. The first input byte picks the
// step; the rest is the record. A record a JSON-producing step parsed must come out as one valid
// JSON document.
#include <rapidjson/document.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/tail/processor.h"

namespace {

using sluice::agent::ProcessingStep;
using sluice::agent::Processor;

struct Choice {
  std::unique_ptr<Processor> processor;
  bool json_out;
};

std::vector<Choice> MakeChoices() {
  std::vector<Choice> out;
  auto add = [&out](std::vector<ProcessingStep> steps, bool json_out) {
    auto p = Processor::Create(steps);
    if (!p.ok()) std::abort();
    out.push_back({std::move(*p), json_out});
  };
  for (const char* format :
       {"common_apache", "combined_apache", "apache_error", "syslog", "rfc5424"}) {
    ProcessingStep s;
    s.kind = ProcessingStep::Kind::kLogToJson;
    s.log_format = format;
    add({s}, true);
  }
  ProcessingStep custom;
  custom.kind = ProcessingStep::Kind::kLogToJson;
  custom.log_format = "custom";
  custom.custom_pattern = R"(^(\S+) \[([^\]]*)\] (?<msg>.*)$)";
  custom.field_names = {"host", "time", "msg"};
  add({custom}, true);
  ProcessingStep csv;
  csv.kind = ProcessingStep::Kind::kCsvToJson;
  csv.field_names = {"a", "b", "c"};
  add({csv}, true);
  ProcessingStep tsv = csv;
  tsv.delimiter = '\t';
  add({tsv}, true);
  ProcessingStep single;
  single.kind = ProcessingStep::Kind::kSingleLine;
  add({single}, false);
  ProcessingStep meta;
  meta.kind = ProcessingStep::Kind::kAddMetadata;
  meta.add_host = meta.add_file = meta.add_offset = meta.add_timestamp = true;
  meta.static_fields = {{"env", "fuzz"}};
  ProcessingStep combined;
  combined.kind = ProcessingStep::Kind::kLogToJson;
  combined.log_format = "combined_apache";
  add({single, combined, meta}, true);
  add({meta}, true);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::vector<Choice> choices = MakeChoices();
  if (size == 0) return 0;
  Choice& c = choices[data[0] % choices.size()];
  std::string record(reinterpret_cast<const char*>(data + 1), size - 1);
  sluice::agent::RecordContext ctx;
  ctx.file = "/var/log/fuzz\".log";
  ctx.offset = 42;
  ctx.now_ms = 1700000000000;
  ctx.host = "host\n1";
  auto r = c.processor->Process(record, ctx);
  if (c.json_out && !r.unparsed) {
    rapidjson::Document doc;
    std::string copy(r.data);
    doc.Parse(copy.data(), copy.size());
    if (doc.HasParseError() || !doc.IsObject()) std::abort();
  }
  return 0;
}
