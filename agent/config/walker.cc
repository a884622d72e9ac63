#include "agent/config/walker.h"

#include <charconv>

#include "agent/config/secrets.h"
#include "core/units.h"

namespace sluice::config {
namespace {

bool IsScalarType(Type t) {
  return t != Type::kObject && t != Type::kObjectList && t != Type::kVariantList &&
         t != Type::kSink && t != Type::kPluginOptions && t != Type::kStringList &&
         t != Type::kStringMap;
}

// The value as it may appear in a message: quoted, or "the value" for secrets.
std::string Shown(const Field& f, std::string_view text) {
  if (IsSecretKey(f.key)) return "the value";
  return "\"" + std::string(text) + "\"";
}

bool InRange(const Field& f, int64_t v) { return f.max <= f.min || (v >= f.min && v <= f.max); }

// Types scalar `text` per `f` into *out; Ok, or why not.
Status TypeScalar(const Field& f, const std::string& text, Value* out) {
  out->text = text;
  switch (f.type) {
    case Type::kString:
      return Status::Ok();
    case Type::kChar:
      return text.size() == 1 ? Status::Ok()
                              : InvalidArgument(Shown(f, text) + " is not a single character");
    case Type::kBool:
      if (text == "true" || text == "false") {
        out->boolean = text == "true";
        return Status::Ok();
      }
      return InvalidArgument(Shown(f, text) + " is not a boolean (true or false)");
    case Type::kInt: {
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out->integer);
      if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
        return InvalidArgument(Shown(f, text) + " is not an integer");
      }
      if (!InRange(f, out->integer)) {
        return InvalidArgument(text + " is out of range " + std::to_string(f.min) + ".." +
                               std::to_string(f.max));
      }
      return Status::Ok();
    }
    case Type::kDuration: {
      Result<Millis> d = ParseDuration(text);
      if (!d.ok()) return d.status();
      out->duration = *d;
      if (!InRange(f, d->count())) {
        return InvalidArgument(Shown(f, text) + " is out of range " +
                               FormatDuration(Millis(f.min)) + ".." +
                               FormatDuration(Millis(f.max)));
      }
      return Status::Ok();
    }
    case Type::kSize: {
      Result<uint64_t> s = ParseSize(text);
      if (!s.ok()) return s.status();
      out->size = *s;
      if (f.max > f.min && (*s < uint64_t(f.min) || *s > uint64_t(f.max))) {
        return InvalidArgument(Shown(f, text) + " is out of range " + FormatSize(f.min) + ".." +
                               FormatSize(f.max));
      }
      return Status::Ok();
    }
    case Type::kEnum: {
      std::vector<std::string_view> choices;
      std::string_view rest = f.choices;
      while (!rest.empty()) {
        size_t bar = rest.find('|');
        choices.push_back(rest.substr(0, bar));
        rest = bar == std::string_view::npos ? "" : rest.substr(bar + 1);
      }
      for (std::string_view c : choices) {
        if (c == text) return Status::Ok();
      }
      std::string list;
      for (std::string_view c : choices) list += (list.empty() ? "" : ", ") + std::string(c);
      return InvalidArgument(Shown(f, text) + " is not one of " + list + DidYouMean(text, choices));
    }
    default:
      return Status::Ok();
  }
}

// For "bearer_token_file" or "password_env": the secret option it stands for; else "".
std::string_view SecretBase(std::string_view key) {
  for (std::string_view suffix : {"_file", "_env"}) {
    if (key.size() > suffix.size() && key.ends_with(suffix)) {
      std::string_view base = key.substr(0, key.size() - suffix.size());
      if (IsSecretKey(base)) return base;
    }
  }
  return {};
}

void NoteInlineSecret(LoadContext& ctx, std::string_view key, const Node& node,
                      const std::string& path) {
  if (IsSecretKey(key) && node.is_scalar() && !node.substituted && !node.text.empty()) {
    ctx.inline_secrets.push_back({node.line, node.column, path, ""});
  }
}

// Keeps the position of every key written under a delivery, for the checks made after the
// walk (plugin options, policy ranges, prefixes), which report file:line:col too.
void NoteDeliveryMark(LoadContext& ctx, const Value& v) {
  constexpr std::string_view kList = "deliveries[";
  if (ctx.delivery == nullptr || v.node == nullptr || !v.path.starts_with(kList)) return;
  size_t end = v.path.find("].");
  if (end == std::string::npos) return;
  buffer::DeliveryOptions& d = *ctx.delivery;
  d.path = v.path.substr(0, end + 1);
  d.marks.push_back({v.path.substr(end + 2), {ctx.file, v.node->line, v.node->column}});
}

