// The daemon's configuration: one YAML file loaded into typed structs.
//
// LoadConfigFile / LoadConfigText parse, substitute ${VAR} and ${VAR:-default} references, check
// every key against the schema (schema.h: type, default, range, doc of each key) and fill a Config.
// On failure the Status (kInvalidArgument) lists ALL errors, one per line, each
// `file:line:col: key.path: message`, e.g.
//   sluice.yaml:14:7: deliveries[0].buffer.interval: "90x" is not a duration
// Secret values never appear in messages.
//
// Relative paths (data_dir, plugin_dirs, errors.path, sources[].paths, ...) are kept exactly as
// written: they are resolved against the daemon's working directory when used.
//
// THREADING: the loaders are pure apart from reading the environment and secret files; call them
// from one thread while nothing modifies the environment. Config is plain data, owned by value.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/tail/flow_options.h"
#include "broker/broker.h"
#include "buffer/delivery_options.h"
#include "core/access_policy.h"
#include "core/log.h"
#include "core/status.h"

namespace sluice::config {

// "host:port"; IPv6 hosts in brackets: "[::1]:4567". Port 0 asks for any free port.
struct ListenAddress {
  std::string host;
  int port = 0;
  std::string text;  // as written
};

struct LogOptions {
  log::Level level = log::Level::kInfo;
  log::Format format = log::Format::kLogfmt;
};

// `tls:` of a listener (the API, the admin endpoint): PEM files, read at start and on reload.
struct TlsListenerOptions {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;  // set: clients must present a certificate signed by it
};

// What a listener lets one client hold (core/http/http_server.h): connections past
// `max_connections` are closed at once; a connection silent for `idle_timeout`, or taking longer
// than `request_timeout` to deliver one request, is closed.
struct ListenerLimits {
  std::chrono::milliseconds idle_timeout{120 * 1000};
  std::chrono::milliseconds request_timeout{30 * 1000};
  int max_connections = 2048;
};

struct AdminOptions {
  ListenAddress listen{"127.0.0.1", 4195, "127.0.0.1:4195"};
  ListenerLimits limits;
  std::optional<TlsListenerOptions> tls;  // unset: plaintext
  // admin.auth.token_file: the bearer token (read at load time; never log it), and its file.
  std::string token;
  std::string token_file;
  bool allow_plaintext = false;  // a non-loopback address without TLS, said explicitly
  std::string socket;            // admin.socket: a Unix socket path; empty: none
};

// One credential the Kinesis API accepts (SigV4). The secret is resolved at load time from the
// file, the environment or a file it names; never log it.
struct ApiCredential {
  std::string access_key_id;
  std::string secret_access_key;
  // policy: / policy_document:, built at load time; null: the credential may do everything.
  std::shared_ptr<const AccessPolicy> policy;
  // session_token(_file): temporary credentials (requests carry x-amz-security-token); secret.
  std::string session_token;
};

struct ApiOptions {
  std::optional<ListenAddress> listen;    // unset: the API server is off
  std::vector<ApiCredential> auth;        // empty: no authentication (loopback only)
  std::optional<TlsListenerOptions> tls;  // unset: plaintext (loopback, or allow_plaintext)
  bool allow_plaintext = false;           // a non-loopback address without TLS, said explicitly
  // broker.api.audit: a JSON line per call under <data_dir>/audit (broker/api/audit_log.h).
  bool audit = true;
  uint64_t audit_max_size = 64ull << 20;
  int audit_keep = 5;
  uint64_t max_body_size = 16u << 20;
  ListenerLimits limits;
  int workers = 0;  // threads for the calls that put records; 0: on the event loop
};

struct BrokerSection {
  ApiOptions api;
  uint64_t disk_quota = 0;  // bytes; 0: no quota
  std::chrono::milliseconds iterator_ttl{5 * 60 * 1000};
  uint64_t segment_size = 64ull << 20;  // bytes; a shard's segment rolls past this
  // broker.encryption.keyring: the master keys of encrypted streams, read when the config loads
  // (so a reload reads the file again); null when the key is absent.
  std::string keyring_file;
  std::shared_ptr<const Keyring> keyring;
};

// `firehose_api:`: what a delivery stream created through the Firehose API cannot take from the
// request (endpoints, regions, credentials), by sink type: each sink's own options, applied under
// the request's (request values win). Raw until the plugin host checks them.
struct FirehoseApiSection {
  std::vector<std::pair<std::string, std::vector<buffer::SinkOption>>> sinks;  // type -> options
  // The options of sink `type`; null when the section does not name it.
  const std::vector<buffer::SinkOption>* Of(std::string_view type) const {
    for (const auto& [t, options] : sinks) {
      if (t == type) return &options;
    }
    return nullptr;
  }
};

struct Config {
  std::string source_file;  // the file name given to the loader
  std::string data_dir;
  std::vector<std::string> plugin_dirs;
  LogOptions log;
  AdminOptions admin;
  BrokerSection broker;
  std::vector<broker::StreamOptions> streams;
  // The streams[] entries with an `encryption` section. Only those set their stream's
  // encryption; without one a stream keeps what it has (Start/StopStreamEncryption through the
  // API).
  std::vector<std::string> streams_setting_encryption;
  std::vector<agent::FlowOptions> sources;
  std::vector<buffer::DeliveryOptions> deliveries;
  FirehoseApiSection firehose_api;

  // Whether the entry of `stream` has an encryption section (streams_setting_encryption).
  bool SetsEncryption(std::string_view stream) const {
    for (const std::string& s : streams_setting_encryption) {
      if (s == stream) return true;
    }
    return false;
  }
};

// Checks made on the loaded configuration beyond the schema (the daemon's: plugin options, policy
// ranges, prefixes). It runs even when the schema found errors, on what did load, so one round
// of `sluice check` reports both; it adds its problems with their positions.
class ErrorList;
using ExtraCheck = std::function<void(const Config& config, ErrorList* errors)>;

// Reads and loads `path`. Refuses a file that holds a secret inline (a key named like
// secret/token/password/access_key with a literal value) when others may read it (mode & 0004).
Result<Config> LoadConfigFile(const std::string& path, const ExtraCheck& extra = nullptr);

// Loads YAML text; `file_name` is used in messages and as Config::source_file.
Result<Config> LoadConfigText(std::string_view text, std::string_view file_name,
                              const ExtraCheck& extra = nullptr);

// The broker options this config asks for (data_dir, disk quota, iterator TTL, keyring, real
// clock).
broker::BrokerOptions BrokerOptionsOf(const Config& config);

// The configuration reference as Markdown tables, generated from the schema; docs/configuration.md
// holds a copy between `<!-- BEGIN REFERENCE -->` and `<!-- END REFERENCE -->`.
std::string RenderReferenceMarkdown();

}  // namespace sluice::config
