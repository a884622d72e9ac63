// The schema of sluice.yaml: every key, its type, default, range and doc. This file holds the
// top level, log, admin, broker and streams; schema_sources.cc and schema_deliveries.cc hold the
// rest. docs/configuration.md is generated from these tables (a test keeps them in step).
#include <string>

#include "agent/config/checks.h"
#include "agent/config/schema_internal.h"
#include "agent/config/secrets.h"
#include "core/http/tls_server.h"
#include "core/loopback.h"

// The tables use designated initializers and leave defaulted members out on purpose; GCC 12
// warns about that even though every member has a default member initializer.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace sluice::config {
namespace {

Status AddSecret(LoadContext& c, std::string value) {
  if (++c.credential_secrets == 1) c.credential->secret_access_key = std::move(value);
  return Status::Ok();
}

// ---- log, admin, broker ----------------------------------------------------------------------

constexpr Field kLogFields[] = {
    {.key = "level",
     .type = Type::kEnum,
     .default_text = "info",
     .choices = "debug|info|warn|error",
     .doc = "Least severe level written to stderr.",
     .set = SET(log::ParseLevel(v.text, &c.config->log.level))},
    {.key = "format",
     .type = Type::kEnum,
     .default_text = "logfmt",
     .choices = "logfmt|json",
     .doc = "Log line format: logfmt or JSON lines.",
     .set =
         SET(c.config->log.format = v.text == "json" ? log::Format::kJson : log::Format::kLogfmt)},
};
constexpr Section kLogSection{kLogFields};

constexpr Field kTlsFields[] = {
    {.key = "cert_file",
     .required = true,
     .doc = "PEM file: the listener's certificate, then any intermediate certificates. Read "
            "again on SIGHUP and POST /reload (open connections keep theirs).",
     .set = SET(c.tls->cert_file = v.text)},
    {.key = "key_file",
     .required = true,
     .doc = "PEM file: the certificate's private key (must not be readable by others).",
     .set = SET(c.tls->key_file = v.text)},
    {.key = "client_ca_file",
     .doc = "PEM CA bundle; when set, clients must present a certificate it signed (mutual TLS).",
     .set = SET(c.tls->client_ca_file = v.text)},
};
// Loads the files now, so that `sluice check` reports a missing file, a key others can read or
// a key that does not match its certificate.
Status CheckTlsFiles(const TlsListenerOptions& t, const char* where) {
  auto ctx = http::TlsServerContext::Load({t.cert_file, t.key_file, t.client_ca_file}, where);
  if (ctx.ok()) return Status::Ok();
  // The loader names the section itself; the refusal is prefixed with it already.
  std::string why = ctx.status().message();
  const std::string w(where);
  if (why.rfind(w + ".", 0) == 0) why.erase(0, w.size() + 1);
  if (why.rfind(w + ": ", 0) == 0) why.erase(0, w.size() + 2);
  return Refuse(why);
}
constexpr Section kApiTlsSection {
  kTlsFields, HOOK(c.tls = &c.config->broker.api.tls.emplace();),
      HOOK(return CheckTlsFiles(*c.config->broker.api.tls, "broker.api.tls");)
};
constexpr Section kAdminTlsSection {
  kTlsFields, HOOK(c.tls = &c.config->admin.tls.emplace();),
      HOOK(return CheckTlsFiles(*c.config->admin.tls, "admin.tls");)
};

constexpr Field kAdminAuthFields[] = {
    {.key = "token_file",
     .required = true,
     .doc = "File holding the bearer token (at least 16 characters; trailing newline ignored; not "
            "readable by others). POST /reload and POST /api need `Authorization: Bearer "
            "<token>`; on a non-loopback address every path but /health does.",
     .set = SET(auto token = SecretFromFile(std::string(v.text));
                if (!token.ok()) return Refuse(token.status().message());
                if (token->size() < 16) return Refuse(
                    "the token in " + std::string(v.text) +
                    " is shorter than 16 characters; make a long random one (openssl rand -hex "
                    "32)");
                c.config->admin.token = std::move(*token);
                c.config->admin.token_file = std::string(v.text);)},
};
constexpr Section kAdminAuthSection{kAdminAuthFields};

constexpr Field kAdminFields[] = {
    {.key = "listen",
     .default_text = "127.0.0.1:4195",
     .doc = "Admin HTTP endpoint (/health, /metrics, /status, /reload, /api): host:port. A "
            "non-loopback address needs auth, and tls or allow_plaintext.",
     .set = SET(return ParseListen(v.text, &c.config->admin.listen);)},
    {.key = "socket",
     .doc = "Also serve the admin endpoint on this Unix socket (created owner-only): peers "
            "running as the daemon's user or root may reload and use /api there without the "
            "token; `sluice status`, `streams`, `cat` and `reload` -c FILE use it when set.",
     .set =
         SET(c.config->admin.socket = std::string(v.text);
             if (v.text.size() >= 108) return Refuse("\"" + std::string(v.text) +
                                                     "\" is longer than a Unix socket path may be "
                                                     "(107 bytes)");)},
    {.key = "auth",
     .type = Type::kObject,
     .doc = "Bearer-token authentication of the admin endpoint: token_file.",
     .section = &kAdminAuthSection},
    {.key = "allow_plaintext",
     .type = Type::kBool,
     .default_text = "false",
     .doc = "Allow a non-loopback admin address without tls: the token and the API's records "
            "cross the network in clear.",
     .set = SET(c.config->admin.allow_plaintext = v.boolean)},
    {.key = "tls",
     .type = Type::kObject,
     .doc = "Serve the admin endpoint over TLS (https://): cert_file, key_file, client_ca_file.",
     .section = &kAdminTlsSection},
    {.key = "max_connections",
     .type = Type::kInt,
     .default_text = "2048",
     .min = 1,
     .max = 65536,
     .doc = "Connections the admin endpoint holds at once; more are closed as soon as they are "
            "accepted. Each costs a file descriptor and, idle, 1-14 KiB.",
     .set = SET(c.config->admin.limits.max_connections = int(v.integer))},
    {.key = "idle_timeout",
     .type = Type::kDuration,
     .default_text = "2m",
     .min = 100,
     .max = kDay,
     .doc = "A connection on which nothing moves this long is closed: no request bytes come and "
            "the peer takes no answer bytes (over HTTP/2 only streams' frames count, not PINGs "
            "or SETTINGS).",
     .set = SET(c.config->admin.limits.idle_timeout = v.duration)},
    {.key = "request_timeout",
     .type = Type::kDuration,
     .default_text = "30s",
     .min = 100,
     .max = kHour,
     .doc = "Longest time from a request's first byte to its last (head and body); a slower "
            "request is answered 408 (HTTP/1.1) and its connection closed.",
     .set = SET(c.config->admin.limits.request_timeout = v.duration)},
};
constexpr Section kAdminSection {
  kAdminFields, nullptr,
      HOOK(
          const AdminOptions& a = c.config->admin;
          if (!IsLoopbackHost(a.listen.host) && a.token.empty()) return Refuse(
              "\"" + a.listen.text +
              "\" is not a loopback address; the admin endpoint serves /reload and the Kinesis API "
              "(/api): give auth (token_file) to listen on other interfaces");
          if (!IsLoopbackHost(a.listen.host) && !a.tls && !a.allow_plaintext) return Refuse(
              "\"" + a.listen.text +
              "\" is not a loopback address; give tls (cert_file, key_file) so that the token does "
              "not cross the network in clear, or set allow_plaintext: true");)
};

constexpr Field kPolicyFields[] = {
    {.key = "allow",
     .type = Type::kStringList,
     .required = true,
     .doc = "Actions the credential may take: kinesis:PutRecords, kinesis:Get*, firehose:*, ... "
            "(* and ? wildcards, case-insensitive).",
     .set = SET(c.policy_allow = v.list)},
    {.key = "deny",
     .type = Type::kStringList,
     .doc = "Actions it may not take, even where allow matches (an explicit deny wins).",
     .set = SET(c.policy_deny = v.list)},
    {.key = "resources",
     .type = Type::kStringList,
     .doc = "Streams and delivery streams allow and deny apply to: names or ARNs, with wildcards; "
            "unset: all. Calls on no stream (ListStreams, ListDeliveryStreams) are checked by "
            "their action alone.",
     .set = SET(c.policy_resources = v.list)},
};
constexpr Section kPolicySection {
  kPolicyFields,
      HOOK(c.policy_allow.clear(); c.policy_deny.clear(); c.policy_resources.clear();
           c.policy_short = true),
      HOOK(auto p = AccessPolicy::FromLists(c.policy_allow, c.policy_deny, c.policy_resources);
           if (!p.ok()) return Refuse(p.status().message());
           c.credential->policy = std::make_shared<const AccessPolicy>(std::move(*p));)
};

constexpr Field kCredentialFields[] = {
    {.key = "access_key_id",
     .required = true,
     .doc = "Access key id clients sign with.",
     .set = SET(c.credential->access_key_id = v.text)},
    {.key = "secret_access_key",
     .doc = "The secret, inline (the file must not be world-readable).",
     .set = SET(return AddSecret(c, v.text);)},
    {.key = "secret_access_key_env",
     .doc = "Name of an environment variable holding the secret.",
     .set = SET(auto secret = SecretFromEnv(v.text); if (!secret.ok()) return secret.status();
                return AddSecret(c, std::move(*secret));)},
    {.key = "secret_access_key_file",
     .doc = "File holding the secret (trailing newline ignored; not world-readable).",
     .set = SET(auto secret = SecretFromFile(v.text); if (!secret.ok()) return secret.status();
                return AddSecret(c, std::move(*secret));)},
    {.key = "session_token_file",
     .doc = "File holding a session token (not world-readable): the credential is temporary, "
            "and its requests must carry it in x-amz-security-token, as AWS STS credentials do.",
     .set = SET(auto token = SecretFromFile(v.text); if (!token.ok()) return token.status();
                c.credential->session_token = std::move(*token);)},
    {.key = "policy",
     .type = Type::kObject,
     .doc = "What the credential may do: allow, deny, resources. Unset (and no "
            "policy_document): everything. A denied call gets AccessDeniedException.",
     .section = &kPolicySection},
    {.key = "policy_document",
     .doc = "An IAM JSON policy instead of policy (Effect, Action/NotAction, Resource/NotResource "
            "with ARNs; no Condition).",
     .set = SET(auto p = AccessPolicy::FromDocument(v.text);
                if (!p.ok()) return Refuse(p.status().message()); c.policy_document = true;
                c.credential->policy = std::make_shared<const AccessPolicy>(std::move(*p));)},
};
constexpr Section kCredentialSection {
  kCredentialFields,
      HOOK(c.config->broker.api.auth.emplace_back();
           c.credential = &c.config->broker.api.auth.back(); c.credential_secrets = 0;
           c.policy_short = c.policy_document = false),
      HOOK(if (c.credential_secrets != 1) return Refuse(
               "give exactly one of secret_access_key, "
               "secret_access_key_env, secret_access_key_file");
           if (c.policy_short &&
               c.policy_document) return Refuse("give one of policy and policy_document");)
};

constexpr Field kAuditFields[] = {
    {.key = "enabled",
     .type = Type::kBool,
     .default_text = "true",
     .doc = "Write every API call (denied and failed ones too) as a JSON line to "
            "<data_dir>/audit/audit.log: time, request id, source address, principal, action, "
            "resource, result. Never secrets or record data.",
     .set = SET(c.config->broker.api.audit = v.boolean)},
    {.key = "max_size",
     .type = Type::kSize,
     .default_text = "64MiB",
     .min = 4096,
     .max = 1ll << 40,
     .doc = "Size past which audit.log is rotated (to audit.log.1, .2, ...).",
     .set = SET(c.config->broker.api.audit_max_size = v.size)},
    {.key = "keep",
     .type = Type::kInt,
     .default_text = "5",
     .min = 1,
     .max = 1000,
     .doc = "Rotated audit files kept.",
     .set = SET(c.config->broker.api.audit_keep = int(v.integer))},
};
constexpr Section kAuditSection{kAuditFields};

constexpr Field kApiFields[] = {
    {.key = "listen",
     .doc = "Kinesis-compatible API address, host:port; omit to turn the API off. Without auth it "
            "must be a loopback address.",
     .set = SET(ListenAddress a; Status e = ParseListen(v.text, &a); if (!e.ok()) return e;
                c.config->broker.api.listen = a)},
    {.key = "auth",
     .type = Type::kObjectList,
     .doc = "Credentials whose SigV4 signatures are accepted; empty: no authentication.",
     .section = &kCredentialSection},
    {.key = "tls",
     .type = Type::kObject,
     .doc = "Serve the API over TLS (https://, ALPN h2 and http/1.1, TLS 1.2 or later): "
            "cert_file, key_file, client_ca_file.",
     .section = &kApiTlsSection},
    {.key = "allow_plaintext",
     .type = Type::kBool,
     .default_text = "false",
     .doc = "Allow a non-loopback listen address without tls: records and signed requests cross "
            "the network in clear.",
     .set = SET(c.config->broker.api.allow_plaintext = v.boolean)},
    {.key = "audit",
     .type = Type::kObject,
     .doc = "The audit log of API calls (and of the admin endpoint's /api): enabled, max_size, "
            "keep.",
     .section = &kAuditSection},
    {.key = "max_body_size",
     .type = Type::kSize,
     .default_text = "16MiB",
     .min = kMiB,
     .max = kGiB,
     .doc = "Largest request body accepted (larger: HTTP 413).",
     .set = SET(c.config->broker.api.max_body_size = v.size)},
    {.key = "max_connections",
     .type = Type::kInt,
     .default_text = "2048",
     .min = 1,
     .max = 65536,
     .doc = "Connections the API holds at once; more are closed as soon as they are accepted. "
            "Each costs a file descriptor and, idle, 1-14 KiB.",
     .set = SET(c.config->broker.api.limits.max_connections = int(v.integer))},
    {.key = "idle_timeout",
     .type = Type::kDuration,
     .default_text = "2m",
     .min = 100,
     .max = kDay,
     .doc = "A connection on which nothing moves this long is closed: no request bytes come and "
            "the peer takes no answer bytes (over HTTP/2 only streams' frames count, not PINGs "
            "or SETTINGS).",
     .set = SET(c.config->broker.api.limits.idle_timeout = v.duration)},
    {.key = "request_timeout",
     .type = Type::kDuration,
     .default_text = "30s",
     .min = 100,
     .max = kHour,
     .doc = "Longest time from a request's first byte to its last (head and body); a slower "
            "request is answered 408 (HTTP/1.1) and its connection closed.",
     .set = SET(c.config->broker.api.limits.request_timeout = v.duration)},
    {.key = "workers",
     .type = Type::kInt,
     .default_text = "0",
     .min = 0,
     .max = 64,
     .doc = "Threads that verify and append the calls that put records (PutRecords, PutRecord, "
            "Firehose PutRecordBatch and PutRecord) beside the event loop; 0: on the loop. For a "
            "central daemon with cores to spare (see docs/performance.md).",
     .set = SET(c.config->broker.api.workers = int(v.integer))},
};
constexpr Section kApiSection {
  kApiFields, nullptr,
      HOOK(const ApiOptions& api = c.config->broker.api;
           if (api.listen && api.auth.empty() && !IsLoopbackHost(api.listen->host)) return Refuse(
               "\"" + api.listen->text +
               "\" is not a loopback address; add auth credentials to listen "
               "on other interfaces");
           if (api.listen && !api.tls && !api.allow_plaintext &&
               !IsLoopbackHost(
                   api.listen->host)) return Refuse("\"" + api.listen->text +
                                                    "\" is not a loopback address; give tls "
                                                    "(cert_file, key_file) so that records and "
                                                    "signed requests do not cross the network in "
                                                    "clear, or set allow_plaintext: "
                                                    "true");)
};

constexpr Field kBrokerEncryptionFields[] = {
    {.key = "keyring",
     .required = true,
     .doc = "Keyring file of the master keys of encrypted streams (streams[].encryption, "
            "StartStreamEncryption, StartDeliveryStreamEncryption): one `<key id> <base64 of 32 "
            "bytes>` a line, as `sluice keygen` prints them; the last is the primary. Must not be "
            "readable by group or others. Read again on SIGHUP and POST /reload: a key appended "
            "becomes the primary of the streams without a key_id (rotation); a key an encrypted "
            "stream or segment still needs must stay.",
     .set = SET(c.config->broker.keyring_file = v.text; auto ring = Keyring::Load(v.text);
                if (!ring.ok()) return Refuse(ring.status().message());
                c.config->broker.keyring = std::make_shared<const Keyring>(std::move(*ring));)},
};
constexpr Section kBrokerEncryptionSection{kBrokerEncryptionFields};

constexpr Field kBrokerFields[] = {
    {.key = "api",
     .type = Type::kObject,
     .doc = "The Kinesis-compatible API server.",
     .section = &kApiSection},
    {.key = "disk_quota",
     .type = Type::kSize,
     .default_text = "0",
     .doc = "Bound on the bytes under data_dir; puts past it are refused (back-pressure). 0: none.",
     .set = SET(c.config->broker.disk_quota = v.size)},
    {.key = "iterator_ttl",
     .type = Type::kDuration,
     .default_text = "5m",
     .min = kSecond,
     .max = kDay,
     .doc = "Lifetime of a shard iterator.",
     .set = SET(c.config->broker.iterator_ttl = v.duration)},
    {.key = "segment_size",
     .type = Type::kSize,
     .default_text = "64MiB",
     .min = 64 * kKiB,
     .max = 3 * kGiB,
     .doc = "A shard's log rolls to a new segment file past this size; retention deletes whole "
            "segments.",
     .set = SET(c.config->broker.segment_size = v.size)},
    {.key = "encryption",
     .type = Type::kObject,
     .doc = "Encryption at rest of streams: keyring.",
     .section = &kBrokerEncryptionSection},
};
constexpr Section kBrokerSection{kBrokerFields};

// ---- streams -----------------------------------------------------------------------------------

// The setters write only inside an encryption section: a stream without one does not take the
// section's defaults (its encryption stays as the API left it).
constexpr Field kStreamEncryptionFields[] = {
    {.key = "enabled",
     .type = Type::kBool,
     .default_text = "true",
     .doc = "Seal the stream's new segments (false: new segments are written plain; sealed ones "
            "stay readable).",
     .set = SET(if (c.in_stream_encryption) c.stream->encryption.enabled = v.boolean)},
    {.key = "key_id",
     .doc = "Master key of broker.encryption.keyring to seal with. Unset: the keyring's primary "
            "(its last key), which follows a rotation.",
     .set =
         SET(if (!c.in_stream_encryption) return Status::Ok(); c.stream->encryption.key_id = v.text;
             c.stream_encryption.back().key_id = RefOf(v);)},
};
constexpr Section kStreamEncryptionSection {
  kStreamEncryptionFields,
      HOOK(c.in_stream_encryption = true; c.stream->encryption.enabled = true;
           c.stream_encryption.push_back({c.config->streams.size() - 1, c.entering, {}});)
};

constexpr Field kStreamFields[] = {
    {.key = "name",
     .required = true,
     .doc = "Stream name (1-128 of A-Z a-z 0-9 _ . -).",
     .set = SET(c.stream->name = v.text; c.stream_names.push_back(RefOf(v));
                return CheckName(v.text, 128);)},
    {.key = "shards",
     .type = Type::kInt,
     .default_text = "1",
     .min = 1,
     .max = 1000,
     .doc = "Number of shards at creation.",
     .set = SET(c.stream->shards = int(v.integer))},
    {.key = "retention",
     .type = Type::kDuration,
     .default_text = "24h",
     .min = 24 * kHour,
     .max = 8760 * kHour,
     .doc = "How long records are kept, in whole hours.",
     .set = SET(if (v.duration.count() % kHour !=
                    0) return Refuse("\"" + v.text + "\" is not a whole number of hours");
                c.stream->retention_hours = v.duration.count() / kHour)},
    {.key = "fsync",
     .type = Type::kEnum,
     .default_text = "interval",
     .choices = "always|interval|never",
     .doc =
         "When appends reach the disk: every put, every fsync_interval (group commit), or never.",
     .set = SET(c.stream->fsync = v.text == "always"     ? broker::FsyncPolicy::kAlways
                                  : v.text == "interval" ? broker::FsyncPolicy::kInterval
                                                         : broker::FsyncPolicy::kNever)},
    {.key = "fsync_interval",
     .type = Type::kDuration,
     .default_text = "100ms",
     .min = 1,
     .max = kMinute,
     .doc = "Group-commit period with fsync: interval.",
     .set = SET(c.stream->fsync_interval = v.duration)},
    {.key = "mode",
     .type = Type::kEnum,
     .default_text = "unlimited",
     .choices = "unlimited|provisioned",
     .doc = "provisioned enforces Kinesis per-shard limits; unlimited enforces none.",
     .set = SET(c.stream->mode = v.text == "provisioned" ? broker::CapacityMode::kProvisioned
                                                         : broker::CapacityMode::kUnlimited)},
    {.key = "encryption",
     .type = Type::kObject,
     .doc = "Encrypt the stream at rest (AES-256-GCM, a data key per segment wrapped by a master "
            "key of broker.encryption.keyring), as StartStreamEncryption does: `encryption: {}` "
            "for the primary key, or enabled, key_id. Applied at start and at each reload that "
            "changes the entry; without this section the stream keeps what it has (as "
            "Start/StopStreamEncryption through the API left it).",
     .section = &kStreamEncryptionSection},
};
constexpr Section kStreamSection {
  kStreamFields, HOOK(c.config->streams.emplace_back(); c.stream = &c.config->streams.back();
                      c.in_stream_encryption = false)
};

