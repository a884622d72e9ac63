// Fuzz target: the field steps over one record: chains of json, regex (typed), timestamp (each
// format), modify (every edit), mask (every kind, redact/prefix/hash, on a field and on the whole
// record), grep rules, sample, throttle and logfmt. The first input byte picks the chain; the
// rest is the record. A record that a chain made JSON (not dropped, not unparsed) must come out
// as one valid JSON object.
#include <rapidjson/document.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "agent/tail/processor.h"

namespace {

using sluice::agent::ProcessingStep;
using sluice::agent::Processor;
using K = ProcessingStep::Kind;

struct Choice {
  std::unique_ptr<Processor> processor;
  bool json_out;
};

ProcessingStep Step(K k) {
  ProcessingStep s;
  s.kind = k;
  return s;
}

std::vector<Choice> MakeChoices() {
  std::vector<Choice> out;
  auto add = [&out](std::vector<ProcessingStep> steps, bool json_out) {
    auto p = Processor::Create(steps);
    if (!p.ok()) std::abort();
    out.push_back({std::move(*p), json_out});
  };
  ProcessingStep json = Step(K::kJson);
  ProcessingStep modify = Step(K::kModify);
  modify.rename = {{"a", "b.c"}, {"msg", "message"}};
  modify.hard_rename = {{"x", "y"}};
  modify.copy = {{"b", "d.e.f"}};
  modify.hard_copy = {{"d", "a"}};
  modify.add = {{"env", "fuzz"}};
  modify.set = {{"p.q", "v"}};
  modify.remove = {"tmp_*", "y.z"};
  modify.nest_under = "n";
  modify.nest_keys = {"k*", "level"};
  modify.lift_key = "d";
  modify.lift_prefix = "d_";
  std::vector<ProcessingStep> masks;
  for (const char* kind : {"ipv4", "ipv6", "email", "credit_card"}) {
    for (const char* with : {"redact", "prefix", "hash"}) {
      ProcessingStep m = Step(K::kMask);
      m.mask_kind = kind;
      m.mask_with = with;
      m.keep = 20;
      m.hash_key = "k";
      masks.push_back(m);
    }
  }
  ProcessingStep field_mask = masks[0];
  field_mask.field = "ip";
  ProcessingStep grep = Step(K::kGrep);
  grep.rules = {{"path", "^/h"}, {"", "x"}, {"a.b", "1"}};
  grep.any = true;
  grep.drop = true;
  ProcessingStep regex = Step(K::kRegex);
  regex.pattern = R"(^(?<a>\S+) (?<n>-?\d+) (?<f>[\d.e+-]+) (?<b>\w+)(?<rest>.*)$)";
  regex.types = {{"n", "int"}, {"f", "float"}, {"b", "bool"}};
  ProcessingStep regex_field = regex;
  regex_field.field = "msg";
  ProcessingStep sample = Step(K::kSample);
  sample.rate = 3;
  sample.field = "id";
  ProcessingStep throttle = Step(K::kThrottle);
  throttle.rate = 5;
  throttle.field = "id";
  throttle.max_keys = 4;
  add({json, modify}, true);
  add({json, field_mask, modify, grep}, true);
  add({regex}, true);
  add({json, regex_field}, true);
  add({Step(K::kLogfmt), modify, field_mask}, true);
  add({json, sample, throttle}, true);
  for (const char* format :
       {"rfc3339", "epoch", "epoch_ms", "epoch_ns", "common_log", "%Y-%m-%d %H:%M:%S.%L %z"}) {
    ProcessingStep ts = Step(K::kTimestamp);
    ts.field = "t";
    ts.time_format = format;
    add({json, ts}, true);
  }
  for (const ProcessingStep& m : masks) add({m}, false);
  for (const ProcessingStep& m : masks) add({json, m}, true);  // masking inside JSON text
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::vector<Choice> choices = MakeChoices();
  if (size == 0) return 0;
  Choice& c = choices[data[0] % choices.size()];
  std::string record(reinterpret_cast<const char*>(data + 1), size - 1);
  sluice::agent::RecordContext ctx;
  ctx.file = "/var/log/containers/p_ns_c-0.log";
  ctx.now_ms = 1700000000000 + size;
  ctx.host = "h";
  ctx.tag = "fuzz";
  auto r = c.processor->Process(record, ctx);
  if (c.json_out && !r.unparsed && !r.dropped) {
    rapidjson::Document doc;
    std::string copy(r.data);
    doc.Parse(copy.data(), copy.size());
    if (doc.HasParseError() || !doc.IsObject()) std::abort();
  }
  return 0;
}
