// Fuzz target: core/json.h, the parser every piece of JSON from outside goes through (API bodies,
// records, log lines, plugin and endpoint answers). The first byte picks the shape: as it is;
// wrapped in 1,000..200,000 levels of '[' or '{"a":' (the depth bound must refuse these without
// recursing); or parsed in place. Beyond "no crash": a document within the bound is accepted or
// refused exactly as RapidJSON's own recursive parse of it is (for inputs shallow enough to
// parse recursively), and what is accepted writes back out as JSON that parses again.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  uint8_t mode = data[0];
  rapidjson::Document doc;
  if (mode % 4 == 1 || mode % 4 == 2) {
    size_t levels = 1000 + (static_cast<size_t>(mode) * 800);
    std::string open = mode % 4 == 1 ? "[" : "{\"a\":";
    std::string deep;
    deep.reserve(levels * open.size() + text.size());
    for (size_t i = 0; i < levels; ++i) deep += open;
    deep += text;
    sluice::Status st = sluice::ParseJson(deep, &doc);
    if (levels > sluice::kMaxJsonDepth && st.ok()) std::abort();  // past the bound
    return 0;
  }
  if (mode % 4 == 3) {
    std::string copy = text;
    (void)sluice::ParseJsonInsitu(copy.data(), &doc);
    return 0;
  }
  sluice::Status st = sluice::ParseJson(text, &doc);
  rapidjson::Document reference;
  reference.Parse(text.data(), text.size());        // inputs are at most a few KiB: shallow enough
  bool deep = text.size() > sluice::kMaxJsonDepth;  // could nest past the bound
  if (!deep && st.ok() != !reference.HasParseError()) std::abort();
  if (st.ok()) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    doc.Accept(w);
    rapidjson::Document again;
    if (!sluice::ParseJson(std::string_view(sb.GetString(), sb.GetSize()), &again).ok()) {
      std::abort();
    }
  }
  return 0;
}
