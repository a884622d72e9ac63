#include "agent/tail/processor.h"

#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "agent/tail/event_time.h"
#include "agent/tail/kubernetes_path.h"
#include "agent/tail/log_formats.h"
#include "agent/tail/record_fields.h"
#include "core/json.h"
#include "core/lua_record.h"

namespace sluice::agent {
namespace {

const char* KindName(ProcessingStep::Kind k) {
  switch (k) {
    case ProcessingStep::Kind::kSingleLine:
      return "single_line";
    case ProcessingStep::Kind::kCsvToJson:
      return "csv_to_json";
    case ProcessingStep::Kind::kLogToJson:
      return "log_to_json";
    case ProcessingStep::Kind::kAddMetadata:
      return "add_metadata";
    case ProcessingStep::Kind::kJson:
      return "json";
    case ProcessingStep::Kind::kGrep:
      return "grep";
    case ProcessingStep::Kind::kLogfmt:
      return "logfmt";
    case ProcessingStep::Kind::kRegex:
      return "regex";
    case ProcessingStep::Kind::kTimestamp:
      return "timestamp";
    case ProcessingStep::Kind::kModify:
      return "modify";
    case ProcessingStep::Kind::kMask:
      return "mask";
    case ProcessingStep::Kind::kSample:
      return "sample";
    case ProcessingStep::Kind::kThrottle:
      return "throttle";
    case ProcessingStep::Kind::kLua:
      return "lua";
  }
  return "?";
}

// The text of one value of a JSON object, found by a path of member names, read in one pass
// without building a document: a string's text (unescaped), a number's as written, true/false.
// Stops reading once found. null, objects and arrays are not values here.
class FieldFinder : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, FieldFinder> {
 public:
  explicit FieldFinder(const std::vector<std::string>& path) : path_(path) {}
  bool found() const { return found_; }
  const std::string& value() const { return value_; }

  bool Key(const char* s, rapidjson::SizeType n, bool) {
    pending_ = static_cast<size_t>(matched_) < path_.size() && level_ == matched_ + 1 &&
               arrays_ == 0 && std::string_view(s, n) == path_[static_cast<size_t>(matched_)];
    return true;
  }
  bool StartObject() {
    // The object named by the path so far; not when the path ends here (an object is no value).
    if (pending_ && static_cast<size_t>(matched_) + 1 < path_.size()) ++matched_;
    pending_ = false;
    ++level_;
    return true;
  }
  bool EndObject(rapidjson::SizeType) {
    // Inside the object of depth `level_` at most level_ - 1 names of the path are matched
    // (none in the record's own object): leaving a matched object unmatches its name.
    --level_;
    if (matched_ > level_ - 1) matched_ = std::max(level_ - 1, 0);
    return true;
  }
  bool StartArray() {
    pending_ = false;
    ++arrays_;
    return true;
  }
  bool EndArray(rapidjson::SizeType) {
    --arrays_;
    return true;
  }
  bool String(const char* s, rapidjson::SizeType n, bool) { return Scalar(std::string_view(s, n)); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
    return Scalar(std::string_view(s, n));
  }
  bool Bool(bool b) { return Scalar(b ? "true" : "false"); }
  bool Default() {  // null
    pending_ = false;
    return true;
  }

 private:
  bool Scalar(std::string_view v) {
    if (!pending_) return true;
    pending_ = false;
    if (static_cast<size_t>(matched_) + 1 != path_.size()) return true;  // the path goes deeper
    value_.assign(v);
    found_ = true;
    return false;  // stop: found
  }

  const std::vector<std::string>& path_;
  int level_ = 0, matched_ = 0, arrays_ = 0;
  bool pending_ = false, found_ = false;
  std::string value_;
};

}  // namespace

struct Processor::Step {
  struct Rule {  // grep
    std::unique_ptr<Regex> re;
    FieldPath path;  // empty: the record
  };
  struct Window {  // throttle: one key's count in its window
    int64_t start_ms = 0;
    int64_t count = 0;
  };

