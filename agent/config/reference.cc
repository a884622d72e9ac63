// The configuration reference, rendered from the schema tables as Markdown.
#include <string>

#include "agent/config/config.h"
#include "agent/config/schema.h"
#include "core/units.h"

namespace sluice::config {
namespace {

std::string Escaped(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '|') {
      out += "\\|";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string RangeText(const Field& f) {
  if (f.type == Type::kEnum) {
    std::string out;
    std::string_view rest = f.choices;
    while (!rest.empty()) {
      size_t bar = rest.find('|');
      out += (out.empty() ? "`" : ", `") + std::string(rest.substr(0, bar)) + "`";
      rest = bar == std::string_view::npos ? "" : rest.substr(bar + 1);
    }
    return out;
  }
  if (f.max <= f.min) return "";
  switch (f.type) {
    case Type::kDuration:
      return FormatDuration(Millis(f.min)) + " .. " + FormatDuration(Millis(f.max));
    case Type::kSize:
      return FormatSize(f.min) + " .. " + FormatSize(f.max);
    default:
      return std::to_string(f.min) + " .. " + std::to_string(f.max);
  }
}

void Render(const Section& section, const std::string& path, std::string* out) {
  for (const Field& f : section.fields) {
    std::string key = path.empty() ? std::string(f.key) : path + "." + std::string(f.key);
    std::string shown_key = key;
    if (f.type == Type::kObjectList) shown_key += "[]";
    std::string def = f.default_text.empty() ? "" : "`" + Escaped(f.default_text) + "`";
    if (f.required) def = "required";
    *out += "| `" + shown_key + "` | " + std::string(TypeName(f.type)) + " | " + def + " | " +
            RangeText(f) + " | " + Escaped(f.doc) + " |\n";
    if (f.section == nullptr) continue;
    if (f.type == Type::kObjectList) {
      Render(*f.section, key + "[]", out);
    } else if (f.type == Type::kVariantList) {
      for (const Field& variant : f.section->fields) {
        std::string vkey = key + "[]." + std::string(variant.key);
        *out += "| `" + vkey + "` | step |  |  | " + Escaped(variant.doc) + " |\n";
        Render(*variant.section, vkey, out);
      }
    } else {
      Render(*f.section, key, out);
    }
  }
}

}  // namespace

std::string RenderReferenceMarkdown() {
  std::string out =
      "| key | type | default | range / values | description |\n"
      "|---|---|---|---|---|\n";
  Render(RootSection(), "", &out);
  return out;
}

}  // namespace sluice::config
