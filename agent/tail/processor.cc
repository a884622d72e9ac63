#include "agent/tail/processor.h"

#include "agent/tail/log_formats.h"

namespace sluice::agent {

struct Processor::Step {
  ProcessingStep opt;
  std::unique_ptr<Regex> re;        // log_to_json
  std::vector<std::string> fields;  // log_to_json: one name per capture group
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
    p->steps_.push_back(std::move(step));
  }
  return p;
}

ProcessResult Processor::Process(std::string_view record, const RecordContext& ctx) {
  ProcessResult r;
  std::string_view cur = record;
  bool json = false;
  int idx = 0;
  for (auto& step : steps_) {
    std::string* out = &buf_[idx];
    out->clear();
    if (Apply(*step, cur, json, ctx, out)) {
      cur = *out;
      idx ^= 1;
      if (step->opt.kind != ProcessingStep::Kind::kSingleLine) json = true;
    } else {
      r.unparsed = true;
      r.to_error_output |= step->opt.unparsed_to_error_output;
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