  ProcessingStep opt;
  std::unique_ptr<Regex> re;        // log_to_json, regex
  std::vector<std::string> fields;  // log_to_json, regex: one name per capture group
  std::vector<char> types;          // regex: per group 's'tring, 'i'nt, 'f'loat, 'b'ool
  FieldPath path;                   // the field read (timestamp, regex, mask, sample, throttle)
  std::vector<Rule> rules;          // grep
  bool to_dom = false;              // json: parse into the document (editing steps follow)
  std::optional<EventTimeParser> time;
  std::optional<Modifier> modifier;
  std::unique_ptr<Masker> masker;
  struct KeyHash {  // lookups by string_view: no string made per record
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, Window, KeyHash, std::equal_to<>> windows;  // throttle
  std::unique_ptr<LuaRecordFunction> lua;
  LuaOutput lua_out;
};

namespace {

// Whether the step needs the record as a document (it edits fields).
bool EditsFields(const ProcessingStep& s) {
  using K = ProcessingStep::Kind;
  return s.kind == K::kModify || (s.kind == K::kMask && !s.field.empty()) ||
         (s.kind == K::kRegex && !s.field.empty()) || (s.kind == K::kGrep && s.rules.size() > 1);
}

// Whether the step works on the record's text (a document before it is written out).
bool ReadsText(const ProcessingStep& s) {
  using K = ProcessingStep::Kind;
  switch (s.kind) {
    case K::kSingleLine:
    case K::kCsvToJson:
    case K::kLogToJson:
    case K::kAddMetadata:
    case K::kJson:
    case K::kLogfmt:
    case K::kLua:  // the function gets the record's text
      return true;
    case K::kRegex:
    case K::kMask:
      return s.field.empty();
    default:
      return false;
  }
}

// A regex group's text as its type: an int, a float, a bool (true/false/yes/no/1/0), or a
// string (also when the text is not of the type).
bool ToInt(std::string_view t, int64_t* v) {
  if (t.empty() || t.size() > 20) return false;
  char buf[24];
  std::memcpy(buf, t.data(), t.size());
  buf[t.size()] = '\0';
  char* end = nullptr;
  errno = 0;
  *v = std::strtoll(buf, &end, 10);
  return errno == 0 && end == buf + t.size();
}
bool ToFloat(std::string_view t, double* v) {
  if (t.empty() || t.size() > 63) return false;
  char buf[64];
  std::memcpy(buf, t.data(), t.size());
  buf[t.size()] = '\0';
  char* end = nullptr;
  *v = std::strtod(buf, &end);
  return end == buf + t.size() && std::isfinite(*v);
}
int ToBool(std::string_view t) {  // 1 true, 0 false, -1 neither
  if (t == "true" || t == "yes" || t == "1" || t == "on") return 1;
  if (t == "false" || t == "no" || t == "0" || t == "off") return 0;
  return -1;
}

void WriteTyped(JsonWriter* w, std::string_view t, char type, std::string* scratch) {
  int64_t i;
  double f;
  int b;
  if (type == 'i' && ToInt(t, &i)) {
    w->Int64(i);
  } else if (type == 'f' && ToFloat(t, &f)) {
    w->Double(f);
  } else if (type == 'b' && (b = ToBool(t)) >= 0) {
    w->Bool(b == 1);
  } else {
    WriteString(w, t, scratch);
  }
}

JsonValue TypedValue(std::string_view t, char type, JsonAllocator& a) {
  int64_t i;
  double f;
  int b;
  if (type == 'i' && ToInt(t, &i)) return JsonValue(i);
  if (type == 'f' && ToFloat(t, &f)) return JsonValue(f);
  if (type == 'b' && (b = ToBool(t)) >= 0) return JsonValue(b == 1);
  return JsonValue(t.data(), static_cast<rapidjson::SizeType>(t.size()), a);
}

uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace

Processor::~Processor() = default;

Result<std::unique_ptr<Processor>> Processor::Create(const std::vector<ProcessingStep>& steps) {
  std::unique_ptr<Processor> p(new Processor());
  for (size_t i = 0; i < steps.size(); ++i) {
    const std::string where = "processing[" + std::to_string(i) + "]";
    auto step = std::make_unique<Step>();
    step->opt = steps[i];
    switch (steps[i].kind) {
      case ProcessingStep::Kind::kSingleLine:
      case ProcessingStep::Kind::kAddMetadata:
      case ProcessingStep::Kind::kJson:
      case ProcessingStep::Kind::kLogfmt:
        break;
      case ProcessingStep::Kind::kGrep: {
        std::vector<ProcessingStep::GrepRule> rules = steps[i].rules;
        if (rules.empty()) rules.push_back({steps[i].field, steps[i].pattern});
        for (const auto& rule : rules) {
          Step::Rule r;
          auto re = Regex::Compile(rule.pattern);
          if (!re.ok()) return re.status().Annotate(where + ": grep pattern");
          r.re = std::move(*re);
          if (!rule.field.empty()) {
            auto path = SplitFieldPath(rule.field);
            if (!path.ok()) return path.status().Annotate(where + ": grep");
            r.path = std::move(*path);
          }
          step->rules.push_back(std::move(r));
        }
        break;
      }
      case ProcessingStep::Kind::kRegex: {
        auto re = Regex::Compile(steps[i].pattern);
        if (!re.ok()) return re.status().Annotate(where + ": regex pattern");
        step->re = std::move(*re);
        for (int g = 0; g < step->re->capture_count(); ++g) {
          const std::string& name = step->re->group_names()[g];
          step->fields.push_back(name);
          char type = name.empty() ? 0 : 's';
          for (const auto& [field, t] : steps[i].types) {
            if (field == name) type = t.empty() ? 's' : t[0];
          }
          step->types.push_back(type);
        }
        for (const auto& [field, t] : steps[i].types) {
          if (std::find(step->fields.begin(), step->fields.end(), field) == step->fields.end()) {
            return InvalidArgument(where + ": regex types name \"" + field +
                                   "\", which is no named group of the pattern");
          }
          if (t != "string" && t != "int" && t != "float" && t != "bool") {
            return InvalidArgument(where + ": regex type \"" + t +
                                   "\" is none of string, int, float, bool");
          }
        }
        break;
      }
      case ProcessingStep::Kind::kTimestamp: {
        auto t = EventTimeParser::Create(steps[i].time_format, steps[i].utc_offset_s);
        if (!t.ok()) return t.status().Annotate(where + ": timestamp");
        step->time.emplace(std::move(*t));
        break;
      }
      case ProcessingStep::Kind::kModify: {
        auto m = Modifier::Create(steps[i]);
        if (!m.ok()) return m.status().Annotate(where + ": modify");
        step->modifier.emplace(std::move(*m));
        break;
      }
      case ProcessingStep::Kind::kMask: {
        auto m = Masker::Create(steps[i]);
        if (!m.ok()) return m.status().Annotate(where + ": mask");
        step->masker = std::move(*m);
        break;
      }
      case ProcessingStep::Kind::kLua: {
        LuaOptions lo = steps[i].lua;
        lo.code_name = where + ".lua.code";
        auto f = LuaRecordFunction::Create(lo);
        if (!f.ok()) return f.status().Annotate(where + ": lua");
        step->lua = std::move(*f);
        break;
      }
      case ProcessingStep::Kind::kSample:
      case ProcessingStep::Kind::kThrottle:
        if (steps[i].rate < 1) return InvalidArgument(where + ": rate must be at least 1");
        break;
      case ProcessingStep::Kind::kCsvToJson:
        if (steps[i].field_names.empty()) {
          return InvalidArgument(where + ": csv_to_json needs field_names");
        }
        if (steps[i].delimiter == '"' || steps[i].delimiter == '\n') {
          return InvalidArgument(where + ": csv_to_json delimiter cannot be '\"' or a newline");
        }
        break;
      case ProcessingStep::Kind::kLogToJson: {
        LogFormat fmt;
        if (steps[i].log_format == "custom") {
          if (steps[i].custom_pattern.empty()) {
            return InvalidArgument(where + ": log_to_json format custom needs a pattern");
          }
          fmt.pattern = steps[i].custom_pattern;
        } else {
          auto b = BuiltInLogFormat(steps[i].log_format);
          if (!b.ok()) return b.status().Annotate(where);
          fmt = std::move(*b);
        }
        auto re = Regex::Compile(fmt.pattern);
        if (!re.ok()) return re.status().Annotate(where);
        step->re = std::move(*re);
        const int n = step->re->capture_count();
        if (steps[i].log_format == "custom") {
          // Field names given by the user win; else the pattern's group names.
          for (int g = 0; g < n; ++g) {
            std::string name;
            if (g < static_cast<int>(steps[i].field_names.size())) {
              name = steps[i].field_names[g];
            } else {
              name = step->re->group_names()[g];
            }
            if (name.empty()) {
              return InvalidArgument(where + ": capture group " + std::to_string(g + 1) +
                                     " has no field name (give field_names or use (?<name>...))");
            }
            fmt.fields.push_back(std::move(name));
          }
          if (steps[i].field_names.size() > static_cast<size_t>(n)) {
            return InvalidArgument(where + ": " + std::to_string(steps[i].field_names.size()) +
                                   " field names for " + std::to_string(n) + " capture groups");
          }
        }
        step->fields = std::move(fmt.fields);
        break;
      }
    }
    if (!steps[i].field.empty() && steps[i].kind != ProcessingStep::Kind::kGrep) {
      auto path = SplitFieldPath(steps[i].field);
      if (!path.ok()) return path.status().Annotate(where);
      step->path = std::move(*path);
    }
    if (steps[i].kind == ProcessingStep::Kind::kJson) {
      for (size_t j = i + 1; j < steps.size() && !ReadsText(steps[j]); ++j) {
        if (EditsFields(steps[j])) {
          step->to_dom = true;
          break;
        }
      }
    }
    p->stats_.push_back({std::to_string(i + 1) + ":" + KindName(steps[i].kind), 0, 0, 0});
    p->steps_.push_back(std::move(step));
  }
  return p;
}

ProcessResult Processor::Process(std::string_view record, const RecordContext& ctx) {
  ProcessResult r;
  State st;
  st.text = record;
  for (size_t i = 0; i < steps_.size(); ++i) {
    switch (Run(*steps_[i], st, ctx, &r)) {
      case Outcome::kSame:
        break;
      case Outcome::kChanged:
        stats_[i].changed++;
        break;
      case Outcome::kFailed:
        stats_[i].failed++;
        r.unparsed = true;
        r.to_error_output |= steps_[i]->opt.unparsed_to_error_output;
        break;
      case Outcome::kDropped:
        stats_[i].dropped++;
        r.dropped = true;
        r.data = {};
        return r;
    }
  }
  Materialize(st);
  r.data = st.text;
  return r;
}

void Processor::Materialize(State& st) {
  if (!st.dom) return;
  std::string* out = &buf_[st.buf];
  out->clear();
  StringOutput os(out);
  JsonWriter w(os);
  arena_.doc().Accept(w);
  st.dom = false;
  st.buf ^= 1;
  st.text = *out;
}

bool Processor::EnsureDom(State& st) {
  if (st.dom) return true;
  std::string_view in = st.text;
  while (!in.empty() && (in.front() == ' ' || in.front() == '\t')) in.remove_prefix(1);
  if (in.empty() || in.front() != '{') return false;
  insitu_.assign(in);
  rapidjson::Document& doc = arena_.Fresh();
  if (!ParseJsonInsitu<rapidjson::kParseFullPrecisionFlag>(insitu_.data(), &doc).ok() ||
      !doc.IsObject()) {
    return false;
  }
  st.dom = true;
  st.json = true;
  return true;
}

bool Processor::FieldText(const std::vector<std::string>& path, State& st,
                          std::string_view* value) {
  if (path.empty()) {
    Materialize(st);
    *value = st.text;
    return true;
  }
  if (st.dom) {
    JsonValue* v = FindField(arena_.doc(), path);
    return v != nullptr && ScalarText(*v, &field_, value);
  }
  // A field of a JSON record; one that is not JSON (yet) has none.
  if (!st.json && (st.text.empty() || st.text.front() != '{')) return false;
  FieldFinder finder(path);
  DepthLimitedHandler<FieldFinder> limited(&finder, kMaxJsonDepth);
  rapidjson::MemoryStream ms(st.text.data(), st.text.size());
  rapidjson::Reader reader;
  reader.Parse<rapidjson::kParseNumbersAsStringsFlag>(ms, limited);
  if (!finder.found()) return false;
  field_ = finder.value();
  *value = field_;
  return true;
}

Processor::Outcome Processor::Run(Step& step, State& st, const RecordContext& ctx,
                                  ProcessResult* r) {
  using K = ProcessingStep::Kind;
  const ProcessingStep& o = step.opt;
  switch (o.kind) {
    case K::kGrep: {
      if (step.rules.size() > 1 && st.json) EnsureDom(st);  // one parse for every rule
      bool matched = !o.any;
      for (Step::Rule& rule : step.rules) {
        std::string_view v;
        const bool m = FieldText(rule.path, st, &v) && rule.re->Matches(v);
        if (m == o.any) {
          matched = m;
          break;
        }
      }
      return matched == o.drop ? Outcome::kDropped : Outcome::kSame;
    }
    case K::kTimestamp: {
      std::string_view v;
      if (!FieldText(step.path, st, &v)) return Outcome::kFailed;
      std::optional<int64_t> ms = step.time->Parse(v);
      if (!ms) return Outcome::kFailed;
      r->has_event_time = true;
      r->event_ms = *ms;
      return Outcome::kChanged;
    }
    case K::kModify:
      if (!EnsureDom(st)) return Outcome::kFailed;
      return step.modifier->Apply(arena_.doc(), arena_.doc().GetAllocator()) ? Outcome::kChanged
                                                                             : Outcome::kSame;
    case K::kMask:
      return Mask(step, st);
    case K::kLua:
      return Lua(step, st, ctx, r);
    case K::kRegex:
      return RegexParse(step, st);
    case K::kSample: {
      std::string_view v;
      const uint64_t n = static_cast<uint64_t>(o.rate);
      const bool keep = !step.path.empty() && FieldText(step.path, st, &v) ? Fnv1a(v) % n == 0
                                                                           : sampled_++ % n == 0;
      return keep ? Outcome::kSame : Outcome::kDropped;
    }
    case K::kThrottle: {
      std::string_view v;
      if (step.path.empty() || !FieldText(step.path, st, &v)) v = {};
      auto it = step.windows.find(v);
      if (it == step.windows.end()) {
        // Keys beyond max_keys share one window (the empty key's).
        if (step.windows.size() >= static_cast<size_t>(o.max_keys)) {
          // Forget windows that have ended before giving up on a key of its own.
          std::erase_if(step.windows, [&](const auto& w) {
            return ctx.now_ms - w.second.start_ms >= o.interval.count();
          });
        }
        if (step.windows.size() >= static_cast<size_t>(o.max_keys)) v = {};
        it = step.windows.try_emplace(std::string(v)).first;
      }
      Step::Window& w = it->second;
      if (ctx.now_ms - w.start_ms >= o.interval.count() || ctx.now_ms < w.start_ms) {
        w.start_ms = ctx.now_ms;
        w.count = 0;
      }
      return ++w.count > o.rate ? Outcome::kDropped : Outcome::kSame;
    }
    case K::kJson:
      if (step.to_dom) {
        Materialize(st);
        return EnsureDom(st) ? Outcome::kSame : Outcome::kFailed;
      }
      [[fallthrough]];
    default: {
      Materialize(st);
      std::string* out = &buf_[st.buf];
      out->clear();
      if (!Apply(step, st.text, st.json, ctx, out)) return Outcome::kFailed;
      st.text = *out;
      st.buf ^= 1;
      if (o.kind != K::kSingleLine) st.json = true;
      return Outcome::kSame;
    }
  }
}

Processor::Outcome Processor::Lua(Step& step, State& st, const RecordContext& ctx,
                                  ProcessResult* r) {
  Materialize(st);
  const int64_t ts = r->has_event_time ? r->event_ms : ctx.now_ms;
  Status called = step.lua->Call(ctx.tag, ts, st.text, &step.lua_out);
  if (!called.ok()) {
    error_ = called.message();
    r->error = error_;
    return Outcome::kFailed;
  }
  const LuaOutput& out = step.lua_out;
  switch (out.action) {
    case LuaOutput::Action::kDrop:
      return Outcome::kDropped;
    case LuaOutput::Action::kKeep:
      return Outcome::kSame;
    case LuaOutput::Action::kModify:
      break;
  }
  if (out.count == 0) return Outcome::kDropped;  // an empty array of records: none left
  if (out.count > 1) {
    error_ = "lua function '" + step.lua->call() + "' (" + step.lua->name() +
             ") split the record in " + std::to_string(out.count) +
             ": a source's step makes one record of a line (split in a delivery's lua transform)";
    r->error = error_;
    return Outcome::kFailed;
  }
  st.text = out.records[0];
  st.json = !st.text.empty() && st.text.front() == '{';
  if (out.timestamp_ms != ts) {
    r->has_event_time = true;
    r->event_ms = out.timestamp_ms;
  }
  return Outcome::kChanged;
}

Processor::Outcome Processor::Mask(Step& step, State& st) {
  std::string* out = &buf_[st.buf];
  if (step.path.empty()) {  // the whole record's text
    Materialize(st);
    out = &buf_[st.buf];
    if (!(st.json ? step.masker->ApplyJson(st.text, out) : step.masker->Apply(st.text, out))) {
      return Outcome::kSame;
    }
    st.text = *out;
    st.buf ^= 1;
    return Outcome::kChanged;
  }
  if (!EnsureDom(st)) return Outcome::kFailed;
  JsonValue* v = FindField(arena_.doc(), step.path);
  std::string_view text;
  if (v == nullptr || !ScalarText(*v, &field_, &text)) return Outcome::kSame;
  if (!step.masker->Apply(text, &scratch_)) return Outcome::kSame;
  v->SetString(scratch_.data(), static_cast<rapidjson::SizeType>(scratch_.size()),
               arena_.doc().GetAllocator());
  return Outcome::kChanged;
}

Processor::Outcome Processor::RegexParse(Step& step, State& st) {
  std::string_view in;
  if (step.path.empty()) {
    Materialize(st);
    in = st.text;
  } else {
    if (!EnsureDom(st)) return Outcome::kFailed;
    JsonValue* v = FindField(arena_.doc(), step.path);
    if (v == nullptr || !ScalarText(*v, &field_, &in)) return Outcome::kFailed;
    if (in.data() != field_.data()) {
      field_.assign(in);  // the value may be replaced below
      in = field_;
    }
  }
  if (!step.re->Capture(in, &groups_)) return Outcome::kFailed;
  if (step.path.empty()) {  // a new record of the named groups
    std::string* out = &buf_[st.buf];
    out->clear();
    StringOutput os(out);
    JsonWriter w(os);
    w.StartObject();
    for (size_t g = 0; g < groups_.size(); ++g) {
      if (groups_[g].data() == nullptr || step.types[g] == 0) continue;
      w.Key(step.fields[g].data(), static_cast<rapidjson::SizeType>(step.fields[g].size()));
      WriteTyped(&w, groups_[g], step.types[g], &scratch_);
    }
    w.EndObject();
    st.text = *out;
    st.buf ^= 1;
    st.json = true;
    return Outcome::kChanged;
  }
  // The named groups added to the record (a group's value replaces a field of its name).
  rapidjson::Document& doc = arena_.doc();
  for (size_t g = 0; g < groups_.size(); ++g) {
    if (groups_[g].data() == nullptr || step.types[g] == 0) continue;
    JsonValue v = TypedValue(groups_[g], step.types[g], doc.GetAllocator());
    FieldPath name{step.fields[g]};
    SetField(doc, name, v, doc.GetAllocator(), true);
  }
  return Outcome::kChanged;
}

bool Processor::Apply(Step& step, std::string_view in, bool in_json, const RecordContext& ctx,
                      std::string* out) {
  switch (step.opt.kind) {
    case ProcessingStep::Kind::kSingleLine: {
      // Each line trimmed of surrounding blanks, joined with the separator (default none).
      size_t i = 0;
      bool first = true;
      while (i <= in.size()) {
        size_t j = in.find('\n', i);
        if (j == std::string_view::npos) j = in.size();
        std::string_view line = in.substr(i, j - i);
        while (!line.empty() && (line.front() == ' ' || line.front() == '\t'))
          line.remove_prefix(1);
        while (!line.empty() &&
               (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) {
          line.remove_suffix(1);
        }
        if (!first && !line.empty()) out->append(step.opt.separator);
        if (!line.empty()) first = false;
        out->append(line);
        i = j + 1;
      }
      return true;
    }
    case ProcessingStep::Kind::kCsvToJson:
      return CsvToJson(step, in, out);
    case ProcessingStep::Kind::kLogToJson:
      return LogToJson(step, in, out);
    case ProcessingStep::Kind::kAddMetadata:
      AddMetadata(step, in, in_json, ctx, out);
      return true;
    case ProcessingStep::Kind::kJson: {
      // A JSON object, taken as the record as it is (surrounding blanks trimmed): the steps
      // after it see its fields. Checked in one pass, without building a document.
      while (!in.empty() && (in.front() == ' ' || in.front() == '\t')) in.remove_prefix(1);
      while (!in.empty() && (in.back() == ' ' || in.back() == '\t' || in.back() == '\r')) {
        in.remove_suffix(1);
      }
      if (in.empty() || in.front() != '{') return false;
      // Recursive parsing (faster than iterative) is safe: the depth limit stops it first.
      rapidjson::BaseReaderHandler<> ignore;
      DepthLimitedHandler<rapidjson::BaseReaderHandler<>> limited(&ignore, kMaxJsonDepth);
      rapidjson::MemoryStream ms(in.data(), in.size());
      rapidjson::Reader reader;
      if (reader.Parse<rapidjson::kParseStopWhenDoneFlag>(ms, limited).IsError()) return false;
      // Nothing but blanks after the object.
      for (size_t i = ms.Tell(); i < in.size(); ++i) {
        if (in[i] != ' ' && in[i] != '\t') return false;
      }
      out->assign(in);
      return true;
    }
    case ProcessingStep::Kind::kLogfmt:
      return LogfmtToJson(in, out);
    default:
      break;  // Run handles the other kinds
  }
  return false;
}

bool Processor::LogToJson(Step& step, std::string_view in, std::string* out) {
  if (!step.re->Capture(in, &groups_)) return false;
  StringOutput os(out);
  JsonWriter w(os);
  w.StartObject();
  for (size_t g = 0; g < groups_.size() && g < step.fields.size(); ++g) {
    if (groups_[g].data() == nullptr) continue;  // optional part absent
    w.Key(step.fields[g].data(), static_cast<rapidjson::SizeType>(step.fields[g].size()));
    WriteString(&w, groups_[g], &scratch_);
  }
  w.EndObject();
  return true;
}

bool Processor::LogfmtToJson(std::string_view in, std::string* out) {
  // key=value pairs apart by blanks; a value is bare (up to the next blank) or double-quoted
  // with \" \\ \n \t \r escapes; a key alone is true; `key=` is "". Values are strings, as
  // log_to_json's. A line with no pair, a quote left open or a key that is not printable UTF-8
  // without '=' and '"' does not parse.
  StringOutput os(out);
  JsonWriter w(os);
  w.StartObject();
  size_t i = 0, pairs = 0;
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  while (true) {
    while (i < in.size() && blank(in[i])) ++i;
    if (i >= in.size()) break;
    const size_t k0 = i;
    while (i < in.size() && !blank(in[i]) && in[i] != '=' && in[i] != '"') ++i;
    std::string_view key = in.substr(k0, i - k0);
    if (key.empty() || !IsValidUtf8(key)) return false;
    for (char c : key) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
    }
    w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
    ++pairs;
    if (i >= in.size() || in[i] != '=') {
      if (i < in.size() && in[i] == '"') return false;  // a quote inside a key
      w.Bool(true);
      continue;
    }
    ++i;  // '='
    if (i < in.size() && in[i] == '"') {
      ++i;
      unquoted_.clear();
      bool closed = false;
      while (i < in.size()) {
        char c = in[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\' && i < in.size()) {
          char e = in[i++];
          unquoted_.push_back(e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e);
          continue;
        }
        unquoted_.push_back(c);
      }
      if (!closed) return false;
      WriteString(&w, unquoted_, &scratch_);
    } else {
      const size_t v0 = i;
      while (i < in.size() && !blank(in[i])) ++i;
      WriteString(&w, in.substr(v0, i - v0), &scratch_);
    }
  }
  w.EndObject();
  return pairs > 0;
}

bool Processor::CsvToJson(const Step& step, std::string_view in, std::string* out) {
  const char delim = step.opt.delimiter;
  size_t n = 0;
  size_t i = 0;
  bool more = true;
  while (more) {
    if (csv_fields_.size() <= n) csv_fields_.emplace_back();
    std::string& f = csv_fields_[n++];
    f.clear();
    if (i < in.size() && in[i] == '"') {
      ++i;
      while (true) {
        if (i >= in.size()) return false;  // unterminated quote
        if (in[i] == '"') {
          if (i + 1 < in.size() && in[i + 1] == '"') {
            f.push_back('"');
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        f.push_back(in[i++]);
      }
      if (i < in.size() && in[i] != delim) return false;  // text after the closing quote
    } else {
      size_t j = in.find(delim, i);
      if (j == std::string_view::npos) j = in.size();
      f.append(in.substr(i, j - i));
      i = j;
    }
    more = i < in.size();
    ++i;  // past the delimiter
  }
  StringOutput os(out);
  JsonWriter w(os);
  w.StartObject();
  const auto& names = step.opt.field_names;
  for (size_t k = 0; k < names.size(); ++k) {
    w.Key(names[k].data(), static_cast<rapidjson::SizeType>(names[k].size()));
    if (k < n) {
      WriteString(&w, csv_fields_[k], &scratch_);
    } else {
      w.Null();
    }
  }
  w.EndObject();
  return true;
}

void Processor::AddMetadata(const Step& step, std::string_view in, bool in_json,
                            const RecordContext& ctx, std::string* out) {
  StringOutput os(out);
  JsonWriter w(os);
  w.StartObject();
  if (step.opt.add_timestamp) {
    w.Key("timestamp");
    w.Int64(ctx.now_ms);
  }
  if (step.opt.add_host) {
    w.Key("host");
    WriteString(&w, ctx.host, &scratch_);
  }
  if (step.opt.add_file) {
    w.Key("file");
    WriteString(&w, ctx.file, &scratch_);
  }
  if (step.opt.add_offset) {
    w.Key("offset");
    w.Uint64(ctx.offset);
  }
  if (step.opt.add_kubernetes) {
    if (ctx.file != k8s_file_ || k8s_file_.empty()) {
      k8s_file_.assign(ctx.file);
      k8s_json_.clear();
      if (auto k = ParseKubernetesLogPath(ctx.file)) {
        StringOutput ks(&k8s_json_);
        JsonWriter kw(ks);
        kw.StartObject();
        auto put = [&](const char* name, const std::string& v) {
          if (v.empty()) return;
          kw.Key(name);
          kw.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
        };
        put("pod_name", k->pod_name);
        put("namespace_name", k->namespace_name);
        put("container_name", k->container_name);
        put("container_id", k->container_id);
        put("pod_uid", k->pod_uid);
        kw.EndObject();
      }
    }
    if (!k8s_json_.empty()) {
      w.Key("kubernetes");
      w.RawValue(k8s_json_.data(), k8s_json_.size(), rapidjson::kObjectType);
    }
  }
  for (const auto& [k, v] : step.opt.static_fields) {
    w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
    WriteString(&w, v, &scratch_);
  }
  w.Key("data");
  if (in_json) {
    w.RawValue(in.data(), in.size(), rapidjson::kObjectType);
  } else {
    WriteString(&w, in, &scratch_);
  }
  w.EndObject();
}

}  // namespace sluice::agent
