// Daemon::Reload: re-reads the config, validates it, and replaces what changed (see daemon.h).
// Entries are compared by their parsed form (as JSON text), so comments and formatting do
// not count as changes.

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "agent/config/yaml_adapter.h"
#include "agent/daemon_firehose.h"
#include "agent/daemon_state.h"
#include "agent/embedded_config.h"
#include "core/log.h"

namespace sluice::agent {
namespace {

constexpr char kEmbedded[] = "<embedded sluice.yaml>";
constexpr const char* kGlobalKeys[] = {"data_dir", "plugin_dirs", "admin", "broker"};

// Runs `fn` on a later loop iteration: lets a Stop callback return before its object dies.
void Defer(uv_loop_t* loop, std::function<void()> fn) {
  struct Deferred {
    uv_timer_t timer{};
    std::function<void()> fn;
  };
  auto* d = new Deferred{{}, std::move(fn)};
  uv_timer_init(loop, &d->timer);
  d->timer.data = d;
  uv_timer_start(
      &d->timer,
      [](uv_timer_t* t) {
        auto* d = static_cast<Deferred*>(t->data);
        std::function<void()> fn = std::move(d->fn);
        uv_close(reinterpret_cast<uv_handle_t*>(t),
                 [](uv_handle_t* h) { delete static_cast<Deferred*>(h->data); });
        fn();
      },
      0, 0);
}

std::string JsonList(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    out += (i ? ",\"" : "\"") + JsonEscape(items[i]) + "\"";
  }
  return out + "]";
}

// The keyring a reloaded config names, read by the loader.
struct BrokerKeyring {
  std::string file;
  std::shared_ptr<const Keyring> keyring;
};

// Hands the broker the keyring the reloaded config read (unless it holds the same keys) and
// records it in `next`; on refusal `next` keeps the running one.
Status SetKeyring(Daemon::State& s, const BrokerKeyring& keyring, config::Config* next) {
  const std::shared_ptr<const Keyring>& now = s.config.broker.keyring;
  // The same keys (ids and bytes, in order): nothing to do.
  auto same = [](const Keyring* a, const Keyring* b) {
    if (a == nullptr || b == nullptr) return a == b;
    if (a->keys().size() != b->keys().size()) return false;
    for (size_t i = 0; i < a->keys().size(); ++i) {
      if (a->keys()[i].id != b->keys()[i].id || a->keys()[i].bytes != b->keys()[i].bytes) {
        return false;
      }
    }
    return true;
  };
  if (!same(now.get(), keyring.keyring.get())) {
    RETURN_IF_ERROR(s.broker->SetKeyring(keyring.keyring).Annotate("broker.encryption.keyring"));
    SLUICE_LOG(Info, "reload: keyring applied")
        .With("keyring", keyring.file.empty() ? std::string("none") : keyring.file)
        .With("primary", keyring.keyring ? keyring.keyring->keys().back().id : std::string());
  }
  next->broker.keyring_file = keyring.file;
  next->broker.keyring = keyring.keyring;
  return Status::Ok();
}

}  // namespace

