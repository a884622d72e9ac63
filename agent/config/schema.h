// The configuration schema: every key sluice reads, declared once as tables of Fields.
//
// A Field names a key, its type, its default (as the text a user would write), its range or
// choices, a one-line doc, and a setter that stores the typed value into the struct being filled.
// The walker (walker.h) checks a YAML tree against these tables, applies defaults, and calls the
// setters; RenderReferenceMarkdown() prints the same tables as the configuration reference.
//
// The tables are constant data (schema_table.cc, schema_sources.cc, schema_deliveries.cc); no
// threading concerns.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config/config.h"
#include "agent/config/config_node.h"
#include "agent/config/errors.h"
#include "core/secret_key.h"

namespace sluice::config {

enum class Type {
  kString,
  kBool,
  kInt,
  kDuration,     // "250ms", "30s", "5m", "24h"; range in milliseconds
  kSize,         // "512KiB", "5MiB"; range in bytes
  kEnum,         // one of `choices`, "a|b|c"
  kChar,         // a string of exactly one byte
  kStringList,   // a list of strings (a single string is a list of one)
  kStringMap,    // a map of string keys to string values
  kObject,       // a map of the keys of `section`
  kObjectList,   // a list of maps of the keys of `section`
  kVariantList,  // a list whose items are `name` or `{name: {keys}}`; `section` lists the variants
  kSink,         // `type` plus the sink's own options, kept raw for the plugin to check
  kPluginOptions,  // a map of a plugin's own options (no `type`), kept raw for the plugin
};

// A typed value handed to a setter. Only the member matching the field's type is meaningful.
struct Value {
  const Node* node = nullptr;  // where it came from; null for an applied default
  std::string path;            // "deliveries[0].buffer.interval"
  std::string text;            // kString, kEnum, kChar
  bool boolean = false;
  int64_t integer = 0;
  uint64_t size = 0;
  std::chrono::milliseconds duration{0};
  std::vector<std::string> list;                         // kStringList
  std::vector<std::pair<std::string, std::string>> map;  // kStringMap
  buffer::SinkSection sink;                              // kSink, kPluginOptions
};

// Name of a declared stream/source/delivery, or a reference to a stream, for cross-checks.
struct NameRef {
  std::string name;
  std::string path;
  int line = 0;
  int column = 0;
};

// A streams[] entry's `encryption` section: which stream, where, and its key_id (if given), for
// the checks against the keyring made once the whole file is read.
struct StreamEncryptionRef {
  size_t stream = 0;  // index in Config::streams
  NameRef at;
  NameRef key_id;  // name empty: not given
};

// The state of one load: the Config being filled and the element of each list being filled now.
struct LoadContext {
  Config* config = nullptr;
  std::string file;
  // The section a begin hook is entering: its key path and position (name unused).
  NameRef entering;
  broker::StreamOptions* stream = nullptr;
  bool in_stream_encryption = false;  // the current stream has an encryption section
  std::vector<StreamEncryptionRef> stream_encryption;
  agent::FlowOptions* flow = nullptr;
  agent::ProcessingStep* step = nullptr;
  // Keys of one source type written in the current sources[] entry, checked against its type.
  std::vector<std::string> source_keys;
  buffer::DeliveryOptions* delivery = nullptr;
  ApiCredential* credential = nullptr;
  TlsListenerOptions* tls = nullptr;  // the tls: section being read (broker.api or admin)
  int credential_secrets = 0;         // secret keys given for the current credential
  // The current credential's short-form policy (policy: {allow, deny, resources}).
  std::vector<std::string> policy_allow, policy_deny, policy_resources;
  bool policy_short = false, policy_document = false;
  std::vector<NameRef> stream_names, source_names, delivery_names;
  std::vector<NameRef> stream_refs;         // sources[].stream and deliveries[].stream
  std::vector<ConfigError> inline_secrets;  // secret values written literally in the file
};

// Returns Ok when the value is accepted, else the refusal (its message without position or path).
using Setter = Status (*)(LoadContext& ctx, const Value& value);
// Called when a section is entered (begin) or after all its keys (finish): Ok, or the refusal.
using Hook = Status (*)(LoadContext& ctx);

struct Section;

struct Field {
  std::string_view key;
  Type type = Type::kString;
  std::string_view default_text;  // applied when the key is absent; "" = no default
  bool required = false;
  int64_t min = 0;  // inclusive range, checked when max > min (ints; ms; bytes)
  int64_t max = 0;
  std::string_view choices;  // kEnum: "none|gzip|zip"
  std::string_view doc;
  const Section* section = nullptr;  // kObject, kObjectList, kVariantList
  Setter set = nullptr;
};

struct Section {
  std::span<const Field> fields;
  Hook begin = nullptr;
  Hook finish = nullptr;
};

// The root of the schema (the top-level keys of sluice.yaml).
const Section& RootSection();

// Type names for messages and docs: "duration", "list of strings", ...
std::string_view TypeName(Type type);

using sluice::IsSecretKey;  // core/secret_key.h: the one list of secret key names

}  // namespace sluice::config