void Apply(LoadContext& ctx, const Field& f, const Value& v, const Node& at, ErrorList* errors) {
  NoteDeliveryMark(ctx, v);
  if (f.set == nullptr) return;
  if (Status st = f.set(ctx, v); !st.ok()) errors->Add(at, v.path, st.message());
}

bool CheckDuplicateKeys(const Node& map, const std::string& path, ErrorList* errors) {
  bool ok = true;
  for (size_t i = 0; i < map.entries.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (map.entries[j].key.text == map.entries[i].key.text) {
        const Node& k = map.entries[i].key;
        errors->Add(
            k, JoinPath(path, k.text),
            "duplicate key (first at line " + std::to_string(map.entries[j].key.line) + ")");
        ok = false;
        break;
      }
    }
  }
  return ok;
}

// One `key: value` of a plugin's own options (a sink section, a transform's options) into
// `section`, kept raw (with its position) for the plugin host to check against the table.
void AddPluginOption(LoadContext& ctx, const Node& node, const MapEntry& e,
                     const std::string& key_path, buffer::SinkSection* section, ErrorList* errors) {
  buffer::SinkOption opt;
  opt.key = e.key.text;
  // `<secret>_file` / `<secret>_env` of any sink: the host reads the secret (a file others
  // cannot read, or the environment) and hands the plugin `<secret>` itself.
  if (std::string_view base = SecretBase(opt.key); !base.empty() && e.value.is_scalar()) {
    Result<std::string> secret =
        opt.key.ends_with("_file") ? SecretFromFile(e.value.text) : SecretFromEnv(e.value.text);
    if (!secret.ok()) {
      errors->Add(e.value, key_path, secret.status().message());
      return;
    }
    for (const MapEntry& other : node.entries) {
      if (other.key.text == base) {
        errors->Add(e.key, key_path,
                    "give one of " + std::string(base) + ", " + std::string(base) + "_file, " +
                        std::string(base) + "_env");
      }
    }
    opt.key = std::string(base);
    opt.value = std::move(*secret);
    opt.mark = {ctx.file, e.value.line, e.value.column};
    opt.path = key_path;
    opt.secret = true;
    section->options.push_back(std::move(opt));
    return;
  }
  opt.is_scalar = !e.value.is_map() && !e.value.is_sequence();
  opt.value = opt.is_scalar ? e.value.text : ToJsonText(e.value);
  opt.mark = {ctx.file, e.value.line, e.value.column};
  opt.path = key_path;
  opt.secret = IsSecretKey(opt.key);
  opt.literal = opt.is_scalar && !e.value.substituted && !e.value.text.empty();
  NoteInlineSecret(ctx, opt.key, e.value, key_path);
  section->options.push_back(std::move(opt));
}

void WalkSink(LoadContext& ctx, const Field& f, const Node& node, const std::string& path,
              ErrorList* errors) {
  if (!node.is_map()) {
    errors->Add(node, path, "expected a map with a type, got " + std::string(KindName(node)));
    return;
  }
  CheckDuplicateKeys(node, path, errors);
  Value v;
  v.node = &node;
  v.path = path;
  v.sink.mark = {ctx.file, node.line, node.column};
  v.sink.path = path;
  bool has_type = false;
  for (const MapEntry& e : node.entries) {
    std::string key_path = JoinPath(path, e.key.text);
    if (e.key.text == "type") {
      has_type = true;
      bool ok = e.value.is_scalar() && !e.value.text.empty();
      for (char c : e.value.text) {
        ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-');
      }
      if (!ok) {
        errors->Add(e.value, key_path,
                    "expected a sink type such as file, s3, http (a plugin name: a-z 0-9 _ -)");
      }
      v.sink.type = e.value.text;
      continue;
    }
    if (e.key.text == "isolation") {  // host keys: the plugin never sees them
      if (e.value.text == "in_process" && e.value.is_scalar()) {
        v.sink.isolation = buffer::Isolation::kInProcess;
      } else if (e.value.text == "process" && e.value.is_scalar()) {
        v.sink.isolation = buffer::Isolation::kProcess;
      } else {
        errors->Add(e.value, key_path, "expected in_process or process");
      }
      continue;
    }
    if (e.key.text == "call_timeout") {
      Result<Millis> d = e.value.is_scalar() ? ParseDuration(e.value.text)
                                             : InvalidArgument("expected a duration");
      if (!d.ok() || *d < std::chrono::seconds(1) || *d > std::chrono::hours(1)) {
        errors->Add(e.value, key_path, "expected a duration from 1s to 1h, such as 30s");
      } else {
        v.sink.call_timeout = *d;
      }
      continue;
    }
    AddPluginOption(ctx, node, e, key_path, &v.sink, errors);
  }
  if (!has_type) errors->Add(node, JoinPath(path, "type"), "required key is missing");
  Apply(ctx, f, v, node, errors);
}

