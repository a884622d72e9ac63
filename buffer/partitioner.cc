#include "buffer/partitioner.h"

#include <rapidjson/document.h>

#include "core/json.h"

namespace sluice::buffer {

Result<std::vector<PartitionKeySpec>> ParsePartitionKeys(const std::vector<std::string>& specs) {
  std::vector<PartitionKeySpec> out;
  for (const std::string& s : specs) {
    size_t eq = s.find('=');
    if (eq == 0 || eq == std::string::npos || eq + 1 >= s.size() || s[eq + 1] != '.') {
      return InvalidArgument("partition key \"" + s + "\": expected name=.json.path");
    }
    PartitionKeySpec spec{s.substr(0, eq), {}};
    std::string_view path = std::string_view(s).substr(eq + 1);
    while (!path.empty()) {
      path.remove_prefix(1);  // the '.'
      size_t dot = path.find('.');
      std::string_view part = path.substr(0, dot);
      if (part.empty()) return InvalidArgument("partition key \"" + s + "\": empty path segment");
      spec.path.emplace_back(part);
      path = dot == std::string_view::npos ? std::string_view() : path.substr(dot);
    }
    out.push_back(std::move(spec));
  }
  return out;
}

Result<std::map<std::string, std::string>> ExtractPartitionKeys(
    const std::vector<PartitionKeySpec>& specs, std::string_view record, JsonArena* arena) {
  JsonArena local;  // no allocation: a Document made without an allocator would make one
  rapidjson::Document& d = (arena != nullptr ? arena : &local)->Fresh();
  Status d_parsed = ParseJson(record, &d);
  if (!d_parsed.ok()) return InvalidArgument("record is not JSON " + d_parsed.message());
  if (!d.IsObject()) return InvalidArgument("record is not a JSON object");
  std::map<std::string, std::string> out;
  for (const auto& spec : specs) {
    const rapidjson::Value* v = &d;
    for (const auto& part : spec.path) {
      if (!v->IsObject()) return InvalidArgument("no field for partition key " + spec.name);
      auto it = v->FindMember(rapidjson::StringRef(part.data(), part.size()));
      if (it == v->MemberEnd()) return InvalidArgument("no field for partition key " + spec.name);
      v = &it->value;
    }
    if (v->IsString()) {
      out[spec.name] = std::string(v->GetString(), v->GetStringLength());
    } else if (v->IsInt64()) {
      out[spec.name] = std::to_string(v->GetInt64());
    } else if (v->IsUint64()) {
      out[spec.name] = std::to_string(v->GetUint64());
    } else if (v->IsBool()) {
      out[spec.name] = v->GetBool() ? "true" : "false";
    } else {
      return InvalidArgument("partition key " + spec.name + " is not a string, integer or bool");
    }
  }
  return out;
}

}  // namespace sluice::buffer
