// CLI11 is the argument parser; its exceptions are caught here, in one place, and turned into
// exit codes.
#include "agent/cli.h"

#include <rapidjson/document.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>

#include "agent/cli_client.h"
#include "agent/cli_keys.h"
#include "agent/config/checks.h"
#include "agent/config/config.h"
#include "agent/daemon.h"
#include "agent/embedded_config.h"
#include "agent/input/syslog_parse.h"
#include "agent/plugin_tool.h"
#include "agent/tail/processor.h"
#include "broker/broker.h"
#include "broker/metadata.h"
#include "buffer/plugin_process.h"
#include "core/base64.h"
#include "core/json.h"
#include "core/log.h"
#include "core/loopback.h"
#include "core/secret_key.h"
#include "core/units.h"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.0.0"
#endif

namespace sluice::agent {
namespace {

constexpr char kEmbedded[] = "<embedded sluice.yaml>";

// Loads the configuration with the daemon's checks of its deliveries, so schema errors and
// plugin, policy and prefix errors are reported together.
Result<config::Config> Load(const std::string& path) {
  if (path.empty()) {
    return config::LoadConfigText(EmbeddedDefaultConfig(), kEmbedded, Daemon::CheckDeliveries);
  }
  return config::LoadConfigFile(path, Daemon::CheckDeliveries);
}

// `check --sample LINE`: what each source's processing steps (or `only`'s) make of LINE, one
// output line per source: `<source>: <record>` (and `(unparsed ...)` when a step could not parse).
// "2024-03-10T14:05:09.123Z"
std::string FormatUtcMillis(int64_t ms) {
  const int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  time_t t = static_cast<time_t>(secs);
  struct tm g;
  gmtime_r(&t, &g);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", g.tm_year + 1900,
                g.tm_mon + 1, g.tm_mday, g.tm_hour, g.tm_min, g.tm_sec,
                static_cast<int>(ms - secs * 1000));
  return buf;
}

int Sample(const config::Config& cfg, const std::string& line, const std::string& only) {
  int shown = 0;
  for (const FlowOptions& f : cfg.sources) {
    if (!only.empty() && f.name != only) continue;
    ++shown;
    auto p = Processor::Create(f.processing);
    if (!p.ok()) {
      std::fprintf(stderr, "source %s: %s\n", f.name.c_str(), p.status().message().c_str());
      return 1;
    }
    char host[256] = {0};  // the host name a flow of this machine would add
    if (gethostname(host, sizeof(host) - 1) != 0) std::snprintf(host, sizeof(host), "localhost");
    RecordContext ctx{"/sample.log", 0, Clock::Real()->NowMs(), host, f.name};
    // A syslog source parses the message before its steps see it, as the daemon does.
    std::string parsed;
    std::string_view record = line;
    if (f.type == SourceType::kSyslog && f.syslog.format != SyslogOptions::Format::kRaw &&
        SyslogToJson(line, f.syslog.format, &parsed)) {
      record = parsed;
    }
    ProcessResult r = (*p)->Process(record, ctx);
    if (r.dropped) {
      std::string by;
      for (const StepStats& st : (*p)->stats()) {
        if (st.dropped > 0) by = st.name;
      }
      std::printf("%s: (dropped by step %s)\n", f.name.c_str(), by.c_str());
      continue;
    }
    std::string event_time;
    if (r.has_event_time) {
      event_time = "  (event time " + FormatUtcMillis(r.event_ms) + ")";
    }
    std::printf("%s: %.*s%s%s\n", f.name.c_str(), static_cast<int>(r.data.size()), r.data.data(),
                !r.unparsed         ? ""
                : r.to_error_output ? "  (unparsed: to the error output)"
                                    : "  (unparsed: passed through)",
                event_time.c_str());
  }
  if (shown == 0) {
    std::fprintf(stderr, "no source %s in the configuration\n",
                 only.empty() ? "" : ("named " + only).c_str());
    return 1;
  }
  return 0;
}

int Check(const std::string& path, const std::optional<std::string>& sample,
          const std::string& source) {
  auto cfg = Load(path);
  if (!cfg.ok()) {
    std::fprintf(stderr, "%s\n", cfg.status().message().c_str());
    return 1;
  }
  if (sample) return Sample(*cfg, *sample, source);
  for (const FlowOptions& f : cfg->sources) {
    // Syslog has no authentication: whoever reaches the port writes records.
    config::ListenAddress a;
    if (f.type == SourceType::kSyslog && f.syslog.listen.size() > 6 &&
        config::ParseListen(std::string_view(f.syslog.listen).substr(6), &a).ok() &&
        !IsLoopbackHost(a.host)) {
      std::fprintf(stderr,
                   "warning: sources[%s].listen: %s is not a loopback address; syslog has no "
                   "authentication, so anyone who reaches it can write records\n",
                   f.name.c_str(), f.syslog.listen.c_str());
    }
  }
  std::printf("%s: ok\n", path.empty() ? kEmbedded : path.c_str());
  return 0;
}

int Run(const std::string& path) {
  auto cfg = Load(path);
  if (!cfg.ok()) {
    std::fprintf(stderr, "%s\n", cfg.status().message().c_str());
    return 1;
  }
  Status st = Daemon::RunUntilSignal(*cfg);
  if (!st.ok()) {
    SLUICE_LOG(Error, "sluice stopped").With("error", st.ToString());
    return 1;
  }
  return 0;
}

// The admin endpoint to talk to: --admin, else the config's admin.listen, else the default. A
// -c FILE that does not load is an error (talking to the default port instead would reach
// another daemon, or none, and hide why). https://host:port in --admin, or admin.tls in the
// config, makes the calls TLS; without --cacert the config's own certificate (admin.tls.cert_file)
// is the one trusted, so a self-signed admin certificate needs nothing more.
Result<std::string> AdminAddress(const std::string& admin, const std::string& config_path,
                                 AdminTls* tls, AdminAuth* auth) {
  constexpr std::string_view kHttps = "https://", kHttp = "http://", kUnix = "unix:";
  std::string given = admin;
  if (given.rfind(kUnix, 0) == 0) {
    auth->unix_socket = given.substr(kUnix.size());
    return std::string("localhost");
  }
  if (given.rfind(kHttps, 0) == 0) {
    tls->on = true;
    given.erase(0, kHttps.size());
  } else if (given.rfind(kHttp, 0) == 0) {
    given.erase(0, kHttp.size());
  }
  if (!config_path.empty()) {
    auto cfg = config::LoadConfigFile(config_path);
    if (!cfg.ok()) return cfg.status();
    if (auth->token.empty()) auth->token = cfg->admin.token;
    // The daemon's own socket first: it needs no token and no certificate.
    if (given.empty() && !cfg->admin.socket.empty()) {
      auth->unix_socket = cfg->admin.socket;  // relative: to the working directory, as the daemon
      return std::string("localhost");
    }
    if (cfg->admin.tls && (given.empty() || tls->on)) {
      tls->on = true;
      if (tls->ca_file.empty()) tls->ca_file = cfg->admin.tls->cert_file;
    }
    if (given.empty() && !cfg->admin.listen.text.empty()) return cfg->admin.listen.text;
  }
  if (!given.empty()) return given;
  return std::string("127.0.0.1:4195");
}

// `s` as a JSON string, quoted (for the requests built here).
std::string Quote(std::string_view s) {
  std::string out;
  AppendJsonString(s, &out);
  return out;
}

int Fail(const Status& st) {
  std::fprintf(stderr, "sluice: %s\n", st.message().c_str());
  return 1;
}

Result<rapidjson::Document> Call(const AdminClient& client, std::string_view op,
                                 const std::string& json) {
  ASSIGN_OR_RETURN(std::string body, client.Kinesis(op, json));
  rapidjson::Document d;
  Status d_parsed = ParseJson(body, &d);
  if (!d_parsed.ok() || !d.IsObject()) {
    return Internal(std::string(op) + ": the answer is not a JSON object");
  }
  return d;
}

int ShowStatus(const AdminClient& client, bool json) {
  auto a = client.Get("/status");
  if (!a.ok()) return Fail(a.status());
  if (a->status != 200)
    return Fail(Unavailable("GET /status answered " + std::to_string(a->status)));
  if (json) {
    std::fwrite(a->body.data(), 1, a->body.size(), stdout);
    return 0;
  }
  auto text = RenderStatusTable(a->body);
  if (!text.ok()) return Fail(text.status());
  std::fwrite(text->data(), 1, text->size(), stdout);
  return 0;
}

int Describe(const AdminClient& client, const std::string& name) {
  auto summary = Call(client, "DescribeStreamSummary", "{\"StreamName\":" + Quote(name) + "}");
  if (!summary.ok()) return Fail(summary.status());
  auto shards = Call(client, "ListShards", "{\"StreamName\":" + Quote(name) + "}");
  if (!shards.ok()) return Fail(shards.status());
  const auto& d = (*summary)["StreamDescriptionSummary"];
  std::printf("stream      %s\nstatus      %s\nretention   %d h\nopen shards %d\nconsumers   %d\n",
              d["StreamName"].GetString(), d["StreamStatus"].GetString(),
              d["RetentionPeriodHours"].GetInt(), d["OpenShardCount"].GetInt(),
              d.HasMember("ConsumerCount") ? d["ConsumerCount"].GetInt() : 0);
  std::printf("\n%-22s %-8s %-22s %s\n", "SHARD", "STATE", "PARENT", "HASH KEY RANGE");
  for (const auto& sh : (*shards)["Shards"].GetArray()) {
    bool closed = sh["SequenceNumberRange"].HasMember("EndingSequenceNumber");
    std::printf("%-22s %-8s %-22s %s..%s\n", sh["ShardId"].GetString(), closed ? "closed" : "open",
                sh.HasMember("ParentShardId") ? sh["ParentShardId"].GetString() : "-",
                sh["HashKeyRange"]["StartingHashKey"].GetString(),
                sh["HashKeyRange"]["EndingHashKey"].GetString());
  }
  return 0;
}

int List(const AdminClient& client) {
  std::string token;
  do {
    std::string req = token.empty() ? "{}" : "{\"NextToken\":" + Quote(token) + "}";
    auto d = Call(client, "ListStreams", req);
    if (!d.ok()) return Fail(d.status());
    for (const auto& n : (*d)["StreamNames"].GetArray()) std::printf("%s\n", n.GetString());
    token = d->HasMember("NextToken") && (*d)["NextToken"].IsString()
                ? (*d)["NextToken"].GetString()
                : "";
  } while (!token.empty());
  return 0;
}

// Waits until a stream is ACTIVE again after a reshard (the broker's are immediate; the wait
// keeps the command honest if that changes).
int WaitActive(const AdminClient& client, const std::string& name) {
  for (int i = 0; i < 100; ++i) {
    auto d = Call(client, "DescribeStreamSummary", "{\"StreamName\":" + Quote(name) + "}");
    if (!d.ok()) return Fail(d.status());
    if (std::string((*d)["StreamDescriptionSummary"]["StreamStatus"].GetString()) == "ACTIVE") {
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Fail(Unavailable("stream " + name + " did not become ACTIVE"));
}

struct CatOptions {
  std::string stream;
  std::string from = "trim_horizon";
  std::string timestamp;
  std::string sequence_number;  // with --from at_sequence / after_sequence
  bool follow = false;
  bool show_sequence = false;  // prefix each line with its sequence number and a tab
  uint64_t limit = 0;          // 0: no limit
};

// Reads every shard of the stream from the chosen position and writes each record's data,
// newline-terminated, to stdout. Without --follow it stops once every shard is caught up.
int Cat(const AdminClient& client, const CatOptions& o) {
  std::string type;
  if (o.from == "trim_horizon")
    type = "TRIM_HORIZON";
  else if (o.from == "latest")
    type = "LATEST";
  else if (o.from == "timestamp")
    type = "AT_TIMESTAMP";
  else if (o.from == "at_sequence")
    type = "AT_SEQUENCE_NUMBER";
  else if (o.from == "after_sequence")
    type = "AFTER_SEQUENCE_NUMBER";
  else
    return Fail(
        InvalidArgument("--from: trim_horizon, latest, timestamp, at_sequence or after_sequence"));
  std::string extra;
  std::string only_shard;  // a sequence number names its shard: only that one is read
  if (type == "AT_SEQUENCE_NUMBER" || type == "AFTER_SEQUENCE_NUMBER") {
    if (o.sequence_number.empty()) {
      return Fail(InvalidArgument("--from " + o.from + " needs --sequence-number"));
    }
    auto seq = broker::ParseSequenceNumber(o.sequence_number);
    if (!seq.ok()) return Fail(seq.status().Annotate("--sequence-number"));
    if (seq->legacy) {
      return Fail(InvalidArgument("--sequence-number " + o.sequence_number +
                                  ": a number of the older form names no shard; use "
                                  "GetShardIterator with its shard"));
    }
    only_shard = broker::ShardId(static_cast<uint32_t>(seq->shard));
    extra = ",\"StartingSequenceNumber\":" + Quote(o.sequence_number);
  }
  if (type == "AT_TIMESTAMP") {
    if (o.timestamp.empty()) return Fail(InvalidArgument("--from timestamp needs --timestamp"));
    auto t = ParseTimestampMs(o.timestamp);
    if (!t.ok()) return Fail(t.status().Annotate("--timestamp"));
    char buf[64];
    std::snprintf(buf, sizeof buf, ",\"Timestamp\":%.3f", static_cast<double>(*t) / 1000.0);
    extra = buf;
  }
  auto shards = Call(client, "ListShards", "{\"StreamName\":" + Quote(o.stream) + "}");
  if (!shards.ok()) return Fail(shards.status());
  std::vector<std::string> iterators;
  for (const auto& sh : (*shards)["Shards"].GetArray()) {
    if (!only_shard.empty() && only_shard != sh["ShardId"].GetString()) continue;
    auto it = Call(client, "GetShardIterator",
                   "{\"StreamName\":" + Quote(o.stream) +
                       ",\"ShardId\":" + Quote(sh["ShardId"].GetString()) +
                       ",\"ShardIteratorType\":\"" + type + "\"" + extra + "}");
    if (!it.ok()) return Fail(it.status());
    iterators.push_back((*it)["ShardIterator"].GetString());
  }
  if (!only_shard.empty() && iterators.empty()) {
    return Fail(NotFound("--sequence-number names " + only_shard + ", which stream " + o.stream +
                         " does not have (or no longer keeps)"));
  }
  uint64_t printed = 0;
  std::string out;
  for (;;) {
    bool any = false;
    for (std::string& iterator : iterators) {
      while (!iterator.empty()) {
        auto d = Call(client, "GetRecords",
                      "{\"ShardIterator\":" + Quote(iterator) + ",\"Limit\":10000}");
        if (!d.ok()) return Fail(d.status());
        out.clear();
        const auto& records = (*d)["Records"];
        for (const auto& r : records.GetArray()) {
          if (o.limit && printed >= o.limit) break;
          if (o.show_sequence) {
            out += r["SequenceNumber"].GetString();
            out += '\t';
          }
          const auto& data = r["Data"];
          if (!Base64DecodeAppend(std::string_view(data.GetString(), data.GetStringLength()), &out)
                   .ok()) {
            return Fail(Internal("GetRecords: a record's Data is not base64"));
          }
          out += '\n';
          ++printed;
        }
        std::fwrite(out.data(), 1, out.size(), stdout);
        if (o.limit && printed >= o.limit) {
          std::fflush(stdout);
          return 0;
        }
        iterator = d->HasMember("NextShardIterator") && (*d)["NextShardIterator"].IsString()
                       ? (*d)["NextShardIterator"].GetString()
                       : "";
        any = any || !records.Empty();
        if (records.Empty()) break;  // caught up on this shard for now
      }
    }
    std::fflush(stdout);
    if (!o.follow) return 0;
    if (!any) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace

int RunCli(int argc, char** argv) {
  CLI::App app{"sluice: ship every log line, once, fast, with nothing lost", "sluice"};
  app.require_subcommand(0, 1);
  std::string config_path;

  CLI::App* run = app.add_subcommand("run", "Run the daemon");
  run->add_option("-c,--config", config_path,
                  "Configuration file (default: the embedded default, conf/sluice.yaml)");
  CLI::App* check = app.add_subcommand("check", "Validate a configuration file and exit");
  check->add_option("-c,--config", config_path, "Configuration file")->required();
  std::optional<std::string> sample;
  std::string sample_source;
  check->add_option("--sample", sample,
                    "A log line: print what each source's processing steps make of it");
  check->add_option("--source", sample_source, "With --sample: only this source");
  CLI::App* version = app.add_subcommand("version", "Print the version");
  CLI::App* config = app.add_subcommand("config", "Print the embedded default configuration");
  CLI::App* help = app.add_subcommand("help", "Show this help");
  std::string key_id, keyring_path;
  std::vector<std::string> sealed;
  CLI::App* keygen =
      app.add_subcommand("keygen", "Print a new keyring line for encryption.keyring");
  keygen->add_option("--id", key_id, "Key id (default: k-<date>-<random>)");
  bool decrypt_records = false;
  CLI::App* decrypt = app.add_subcommand(
      "decrypt", "Decrypt objects an encrypted delivery wrote, or an encrypted stream's segments");
  decrypt->add_option("-k,--keyring", keyring_path, "Keyring file (as encryption.keyring)")
      ->required();
  decrypt->add_option("objects", sealed,
                      "Object or segment (.log) files; - or none: standard input");
  decrypt->add_flag("--records", decrypt_records,
                    "Segments: print one JSON line per record instead of the plain segment");
  // The plugin author's toolkit (agent/plugin_tool.h).
  CLI::App* plugin =
      app.add_subcommand("plugin", "Inspect and test sink and transform plugins, or start one");
  plugin->require_subcommand(1);
  std::string plugin_file;
  CLI::App* plugin_info = plugin->add_subcommand("info", "Print what a plugin .so declares");
  plugin_info->add_option("file", plugin_file, "The plugin's .so")->required();
  PluginTestOptions test_options;
  CLI::App* plugin_test =
      plugin->add_subcommand("test", "Drive a plugin through its calls and check every answer");
  plugin_test->add_option("file", test_options.file, "The plugin's .so")->required();
  plugin_test->add_option("--option", test_options.options, "An option of the plugin: key=value")
      ->allow_extra_args(false);
  plugin_test->add_option("--records", test_options.records_count,
                          "Generated records, over three batches (default 100)");
  plugin_test->add_option("--record", test_options.records, "Also send this record (in batch 2)")
      ->allow_extra_args(false);
  plugin_test->add_option("--timeout", test_options.timeout_s,
                          "Seconds one call may run before it counts as a hang (default 30)");
  PluginNewOptions new_options;
  CLI::App* plugin_new =
      plugin->add_subcommand("new", "Write a buildable out-of-tree plugin project");
  plugin_new->add_option("name", new_options.name, "The plugin's name (its type: in YAML)")
      ->required();
  plugin_new->add_option("--lang", new_options.lang, "c or cpp")
      ->required()
      ->check(CLI::IsMember({"c", "cpp"}));
  plugin_new->add_option("--kind", new_options.kind, "object, record or transform")
      ->required()
      ->check(CLI::IsMember({"object", "record", "transform"}));
  plugin_new->add_option("--dir", new_options.dir, "Where to write it (default: ./NAME)");

  // Subcommands that talk to the running daemon through its admin endpoint.
  std::string admin;
  AdminTls admin_tls;
  AdminAuth admin_auth;
  std::string token_file;
  auto talks = [&](CLI::App* sub) {
    sub->add_option("--admin", admin,
                    "Admin endpoint host:port, https://host:port or unix:PATH (default: "
                    "admin.socket of --config, else its admin.listen, else 127.0.0.1:4195)");
    sub->add_option("-c,--config", config_path, "Configuration file naming admin.listen");
    sub->add_option("--cacert", admin_tls.ca_file,
                    "PEM CA bundle that signed the admin endpoint's certificate (https; default: "
                    "admin.tls.cert_file of --config)");
    sub->add_option("--cert", admin_tls.cert_file,
                    "Client certificate (PEM) for an admin endpoint with admin.tls.client_ca_file");
    sub->add_option("--key", admin_tls.key_file, "The client certificate's private key (PEM)");
    sub->add_option("--token-file", token_file,
                    "File holding the admin endpoint's bearer token (default: "
                    "admin.auth.token_file of --config)");
  };
  bool json = false;
  CLI::App* status = app.add_subcommand("status", "Show the running daemon's state");
  status->add_flag("--json", json, "Print the /status JSON document");
  talks(status);
  CLI::App* reload = app.add_subcommand("reload", "Ask the running daemon to reload its config");
  talks(reload);
  CLI::App* streams = app.add_subcommand("streams", "Create, describe, list and reshard streams");
  streams->require_subcommand(1);
  std::string stream_name;
  int shards = 1;
  int retention_hours = 24;
  CLI::App* create = streams->add_subcommand("create", "Create a stream");
  create->add_option("name", stream_name, "Stream name")->required();
  create->add_option("--shards", shards, "Shard count")->check(CLI::Range(1, 10000));
  create->add_option("--retention-hours", retention_hours, "Retention, 24..8760 hours")
      ->check(CLI::Range(24, 8760));
  CLI::App* describe = streams->add_subcommand("describe", "Describe a stream and its shards");
  describe->add_option("name", stream_name, "Stream name")->required();
  CLI::App* list = streams->add_subcommand("list", "List streams");
  CLI::App* reshard = streams->add_subcommand("reshard", "Change a stream's shard count");
  reshard->add_option("name", stream_name, "Stream name")->required();
  reshard->add_option("--shards", shards, "Target shard count")
      ->required()
      ->check(CLI::Range(1, 10000));
  for (CLI::App* sub : {create, describe, list, reshard}) talks(sub);
  CatOptions cat_options;
  CLI::App* cat = app.add_subcommand("cat", "Print a stream's records, one per line");
  cat->add_option("stream", cat_options.stream, "Stream name")->required();
  cat->add_option("--from", cat_options.from,
                  "trim_horizon (default), latest, timestamp, at_sequence or after_sequence")
      ->check(
          CLI::IsMember({"trim_horizon", "latest", "timestamp", "at_sequence", "after_sequence"}));
  cat->add_option("--sequence-number", cat_options.sequence_number,
                  "With --from at_sequence/after_sequence: where to start (the shard it names)");
  cat->add_flag("--sequence-numbers", cat_options.show_sequence,
                "Print each record's sequence number and a tab before its data");
  cat->add_option("--timestamp", cat_options.timestamp,
                  "With --from timestamp: seconds since the epoch or YYYY-MM-DDTHH:MM:SSZ");
  cat->add_flag("-f,--follow", cat_options.follow, "Keep reading new records");
  cat->add_option("-n,--limit", cat_options.limit, "Stop after this many records");
  talks(cat);
  // The child of a sink or transform under `isolation: process` (not for people: no help line).
  int plugin_fd = -1;
  CLI::App* plugin_host = app.add_subcommand("plugin-host", "");
  plugin_host->group("");
  plugin_host->add_option("--fd", plugin_fd, "The socket to the daemon")->required();

  const std::string top_help = app.help();  // before parsing selects a subcommand
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  if (*plugin_host) return buffer::PluginChildMain(plugin_fd);
  if (*run) return Run(config_path);
  if (*keygen) return Keygen(key_id);
  if (*decrypt) return Decrypt(keyring_path, sealed, decrypt_records);
  if (*plugin_info) return PluginInfo(plugin_file);
  if (*plugin_test) return PluginTest(test_options);
  if (*plugin_new) return PluginNew(new_options);
  bool talks_to_daemon = *status || *reload || *create || *describe || *list || *reshard || *cat;
  if (!token_file.empty()) {
    auto token = SecretFromFile(token_file);
    if (!token.ok()) {
      std::fprintf(stderr, "sluice: --token-file: %s\n", token.status().message().c_str());
      return 2;
    }
    admin_auth.token = std::move(*token);
  }
  Result<std::string> admin_address =
      talks_to_daemon ? AdminAddress(admin, config_path, &admin_tls, &admin_auth)
                      : Result<std::string>(std::string());
  if (!admin_address.ok()) {
    std::fprintf(stderr, "sluice: %s\n", admin_address.status().message().c_str());
    return 1;
  }
  if (!admin_tls.cert_file.empty() && admin_tls.key_file.empty()) {
    std::fprintf(stderr, "sluice: --cert needs --key\n");
    return 2;
  }
  if (!admin_tls.ca_file.empty() || !admin_tls.cert_file.empty()) admin_tls.on = true;
  AdminClient client(*admin_address, admin_tls, admin_auth);
  if (*status) return ShowStatus(client, json);
  if (*reload) {
    auto a = client.Post("/reload", "", "");
    if (!a.ok()) return Fail(a.status());
    // A reload that had to wait for flows to stop answers 200 before it knows the outcome (the
    // answer is streamed): the body's "ok" is what counts.
    rapidjson::Document d;
    bool ok = a->status == 200 && ParseJson(a->body, &d).ok() && d.IsObject() &&
              d.HasMember("ok") && d["ok"].IsBool() && d["ok"].GetBool();
    std::fwrite(a->body.data(), 1, a->body.size(), ok ? stdout : stderr);
    return ok ? 0 : 1;
  }
  if (*create) {
    auto d =
        Call(client, "CreateStream",
             "{\"StreamName\":" + Quote(stream_name) + ",\"ShardCount\":" + std::to_string(shards) +
                 // As streams defined in the config: no per-shard throttling.
                 ",\"StreamModeDetails\":{\"StreamMode\":\"ON_DEMAND\"}}");
    if (!d.ok()) return Fail(d.status());
    if (retention_hours != 24) {
      auto r = Call(client, "IncreaseStreamRetentionPeriod",
                    "{\"StreamName\":" + Quote(stream_name) +
                        ",\"RetentionPeriodHours\":" + std::to_string(retention_hours) + "}");
      if (!r.ok()) return Fail(r.status());
    }
    std::printf("created %s with %d shard(s)\n", stream_name.c_str(), shards);
    return 0;
  }
  if (*describe) return Describe(client, stream_name);
  if (*list) return List(client);
  if (*reshard) {
    auto d = Call(client, "UpdateShardCount",
                  "{\"StreamName\":" + Quote(stream_name) + ",\"TargetShardCount\":" +
                      std::to_string(shards) + ",\"ScalingType\":\"UNIFORM_SCALING\"}");
    if (!d.ok()) return Fail(d.status());
    if (int rc = WaitActive(client, stream_name); rc != 0) return rc;
    std::printf("%s: %d open shard(s)\n", stream_name.c_str(), shards);
    return 0;
  }
  if (*cat) return Cat(client, cat_options);
  if (*check) return Check(config_path, sample, sample_source);
  if (*version) {
    std::printf("sluice %s\n", SLUICE_VERSION);
    return 0;
  }
  if (*config) {
    std::fwrite(EmbeddedDefaultConfig().data(), 1, EmbeddedDefaultConfig().size(), stdout);
    return 0;
  }
  if (*help || argc == 1) {
    std::printf("%s", top_help.c_str());
    return *help ? 0 : 2;
  }
  return 0;
}

}  // namespace sluice::agent