Result<std::string> ConfigText(const config::Config& config) {
  if (config.source_file == kEmbedded) return std::string(EmbeddedDefaultConfig());
  std::ifstream in(config.source_file, std::ios::binary);
  if (!in) return NotFound("cannot read " + config.source_file);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void AddPluginStamps(const std::vector<buffer::DeliveryOptions>& deliveries,
                     const buffer::PluginHost& host, std::map<std::string, std::string>* fps) {
  for (const buffer::DeliveryOptions& d : deliveries) {
    auto it = fps->find("delivery/" + d.name);
    if (it == fps->end()) continue;
    auto stamp = [&](const std::string& type) {
      it->second += "\nplugin " + type + " " + host.FileStamp(type);
    };
    stamp(d.sink.type);
    if (d.backup_sink) stamp(d.backup_sink->type);
    if (d.transform.kind == buffer::TransformOptions::Kind::kPlugin) stamp(d.transform.plugin);
    if (d.transform.kind == buffer::TransformOptions::Kind::kLua) {
      it->second += "\nlua " + buffer::LuaTransform::ScriptStamp(d.transform.lua);
    }
  }
}

Result<std::map<std::string, std::string>> ConfigFingerprints(std::string_view yaml_text) {
  std::map<std::string, std::string> out;
  config::ErrorList errors;
  config::Node root = config::ParseYaml(yaml_text, &errors);
  if (!errors.empty()) return InvalidArgument(errors.Format("config"));
  if (!root.is_map()) return out;
  auto find = [](const config::Node& map, std::string_view key) -> const config::Node* {
    for (const config::MapEntry& e : map.entries) {
      if (e.key.text == key) return &e.value;
    }
    return nullptr;
  };
  for (const char* key : kGlobalKeys) {
    if (const config::Node* v = find(root, key)) {
      config::Node node = *v;
      // broker.encryption (the keyring) applies at a reload, unlike the rest of broker.
      if (std::string_view(key) == "broker") {
        std::erase_if(node.entries,
                      [](const config::MapEntry& e) { return e.key.text == "encryption"; });
      }
      out[std::string("global/") + key] = config::ToJsonText(node);
    }
  }
  for (auto [section, kind] : {std::pair{"streams", "stream/"}, std::pair{"sources", "source/"},
                               std::pair{"deliveries", "delivery/"}}) {
    const config::Node* list = find(root, section);
    if (list == nullptr || !list->is_sequence()) continue;
    for (const config::Node& item : list->items) {
      const config::Node* name = item.is_map() ? find(item, "name") : nullptr;
      if (name == nullptr || !name->is_scalar()) continue;
      out[kind + name->text] = config::ToJsonText(item);
    }
  }
  return out;
}

void Daemon::Reload(std::function<void(ReloadReply)> done) {
  State& s = *s_;
  if (s.stopping) {
    done({503, "{\"ok\":false,\"errors\":[\"the daemon is stopping\"]}\n"});
    return;
  }
  if (s.reloading) {
    SLUICE_LOG(Warn, "reload ignored: a reload is already in progress");
    done({409, "{\"ok\":false,\"errors\":[\"a reload is already in progress\"]}\n"});
    return;
  }
  auto reject = [&](const Status& st) {
    s.reload_rejected = st.message();
    s.reload_rejected_ms = Clock::Real()->NowMs();
    SLUICE_LOG(Error, "reload rejected; the running configuration is kept")
        .With("config", s.config.source_file)
        .With("errors", st.message());
    done({400, "{\"ok\":false,\"errors\":[\"" + JsonEscape(st.message()) + "\"]}\n"});
  };
  Result<config::Config> next =
      s.config.source_file == kEmbedded
          ? config::LoadConfigText(EmbeddedDefaultConfig(), kEmbedded, CheckDeliveries)
          : config::LoadConfigFile(s.config.source_file, CheckDeliveries);
  if (!next.ok()) return reject(next.status());
  auto text = ConfigText(*next);
  if (!text.ok()) return reject(text.status());
  auto fingerprints = ConfigFingerprints(*text);
  if (!fingerprints.ok()) return reject(fingerprints.status());
  AddPluginStamps(next->deliveries, *s.plugins, &*fingerprints);

  std::string notes;
  for (const char* key : kGlobalKeys) {
    std::string k = std::string("global/") + key;
    auto a = s.fingerprints.find(k);
    auto b = fingerprints->find(k);
    bool same = (a == s.fingerprints.end() && b == fingerprints->end()) ||
                (a != s.fingerprints.end() && b != fingerprints->end() && a->second == b->second);
    if (!same) notes += std::string(notes.empty() ? "" : ",") + "\"" + key;
    if (!same) notes += " changed: takes effect at the next restart\"";
  }
  if (!notes.empty()) {
    SLUICE_LOG(Warn, "reload: some settings need a restart").With("settings", notes);
  }
  s.reload_waiters.push_back(std::move(done));
  ApplyReload(std::move(*next), std::move(*fingerprints), std::move(notes));
}

void Daemon::ApplyReload(config::Config next, std::map<std::string, std::string> fingerprints,
                         std::string notes) {
  State& s = *s_;
  s.reloading = true;
  NotifySystemd("RELOADING=1");
  auto changed = [&](const std::string& key) {
    auto a = s.fingerprints.find(key);
    auto b = fingerprints.find(key);
    if (b == fingerprints.end()) return a != s.fingerprints.end();  // removed
    return a == s.fingerprints.end() || a->second != b->second;     // added or changed
  };
  std::vector<std::string> added, removed, changed_names, errors;
  auto classify = [&](const std::string& key) {
    bool was = s.fingerprints.count(key) > 0, is = fingerprints.count(key) > 0;
    if (!was && is) added.push_back(key);
    if (was && !is) removed.push_back(key);
    if (was && is) changed_names.push_back(key);
  };
  // Keep what needs a restart as it runs; the keyring, read again by the loader, is applied
  // below.
  BrokerKeyring keyring{next.broker.keyring_file, next.broker.keyring};
  // The admin token, read again from its file by the loader: a token rotated in place takes
  // effect now. Adding or removing auth changes which requests need it (and which addresses may
  // listen), so that waits for a restart (the "admin changed" note says so).
  if (s.admin && !s.config.admin.token.empty() && !next.admin.token.empty() &&
      next.admin.token_file == s.config.admin.token_file &&
      next.admin.token != s.config.admin.token) {
    s.admin->SetToken(next.admin.token);
    s.config.admin.token = next.admin.token;
    SLUICE_LOG(Info, "reload: admin token read again").With("file", s.config.admin.token_file);
  }
  next.data_dir = s.config.data_dir;
  next.plugin_dirs = s.config.plugin_dirs;
  next.admin = s.config.admin;
  next.broker = s.config.broker;
  log::SetLevel(next.log.level);

  // 0. The listeners' certificates, read again from the files they were started with (renewed
  // certificates are put in place and a reload makes new connections use them).
  for (const auto& [tls, where] :
       {std::pair{s.api_tls.get(), "broker.api.tls"}, std::pair{s.admin_tls.get(), "admin.tls"}}) {
    if (tls == nullptr) continue;
    if (Status st = tls->Reload(); !st.ok()) {
      errors.push_back(st.message() + " (the certificate in use stays)");
    } else {
      SLUICE_LOG(Info, "reload: certificate read again")
          .With("listener", where)
          .With("subject", tls->subject());
    }
  }

  // 1. The keyring first, so that the streams may name a key just added. The broker refuses one
  // that lacks a key an encrypted stream names; when the streams' new entries move them off such
  // a key, it is tried again after them.
  Status keyring_set = SetKeyring(s, keyring, &next);

  // 2. Streams: create the new ones, apply shard count, retention and encryption to changed ones.
  for (const broker::StreamOptions& so : next.streams) {
    std::string key = "stream/" + so.name;
    if (!changed(key)) continue;
    classify(key);
    Status st = EnsureStream(s, so, next.SetsEncryption(so.name));
    if (!st.ok()) errors.push_back(st.message());
  }
  if (!keyring_set.ok()) keyring_set = SetKeyring(s, keyring, &next);
  if (!keyring_set.ok()) errors.push_back(keyring_set.message() + " (the keyring in use stays)");
  for (const auto& [key, text] : s.fingerprints) {
    if (key.rfind("stream/", 0) == 0 && !fingerprints.count(key)) {
      classify(key);
      SLUICE_LOG(Info, "reload: stream no longer configured; its data is kept")
          .With("stream", key.substr(7));
    }
  }

  // 3. Retire the removed and changed flows and deliveries (out of the running set, so a stop
  // signal meanwhile does not stop them twice).
  auto retiring_flows = std::make_shared<std::vector<std::unique_ptr<Source>>>();
  auto retiring_deliveries =
      std::make_shared<std::vector<std::unique_ptr<buffer::DeliveryStream>>>();
  for (auto it = s.flows.begin(); it != s.flows.end();) {
    std::string key = "source/" + (*it)->options().name;
    if (changed(key)) {
      classify(key);
      retiring_flows->push_back(std::move(*it));
      it = s.flows.erase(it);
    } else {
      ++it;
    }
  }
  // Changed deliveries stay running until their new version is created (in `finish`).
  for (auto it = s.deliveries.begin(); it != s.deliveries.end();) {
    std::string key = "delivery/" + (*it)->name();
    if (changed(key)) {
      classify(key);
      retiring_deliveries->push_back(std::move(*it));
      it = s.deliveries.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& f : next.sources) {
    if (!s.fingerprints.count("source/" + f.name)) classify("source/" + f.name);
  }
  for (const auto& d : next.deliveries) {
    if (!s.fingerprints.count("delivery/" + d.name)) classify("delivery/" + d.name);
  }

  // 4. Once the flows have put, synced and checkpointed: create the new and changed deliveries
  // (plugin instances included); stop the removed ones and the old versions of those created
  // (flush, checkpoint); start the created ones, then the new flows. A changed delivery whose
  // new version cannot be created runs on as it was, never stopped.
  auto pending = std::make_shared<int>(1);
  auto finish = [this, retiring_flows, retiring_deliveries, next = std::move(next),
                 fingerprints = std::move(fingerprints), notes = std::move(notes), added, removed,
                 changed_names, errors]() mutable {
    State& s = *s_;
    retiring_flows->clear();
    if (s.stopping) {
      StopDeliveries(retiring_deliveries.get());
      s.reloading = false;
      for (auto& w : s.reload_waiters) w({503, "{\"ok\":false,\"errors\":[\"stopped\"]}\n"});
      s.reload_waiters.clear();
      return;
    }
    std::map<std::string, std::string> old = std::move(s.fingerprints);
    std::vector<buffer::DeliveryOptions> old_deliveries = s.config.deliveries;
    s.config = std::move(next);
    s.fingerprints = std::move(fingerprints);
    auto was_changed = [&](const std::string& key) {
      auto a = old.find(key);
      auto b = s.fingerprints.find(key);
      return b != s.fingerprints.end() && (a == old.end() || a->second != b->second);
    };
    std::vector<std::unique_ptr<buffer::DeliveryStream>> created;
    for (buffer::DeliveryOptions& d : s.config.deliveries) {
      std::string key = "delivery/" + d.name;
      if (!was_changed(key)) {
        // Its configuration is the one running: a kept-previous note no longer applies.
        s.kept_previous.erase(d.name);
        if (!s.not_running.count(d.name)) continue;  // failed before: try again
      }
      auto old_it = std::find_if(retiring_deliveries->begin(), retiring_deliveries->end(),
                                 [&](const auto& o) { return o->name() == d.name; });
      if (s.firehose && s.firehose->RunsDelivery(d.name)) {
        // One consumer per name: the API's delivery stream keeps it until deleted.
        std::string why = "delivery " + d.name +
                          " exists as a delivery stream created through the Firehose API; delete "
                          "it there (DeleteDeliveryStream) before configuring it";
        errors.push_back(why);
        s.not_running[d.name] = why;
        continue;
      }
      Result<std::unique_ptr<buffer::DeliveryStream>> ds = CreateDelivery(s, d);
      if (ds.ok()) {
        created.push_back(std::move(*ds));
        s.not_running.erase(d.name);
        s.kept_previous.erase(d.name);
        continue;
      }
      errors.push_back(ds.status().message());
      auto prev = std::find_if(old_deliveries.begin(), old_deliveries.end(),
                               [&](const buffer::DeliveryOptions& o) { return o.name == d.name; });
      if (old_it != retiring_deliveries->end() && prev != old_deliveries.end()) {
        // The old version was never stopped: it runs on, and the configuration says so.
        s.deliveries.push_back(std::move(*old_it));
        retiring_deliveries->erase(old_it);
        d = *prev;
        s.fingerprints[key] = old[key];
        s.kept_previous[d.name] = ds.status().message();
        notes += std::string(notes.empty() ? "" : ",") + "\"delivery " + JsonEscape(d.name) +
                 " kept its previous configuration\"";
        SLUICE_LOG(Warn, "reload: delivery kept its previous configuration")
            .With("delivery", d.name)
            .With("error", ds.status().message());
      } else {
        s.not_running[d.name] = ds.status().message();
      }
    }
    // The removed deliveries and the old versions of the created ones stop (one shared grace);
    // then the new versions start reading where the old ones checkpointed.
    StopDeliveries(retiring_deliveries.get());
    for (auto& ds : created) {
      std::string name = ds->name();
      Status st = ds->Start().Annotate("delivery " + name);
      if (st.ok()) {
        s.deliveries.push_back(std::move(ds));
      } else {
        errors.push_back(st.message());
        s.not_running[name] = st.message();
      }
    }
    for (auto it = s.not_running.begin(); it != s.not_running.end();) {
      bool configured =
          std::any_of(s.config.deliveries.begin(), s.config.deliveries.end(),
                      [&](const buffer::DeliveryOptions& o) { return o.name == it->first; });
      it = configured ? std::next(it) : s.not_running.erase(it);
    }
    for (const FlowOptions& f : s.config.sources) {
      if (!was_changed("source/" + f.name)) continue;
      if (Status st = StartFlow(s, f); !st.ok()) errors.push_back(st.message());
    }
    ++s.config_generation;
    s.last_reload_ms = Clock::Real()->NowMs();
    s.reload_rejected.clear();
    s.reload_rejected_ms = 0;
    s.reloading = false;
    NotifySystemd("READY=1\nSTATUS=running");
    std::string body = std::string("{\"ok\":") + (errors.empty() ? "true" : "false") +
                       ",\"generation\":" + std::to_string(s.config_generation) +
                       ",\"added\":" + JsonList(added) + ",\"removed\":" + JsonList(removed) +
                       ",\"changed\":" + JsonList(changed_names) +
                       ",\"errors\":" + JsonList(errors) + ",\"notes\":[" + notes + "]}\n";
    auto names = [](const std::vector<std::string>& v) {
      std::string out;
      for (const std::string& n : v) out += (out.empty() ? "" : ",") + n;
      return out;
    };
    SLUICE_LOG(Info, "configuration reloaded")
        .With("generation", s.config_generation)
        .With("added", names(added))
        .With("removed", names(removed))
        .With("changed", names(changed_names));
    for (const std::string& e : errors)
      SLUICE_LOG(Error, "reload: could not start").With("error", e);
    for (auto& w : s.reload_waiters) w({errors.empty() ? 200 : 500, body});
    s.reload_waiters.clear();
  };
  auto finish_shared = std::make_shared<decltype(finish)>(std::move(finish));
  auto one_done = [this, pending, finish_shared] {
    if (--*pending == 0) Defer(&s_->loop, [finish_shared] { (*finish_shared)(); });
  };
  for (auto& f : *retiring_flows) {
    ++*pending;
    f->Stop(one_done);
  }
  one_done();
}

}  // namespace sluice::agent