  // ---- firehose_api
  // ------------------------------------------------------------------------------

#define FIREHOSE_SINK(type) SET(c.config->firehose_api.sinks.emplace_back(type, v.sink.options))

constexpr Field kFirehoseApiFields[] = {
    {.key = "s3",
     .type = Type::kPluginOptions,
     .doc =
         "Options of the s3 sink under every ExtendedS3/S3 destination the Firehose API "
         "creates (endpoint, region, force_path_style, credentials...); the request sets bucket, "
         "prefix, error_prefix and, with KMS, server_side_encryption. Also the S3 backup of "
         "the other destinations.",
     .set = FIREHOSE_SINK("s3")},
    {.key = "http",
     .type = Type::kPluginOptions,
     .doc = "Options of the http sink under HttpEndpoint destinations (headers, timeout...); the "
            "request sets url, access_key, content_encoding and common_attributes.",
     .set = FIREHOSE_SINK("http")},
    {.key = "opensearch",
     .type = Type::kPluginOptions,
     .doc = "Options of the opensearch sink under Amazonopensearchservice destinations (endpoint "
            "when the request gives a DomainARN, auth, region, credentials); the request sets "
            "index, index_rotation, type_name and document_id.",
     .set = FIREHOSE_SINK("opensearch")},
    {.key = "splunk",
     .type = Type::kPluginOptions,
     .doc = "Options of the splunk sink under Splunk destinations (indexer_ack, index, "
            "source...); the request sets endpoint, token, endpoint_type and ack_timeout.",
     .set = FIREHOSE_SINK("splunk")},
    {.key = "redshift",
     .type = Type::kPluginOptions,
     .doc = "Options of the redshift sink under Redshift destinations (the staging bucket's "
            "s3_endpoint, s3_region and credentials, iam_role or copy_credentials, sslmode); the "
            "request sets conninfo, password, table, columns, copy_options, s3_bucket and "
            "s3_prefix.",
     .set = FIREHOSE_SINK("redshift")},
};
constexpr Section kFirehoseApiSection{kFirehoseApiFields};

// ---- root
// ----------------------------------------------------------------------------------------

constexpr Field kRootFields[] = {
    {.key = "data_dir",
     .required = true,
     .doc = "Broker segments, checkpoints and the batch journal live here.",
     .set =
         SET(if (v.text.empty()) return Refuse("give a directory"); c.config->data_dir = v.text)},
    {.key = "plugin_dirs",
     .type = Type::kStringList,
     .doc = "Directories searched for sink and transform plugins (.so).",
     .set = SET(c.config->plugin_dirs = v.list)},
    {.key = "log", .type = Type::kObject, .doc = "Logging on stderr.", .section = &kLogSection},
    {.key = "admin", .type = Type::kObject, .doc = "Admin endpoint.", .section = &kAdminSection},
    {.key = "broker",
     .type = Type::kObject,
     .doc = "The embedded broker.",
     .section = &kBrokerSection},
    {.key = "streams",
     .type = Type::kObjectList,
     .doc = "Broker streams.",
     .section = &kStreamSection},
    {.key = "sources",
     .type = Type::kObjectList,
     .doc = "Agent flows: files tailed into streams.",
     .section = &kSourceSection},
    {.key = "deliveries",
     .type = Type::kObjectList,
     .doc = "Firehose-style delivery streams.",
     .section = &kDeliverySection},
    {.key = "firehose_api",
     .type = Type::kObject,
     .doc = "Defaults of the delivery streams created through the Firehose API "
            "(CreateDeliveryStream), by sink type: what the request cannot carry.",
     .section = &kFirehoseApiSection},
};
constexpr Section kRootSection{kRootFields};

}  // namespace

const Section& RootSection() { return kRootSection; }

std::string_view TypeName(Type type) {
  switch (type) {
    case Type::kString:
      return "string";
    case Type::kBool:
      return "bool";
    case Type::kInt:
      return "integer";
    case Type::kDuration:
      return "duration";
    case Type::kSize:
      return "size";
    case Type::kEnum:
      return "enum";
    case Type::kChar:
      return "character";
    case Type::kStringList:
      return "list of strings";
    case Type::kStringMap:
      return "map of strings";
    case Type::kObject:
      return "map";
    case Type::kObjectList:
      return "list of maps";
    case Type::kVariantList:
      return "list of steps";
    case Type::kSink:
      return "sink";
    case Type::kPluginOptions:
      return "map of plugin options";
  }
  return "?";
}

}  // namespace sluice::config
