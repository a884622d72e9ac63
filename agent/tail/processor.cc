#include "agent/tail/processor.h"

#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <algorithm>

#include "agent/tail/log_formats.h"
#include "core/json.h"

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
  ProcessingStep opt;
  std::unique_ptr<Regex> re;        // log_to_json, grep
  std::vector<std::string> fields;  // log_to_json: one name per capture group
  std::vector<std::string> path;    // grep: the field's path
};

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
        auto re = Regex::Compile(steps[i].pattern);
        if (!re.ok()) return re.status().Annotate(where + ": grep pattern");
        step->re = std::move(*re);
        for (size_t at = 0; !steps[i].field.empty() && at <= steps[i].field.size();) {
          size_t dot = steps[i].field.find('.', at);
          if (dot == std::string::npos) dot = steps[i].field.size();
          if (dot == at) {
            return InvalidArgument(where + ": grep field \"" + steps[i].field +
                                   "\" has an empty name between dots");
          }
          step->path.push_back(steps[i].field.substr(at, dot - at));
          at = dot + 1;
        }
        break;
      }
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
    p->stats_.push_back({std::to_string(i + 1) + ":" + KindName(steps[i].kind), 0, 0});
    p->steps_.push_back(std::move(step));
  }
  return p;
}

ProcessResult Processor::Process(std::string_view record, const RecordContext& ctx) {
  ProcessResult r;
  std::string_view cur = record;
  bool json = false;
  int idx = 0;
  for (size_t i = 0; i < steps_.size(); ++i) {
    Step& step = *steps_[i];
    if (step.opt.kind == ProcessingStep::Kind::kGrep) {
      if (GrepMatches(step, cur, json) == step.opt.drop) {
        stats_[i].dropped++;
        r.dropped = true;
        r.data = {};
        return r;
      }
      continue;
    }
    std::string* out = &buf_[idx];
    out->clear();
    if (Apply(step, cur, json, ctx, out)) {
      cur = *out;
      idx ^= 1;
      if (step.opt.kind != ProcessingStep::Kind::kSingleLine) json = true;
    } else {
      stats_[i].failed++;
      r.unparsed = true;
      r.to_error_output |= step.opt.unparsed_to_error_output;
    }
  }
  r.data = cur;
  return r;
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
    case ProcessingStep::Kind::kGrep:
      break;  // Process decides
    case ProcessingStep::Kind::kLogfmt:
      return LogfmtToJson(in, out);
  }
  return false;
}

bool Processor::GrepMatches(Step& step, std::string_view in, bool in_json) {
  if (step.path.empty()) return step.re->Matches(in);
  // A field of a JSON record; one that is not JSON (yet) has none.
  if (!in_json && (in.empty() || in.front() != '{')) return false;
  FieldFinder finder(step.path);
  DepthLimitedHandler<FieldFinder> limited(&finder, kMaxJsonDepth);
  rapidjson::MemoryStream ms(in.data(), in.size());
  rapidjson::Reader reader;
  reader.Parse<rapidjson::kParseNumbersAsStringsFlag>(ms, limited);
  return finder.found() && step.re->Matches(finder.value());
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
