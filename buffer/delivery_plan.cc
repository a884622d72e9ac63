#include "buffer/delivery_plan.h"

#include "buffer/lua_transform.h"

namespace sluice::buffer {
namespace {

// The position of a sink option (or of the section when the option is its default).
SourceMark OptionMark(const SinkSection& section, std::string_view key) {
  for (const SinkOption& o : section.options) {
    if (o.key == key) return o.mark;
  }
  return section.mark;
}

// Loads the plugin a sink section names, as a sink (not a transform).
const Plugin* LoadSink(const SinkSection& section, PluginHost* host,
                       std::vector<ConfigIssue>* issues) {
  if (section.type.empty()) return nullptr;  // the schema reported the missing type
  auto plugin = host->Load(section.type);
  if (!plugin.ok()) {
    issues->push_back({section.mark, section.path + ".type", plugin.status().message()});
    return nullptr;
  }
  if ((*plugin)->transform()) {
    issues->push_back({section.mark, section.path + ".type",
                       section.type + " is a transform plugin, not a sink"});
    return nullptr;
  }
  return *plugin;
}

// Parses one prefix and checks the partition keys it names against what the delivery supplies:
// `query_keys` (the names under partitioning.keys) and, with a transform, Lambda keys.
std::optional<PrefixTemplate> ParsePrefix(const DeliveryOptions& options,
                                          const ValidatedOptions& sink_options, const char* key,
                                          PrefixTemplate::Kind kind,
                                          const std::vector<std::string>& query_keys,
                                          std::vector<ConfigIssue>* issues) {
  auto issue = [&](const Status& st) {
    issues->push_back({OptionMark(options.sink, key), options.sink.path + "." + key, st.message()});
    return std::nullopt;
  };
  auto t = PrefixTemplate::Parse(OptionValue(sink_options, key), kind);
  if (!t.ok()) return issue(t.status());
  // A lua transform answers no metadata.partitionKeys.
  bool lambda_keys = options.transform.kind != TransformOptions::Kind::kNone &&
                     options.transform.kind != TransformOptions::Kind::kLua;
  if (Status st = t->CheckKeys(query_keys, lambda_keys); !st.ok()) return issue(st);
  return std::move(*t);
}

}  // namespace

std::optional<DeliveryPlan> PlanDelivery(const DeliveryOptions& options, PluginHost* host,
                                         std::vector<ConfigIssue>* issues) {
  size_t before = issues->size();
  auto issue = [&](std::string_view key, std::string message) {
    issues->push_back(
        {options.MarkOf(key), options.path + "." + std::string(key), std::move(message)});
  };
  DeliveryPlan plan;
  std::vector<std::string> query_keys;  // the names a prefix may use in partitionKeyFromQuery
  auto specs = ParsePartitionKeys(options.partition_keys);
  if (specs.ok()) {
    plan.partition_specs = std::move(*specs);
    for (const PartitionKeySpec& s : plan.partition_specs) query_keys.push_back(s.name);
  } else {
    issue("partitioning.keys", specs.status().message());
  }
  plan.plugin = LoadSink(options.sink, host, issues);
  if (plan.plugin != nullptr) {
    if (auto valid = PluginHost::Check(*plan.plugin, options.sink, issues)) {
      plan.sink_options = std::move(*valid);
      plan.prefix = ParsePrefix(options, plan.sink_options, "prefix", PrefixTemplate::Kind::kPrefix,
                                query_keys, issues);
      plan.error_prefix = ParsePrefix(options, plan.sink_options, "error_prefix",
                                      PrefixTemplate::Kind::kErrorPrefix, query_keys, issues);
    }
    if (auto policy = ResolvePolicy(options, plan.plugin->policy(), issues)) {
      plan.policy = std::move(*policy);
    }
  }
  if (options.transform.kind == TransformOptions::Kind::kPlugin) {
    auto t = host->Load(options.transform.plugin);
    if (!t.ok()) {
      issue("transform.plugin", t.status().message());
    } else if (!(*t)->transform()) {
      issue("transform.plugin", options.transform.plugin + " is not a transform plugin");
    } else {
      plan.transform_plugin = *t;
      // transform.options, checked as a sink section is (unknown keys, types, required keys,
      // secrets), with the plugin's defaults for what it leaves out.
      SinkSection section;
      section.type = options.transform.plugin;
      section.options = options.transform.options;
      section.path = options.path + ".transform.options";
      section.mark = options.MarkOf(options.transform.options.empty() ? "transform.plugin"
                                                                      : "transform.options");
      size_t first = issues->size();
      if (auto valid = PluginHost::Check(**t, section, issues)) {
        plan.transform_options = std::move(*valid);
      }
      for (size_t i = first; i < issues->size(); ++i) {  // the host says "sink type"
        std::string& m = (*issues)[i].message;
        if (size_t at = m.find("for sink type "); at != std::string::npos) {
          m.replace(at, 14, "for transform plugin ");
        }
      }
    }
  } else if (!options.transform.options.empty()) {
    issue("transform.options", "only a plugin transform takes options");
  }
  if (options.transform.kind == TransformOptions::Kind::kLua) {
    // The script loads, runs its top level and defines the function, as each worker's will.
    const LuaTransformOptions& lua = options.transform.lua;
    auto f = LuaRecordFunction::Create(LuaTransform::ToLuaOptions(lua));
    if (!f.ok()) {
      issue(lua.script.empty() ? "transform.lua.code" : "transform.lua.script",
            f.status().message());
    }
  }
  if (options.backup_sink) {
    const SinkSection& section = *options.backup_sink;
    plan.backup_all = options.backup_mode == "all";
    plan.backup_plugin = LoadSink(section, host, issues);
    if (plan.backup_plugin != nullptr && !plan.backup_plugin->object_sink()) {
      issues->push_back({section.mark, section.path + ".type",
                         "the backup sink must be an object sink (file, s3, ...), as Firehose "
                         "backs up to S3"});
    } else if (plan.backup_plugin != nullptr) {
      plan.backup_options = PluginHost::Check(*plan.backup_plugin, section, issues);
      if (plan.backup_options) {
        // The backup copy is written unpartitioned: its prefix can name no partition key.
        auto bp = PrefixTemplate::Parse(OptionValue(*plan.backup_options, "prefix"),
                                        PrefixTemplate::Kind::kPrefix);
        Status st = bp.ok() ? bp->CheckKeys({}, false) : bp.status();
        if (st.ok()) {
          plan.backup_prefix = std::move(*bp);
        } else {
          issues->push_back(
              {OptionMark(section, "prefix"), section.path + ".prefix", st.message()});
        }
      }
    }
  }
  if (!options.encryption_keyring.empty()) {
    auto keyring = Keyring::Load(options.encryption_keyring);
    Status st = keyring.ok() ? Encryptor::Create(*keyring, options.encryption_key_id).status()
                             : keyring.status();
    if (st.ok()) {
      plan.keyring = std::move(*keyring);
    } else {
      issue("encryption.keyring", st.message());
    }
  }
  if (issues->size() != before) return std::nullopt;
  return plan;
}

}  // namespace sluice::buffer