// `options:` of a plugin transform: the plugin's own keys, as in a sink section but without
// `type` or host keys.
void WalkPluginOptions(LoadContext& ctx, const Field& f, const Node& node, const std::string& path,
                       ErrorList* errors) {
  if (!node.is_map()) {
    errors->Add(node, path,
                "expected a map of the plugin's options, got " + std::string(KindName(node)));
    return;
  }
  if (!CheckDuplicateKeys(node, path, errors)) return;
  Value v;
  v.node = &node;
  v.path = path;
  v.sink.mark = {ctx.file, node.line, node.column};
  v.sink.path = path;
  for (const MapEntry& e : node.entries) {
    AddPluginOption(ctx, node, e, JoinPath(path, e.key.text), &v.sink, errors);
  }
  Apply(ctx, f, v, node, errors);
}

void WalkStringList(LoadContext& ctx, const Field& f, const Node& node, const std::string& path,
                    ErrorList* errors) {
  Value v;
  v.node = &node;
  v.path = path;
  if (node.is_scalar()) {
    v.list.push_back(node.text);
  } else if (node.is_sequence()) {
    for (size_t i = 0; i < node.items.size(); ++i) {
      const Node& item = node.items[i];
      if (!item.is_scalar()) {
        errors->Add(item, IndexPath(path, i),
                    "expected a string, got " + std::string(KindName(item)));
        return;
      }
      v.list.push_back(item.text);
    }
  } else {
    errors->Add(node, path, "expected a list of strings, got " + std::string(KindName(node)));
    return;
  }
  Apply(ctx, f, v, node, errors);
}

void WalkStringMap(LoadContext& ctx, const Field& f, const Node& node, const std::string& path,
                   ErrorList* errors) {
  if (!node.is_map()) {
    errors->Add(node, path, "expected a map of strings, got " + std::string(KindName(node)));
    return;
  }
  if (!CheckDuplicateKeys(node, path, errors)) return;
  Value v;
  v.node = &node;
  v.path = path;
  for (const MapEntry& e : node.entries) {
    if (!e.value.is_scalar() && !e.value.is_null()) {
      errors->Add(e.value, JoinPath(path, e.key.text),
                  "expected a string, got " + std::string(KindName(e.value)));
      return;
    }
    v.map.emplace_back(e.key.text, e.value.text);
  }
  Apply(ctx, f, v, node, errors);
}

void WalkVariantList(LoadContext& ctx, const Field& f, const Node& node, const std::string& path,
                     ErrorList* errors) {
  std::vector<std::string_view> names;
  for (const Field& variant : f.section->fields) names.push_back(variant.key);
  std::string name_list;
  for (std::string_view n : names) name_list += (name_list.empty() ? "" : ", ") + std::string(n);
  if (!node.is_sequence()) {
    errors->Add(node, path, "expected a list of steps, got " + std::string(KindName(node)));
    return;
  }
  for (size_t i = 0; i < node.items.size(); ++i) {
    const Node& item = node.items[i];
    std::string item_path = IndexPath(path, i);
    const Node* name_node = &item;
    Node no_options;  // a bare step name: no options, errors point at the name
    no_options.line = item.line;
    no_options.column = item.column;
    const Node* body = &no_options;
    if (item.is_map() && item.entries.size() == 1) {
      name_node = &item.entries[0].key;
      body = &item.entries[0].value;
    } else if (!item.is_scalar()) {
      errors->Add(item, item_path,
                  "expected a step: one of " + name_list + ", alone or as a map with its options");
      continue;
    }
    const Field* variant = nullptr;
    for (const Field& candidate : f.section->fields) {
      if (candidate.key == name_node->text) variant = &candidate;
    }
    if (variant == nullptr) {
      errors->Add(*name_node, item_path,
                  "unknown step '" + name_node->text + "'" + DidYouMean(name_node->text, names) +
                      "; steps are " + name_list);
      continue;
    }
    WalkSection(ctx, *variant->section, *body, JoinPath(item_path, variant->key), errors);
  }
}

