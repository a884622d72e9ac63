#include "agent/config/config.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "agent/config/env_subst.h"
#include "agent/config/errors.h"
#include "agent/config/schema.h"
#include "agent/config/secrets.h"
#include "agent/config/walker.h"
#include "agent/config/yaml_adapter.h"

namespace sluice::config {
namespace {

constexpr size_t kMaxConfigBytes = 16u << 20;

// Names must be unique within their list: reports each repeat at its own position.
void CheckUnique(const std::vector<NameRef>& names, std::string_view what, ErrorList* errors) {
  for (size_t i = 0; i < names.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (names[i].name == names[j].name) {
        errors->Add(names[i].line, names[i].column, names[i].path,
                    "duplicate " + std::string(what) + " name \"" + names[i].name +
                        "\" (first at line " + std::to_string(names[j].line) + ")");
        break;
      }
    }
  }
}

void CheckStreamRefs(const LoadContext& ctx, ErrorList* errors) {
  std::vector<std::string_view> declared;
  for (const NameRef& s : ctx.stream_names) declared.push_back(s.name);
  for (const NameRef& ref : ctx.stream_refs) {
    bool found = false;
    for (std::string_view d : declared) found = found || d == ref.name;
    if (found) continue;
    std::string hint = DidYouMean(ref.name, declared);
    errors->Add(ref.line, ref.column, ref.path,
                "stream \"" + ref.name + "\" is not declared under streams" + hint);
  }
}

// A stream's encryption section needs broker.encryption.keyring, and a key_id it names must be
// in that keyring. Checked once the whole file is read, as the broker section may come after the
// streams. Also lists the entries that set their stream's encryption.
void CheckStreamEncryption(const LoadContext& ctx, Config* config, ErrorList* errors) {
  const BrokerSection& broker = config->broker;
  for (const StreamEncryptionRef& ref : ctx.stream_encryption) {
    const broker::StreamOptions& so = config->streams[ref.stream];
    config->streams_setting_encryption.push_back(so.name);
    if (!so.encryption.enabled) continue;
    if (broker.keyring_file.empty()) {
      errors->Add(ref.at.line, ref.at.column, ref.at.path,
                  "stream encryption needs broker.encryption.keyring (the file of master keys; "
                  "make keys with `sluice keygen`)");
      continue;
    }
    // A keyring that did not load is reported where it is named.
    if (broker.keyring == nullptr || ref.key_id.name.empty()) continue;
    if (broker.keyring->Find(ref.key_id.name) != nullptr) continue;
    std::vector<std::string_view> ids;
    for (const Keyring::Key& k : broker.keyring->keys()) ids.push_back(k.id);
    errors->Add(ref.key_id.line, ref.key_id.column, ref.key_id.path,
                "key id \"" + ref.key_id.name + "\" is not in the keyring " + broker.keyring_file +
                    DidYouMean(ref.key_id.name, ids));
  }
}

// Loads text; inline secrets found are returned for the file-mode rule.
Result<Config> Load(std::string_view text, std::string_view file_name, const ExtraCheck& extra,
                    std::vector<ConfigError>* inline_secrets) {
  ErrorList errors;
  Node root = ParseYaml(text, &errors);
  if (errors.empty()) ExpandTree(&root, "", &errors);
  Config config;
  config.source_file = std::string(file_name);
  if (errors.empty()) {
    LoadContext ctx;
    ctx.config = &config;
    ctx.file = std::string(file_name);
    WalkSection(ctx, RootSection(), root, "", &errors);
    CheckUnique(ctx.stream_names, "stream", &errors);
    CheckUnique(ctx.source_names, "source", &errors);
    CheckUnique(ctx.delivery_names, "delivery", &errors);
    CheckStreamRefs(ctx, &errors);
    CheckStreamEncryption(ctx, &config, &errors);
    *inline_secrets = std::move(ctx.inline_secrets);
    if (extra) extra(config, &errors);
  }
  if (!errors.empty()) return InvalidArgument(errors.Format(file_name));
  return config;
}

}  // namespace

Result<Config> LoadConfigText(std::string_view text, std::string_view file_name,
                              const ExtraCheck& extra) {
  std::vector<ConfigError> inline_secrets;
  return Load(text, file_name, extra, &inline_secrets);
}

Result<Config> LoadConfigFile(const std::string& path, const ExtraCheck& extra) {
  auto file_mode = FileMode(path);
  if (!file_mode.ok()) return IoError(path + ": " + file_mode.status().message());
  int mode = *file_mode;
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return ErrnoError(path + ": cannot open", errno);
  std::string text;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0 && text.size() <= kMaxConfigBytes) {
    text.append(buf, n);
  }
  bool read_error = std::ferror(f) != 0;
  std::fclose(f);
  if (read_error) return IoError(path + ": read failed");
  if (text.size() > kMaxConfigBytes) return InvalidArgument(path + ": larger than 16 MiB");

  std::vector<ConfigError> inline_secrets;
  Result<Config> config = Load(text, path, extra, &inline_secrets);
  if (!config.ok() || inline_secrets.empty() || (mode & 0004) == 0) return config;
  char octal[16];
  std::snprintf(octal, sizeof(octal), "%04o", mode);
  ErrorList errors;
  for (const ConfigError& s : inline_secrets) {
    errors.Add(s.line, s.column, s.path,
               std::string("a secret is written inline in a file others can read (mode ") + octal +
                   "); run chmod o-r on the file, or use ${VAR} or a *_env / *_file key");
  }
  return InvalidArgument(errors.Format(path));
}

broker::BrokerOptions BrokerOptionsOf(const Config& config) {
  broker::BrokerOptions options;
  options.data_dir = config.data_dir;
  options.disk_quota_bytes = config.broker.disk_quota;
  options.iterator_ttl = config.broker.iterator_ttl;
  options.segment_bytes = config.broker.segment_size;
  options.keyring = config.broker.keyring;
  return options;
}

}  // namespace sluice::config
