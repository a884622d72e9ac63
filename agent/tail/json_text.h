// JSON text helpers on RapidJSON for records that may hold any bytes: a string value with invalid
// UTF-8 is written with each invalid byte mapped to the code point of the same number (U+0080..
// U+00FF), control characters and NUL escaped by the writer, so the output is always valid JSON.
//
// THREADING: JsonOut is not thread-safe; one per user.
#pragma once

#include <rapidjson/writer.h>

#include <string>
#include <string_view>

namespace sluice::agent {

// A RapidJSON output stream appending to a std::string.
class StringOutput final {
 public:
  using Ch = char;
  explicit StringOutput(std::string* s) : s_(s) {}
  void Put(char c) { s_->push_back(c); }
  void Flush() {}

 private:
  std::string* s_;
};

using JsonWriter = rapidjson::Writer<StringOutput>;

bool IsValidUtf8(std::string_view s);

// Writes `s` as a JSON string through `w`; `scratch` holds the repaired copy when needed.
void WriteString(JsonWriter* w, std::string_view s, std::string* scratch);

}  // namespace sluice::agent