void WalkField(LoadContext& ctx, const Field& f, const Node& node, const std::string& path,
               ErrorList* errors) {
  switch (f.type) {
    case Type::kObject:
      WalkSection(ctx, *f.section, node, path, errors);
      return;
    case Type::kObjectList:
      if (node.is_null()) return;
      if (!node.is_sequence()) {
        errors->Add(node, path, "expected a list, got " + std::string(KindName(node)));
        return;
      }
      for (size_t i = 0; i < node.items.size(); ++i) {
        WalkSection(ctx, *f.section, node.items[i], IndexPath(path, i), errors);
      }
      return;
    case Type::kVariantList:
      if (!node.is_null()) WalkVariantList(ctx, f, node, path, errors);
      return;
    case Type::kSink:
      WalkSink(ctx, f, node, path, errors);
      return;
    case Type::kPluginOptions:
      if (!node.is_null()) WalkPluginOptions(ctx, f, node, path, errors);
      return;
    case Type::kStringList:
      WalkStringList(ctx, f, node, path, errors);
      return;
    case Type::kStringMap:
      if (!node.is_null()) WalkStringMap(ctx, f, node, path, errors);
      return;
    default:
      break;
  }
  if (!node.is_scalar()) {
    errors->Add(node, path,
                "expected " + std::string(f.type == Type::kInt ? "an " : "a ") +
                    std::string(TypeName(f.type)) + ", got " + std::string(KindName(node)));
    return;
  }
  if (f.type == Type::kString) NoteInlineSecret(ctx, f.key, node, path);
  Value v;
  v.node = &node;
  v.path = path;
  if (Status st = TypeScalar(f, node.text, &v); !st.ok()) {
    errors->Add(node, path, st.message());
    return;
  }
  Apply(ctx, f, v, node, errors);
}

// Applies the defaults of `section` and of its absent sub-sections, without hooks or checks.
void ApplyDefaults(LoadContext& ctx, const Section& section, const Node& at,
                   const std::string& path, ErrorList* errors) {
  for (const Field& f : section.fields) {
    if (f.type == Type::kObject) {
      ApplyDefaults(ctx, *f.section, at, JoinPath(path, f.key), errors);
    } else if (IsScalarType(f.type) && !f.default_text.empty()) {
      Value v;
      v.path = JoinPath(path, f.key);
      if (Status st = TypeScalar(f, std::string(f.default_text), &v); st.ok()) {
        Apply(ctx, f, v, at, errors);
      } else {
        errors->Add(at, v.path, "bad built-in default: " + st.message());
      }
    }
  }
}

}  // namespace

void WalkSection(LoadContext& ctx, const Section& section, const Node& node,
                 const std::string& path, ErrorList* errors) {
  if (!node.is_map() && !node.is_null()) {
    errors->Add(node, path, "expected a map, got " + std::string(KindName(node)));
    return;
  }
  if (section.begin != nullptr) {
    ctx.entering = {"", path, node.line, node.column};
    if (Status st = section.begin(ctx); !st.ok()) errors->Add(node, path, st.message());
  }
  size_t errors_before = errors->size();
  CheckDuplicateKeys(node, path, errors);
  std::vector<std::string_view> known;
  for (const Field& f : section.fields) known.push_back(f.key);

  // Keys absent (or null) take their defaults first; present keys are then set in file order.
  std::vector<const Field*> present(node.entries.size(), nullptr);
  for (const Field& f : section.fields) {
    const MapEntry* entry = nullptr;
    for (size_t i = 0; i < node.entries.size(); ++i) {
      if (node.entries[i].key.text == f.key) {
        if (entry == nullptr) present[i] = &f;
        if (entry == nullptr) entry = &node.entries[i];
      }
    }
    std::string key_path = JoinPath(path, f.key);
    bool absent = entry == nullptr || (entry->value.is_null() && f.type != Type::kObject);
    if (!absent) continue;
    if (entry != nullptr && entry->value.is_null()) present[entry - node.entries.data()] = nullptr;
    if (f.required) {
      errors->Add(entry != nullptr ? entry->key : node, key_path,
                  entry != nullptr ? "required key has no value" : "required key is missing");
    } else if (f.type == Type::kObject) {
      ApplyDefaults(ctx, *f.section, node, key_path, errors);
    } else if (IsScalarType(f.type) && !f.default_text.empty()) {
      Value v;
      v.path = key_path;
      if (TypeScalar(f, std::string(f.default_text), &v).ok()) Apply(ctx, f, v, node, errors);
    }
  }
  for (size_t i = 0; i < node.entries.size(); ++i) {
    const MapEntry& e = node.entries[i];
    std::string key_path = JoinPath(path, e.key.text);
    if (!e.key.is_scalar()) {
      errors->Add(e.key, path, "keys must be plain strings");
      continue;
    }
    bool known_key = false;
    for (const Field& f : section.fields) known_key = known_key || f.key == e.key.text;
    if (!known_key) {
      errors->Add(e.key, key_path,
                  "unknown key '" + e.key.text + "'" + DidYouMean(e.key.text, known));
      continue;
    }
    if (present[i] != nullptr) WalkField(ctx, *present[i], e.value, key_path, errors);
  }
  // Checks across keys run only when the keys themselves are valid, to avoid follow-on noise.
  if (section.finish != nullptr && errors->size() == errors_before) {
    if (Status st = section.finish(ctx); !st.ok()) errors->Add(node, path, st.message());
  }
}

}  // namespace sluice::config
