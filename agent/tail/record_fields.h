// Record fields: what the editing steps (modify, mask, regex on a field, timestamp) do to a
// parsed JSON record (a RapidJSON DOM): dotted paths, finding, setting, removing, nesting,
// lifting; and the masks (addresses, e-mail, card numbers, patterns) applied to a value's text.
//
// THREADING: a Masker reuses its match data: one per processor, on the loop thread.
// OWNERSHIP: values set into a document are allocated from its allocator.
#pragma once

#include <rapidjson/document.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/tail/flow_options.h"
#include "agent/tail/regex.h"
#include "core/status.h"

namespace sluice::agent {

using FieldPath = std::vector<std::string>;
using JsonValue = rapidjson::Value;
using JsonAllocator = rapidjson::Document::AllocatorType;

// "request.uri" -> {"request", "uri"}; refuses an empty name between dots.
Result<FieldPath> SplitFieldPath(std::string_view dotted);

// The value at `path` in the object `root`, or null.
JsonValue* FindField(JsonValue& root, const FieldPath& path);
// A scalar's text: a string's, a number's as written back, true/false. False for null, objects
// and arrays. `scratch` holds a number's text.
bool ScalarText(const JsonValue& v, std::string* scratch, std::string_view* text);
// Sets `path` to `value` (moved), making the objects on the way; `overwrite` false keeps a
// present value. False when a name on the way holds something other than an object.
bool SetField(JsonValue& root, const FieldPath& path, JsonValue& value, JsonAllocator& a,
              bool overwrite = true);
// Removes `path`; true if it was there.
bool RemoveField(JsonValue& root, const FieldPath& path);

// The `modify` step's edits, in their order (rename, hard_rename, copy, hard_copy, add, set,
// remove, nest, lift). Returns whether anything changed.
class Modifier final {
 public:
  static Result<Modifier> Create(const ProcessingStep& step);
  bool Apply(JsonValue& root, JsonAllocator& a) const;

 private:
  struct Pair {
    FieldPath from, to;
    std::string value;
  };
  std::vector<Pair> rename_, hard_rename_, copy_, hard_copy_, add_, set_;
  std::vector<FieldPath> remove_;
  std::vector<std::string> remove_prefixes_;  // top-level names by prefix ("tmp_*")
  std::string nest_under_;
  std::vector<std::string> nest_names_, nest_prefixes_;
  FieldPath lift_;
  std::string lift_prefix_;
};

// The `mask` step's replacement of what it finds in a text.
class Masker final {
 public:
  static Result<std::unique_ptr<Masker>> Create(const ProcessingStep& step);
  ~Masker();
  Masker(const Masker&) = delete;
  Masker& operator=(const Masker&) = delete;
  // Writes `in` with every finding replaced into *out; false (and *out untouched) when nothing
  // was found.
  bool Apply(std::string_view in, std::string* out);
  // As Apply, for the text of a JSON document: findings are masked inside each string (keys
  // too) and each number token, and a number with a finding becomes a string, so that the
  // result is still JSON ({"card":4111111111111111} -> {"card":"[REDACTED]"}).
  bool ApplyJson(std::string_view in, std::string* out);

 private:
  enum class Kind { kIpv4, kIpv6, kEmail, kCreditCard, kPattern };
  enum class With { kRedact, kPrefix, kHash };
  Masker() = default;
  bool Accept(std::string_view found) const;  // checks a candidate (Luhn, inet_pton)
  void Replace(std::string_view found, std::string* out);

  std::string piece_, whole_;  // ApplyJson's scratch
  Kind kind_ = Kind::kPattern;
  With with_ = With::kRedact;
  std::unique_ptr<Regex> re_;
  std::string replacement_;
  int keep_ = 0;
  // hash: HMAC-SHA-256 with the key's inner and outer pads hashed once (RFC 2104); each value
  // then costs two copies of a digest state instead of a new HMAC context.
  void* inner_ = nullptr;  // EVP_MD_CTX*
  void* outer_ = nullptr;
  void* work_ = nullptr;
};

}  // namespace sluice::agent
