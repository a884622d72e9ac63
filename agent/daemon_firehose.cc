#include "agent/daemon_firehose.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "broker/api/firehose_api.h"
#include "broker/api/firehose_destinations.h"
#include "broker/api/kms_keys.h"
#include "core/fd.h"
#include "core/json.h"
#include "core/log.h"

namespace sluice::agent {
namespace {

namespace fs = std::filesystem;
namespace api = broker::api;
using rapidjson::Value;

constexpr std::string_view kFile = "firehose_api";

// The request member a key of the translated entry came from, for messages.
constexpr std::pair<std::string_view, std::string_view> kMembers[] = {
    {"sink.bucket", "BucketARN"},
    {"sink.prefix", "Prefix"},
    {"sink.error_prefix", "ErrorOutputPrefix"},
    {"buffer.size", "BufferingHints.SizeInMBs"},
    {"buffer.interval", "BufferingHints.IntervalInSeconds"},
    {"compression", "CompressionFormat"},
    {"partitioning", "DynamicPartitioningConfiguration"},
    {"transform", "ProcessingConfiguration"},
    {"retry_duration", "RetryOptions.DurationInSeconds"},
    {"backup.sink", "S3BackupConfiguration"},
    {"sink.url", "EndpointConfiguration.Url"},
    {"sink.endpoint", "endpoint (HECEndpoint, ClusterEndpoint or firehose_api defaults)"},
    {"sink.index", "IndexName"},
    {"sink.table", "CopyCommand.DataTableName"},
};

// The loader's "firehose_api:1:57: deliveries[0].sink.prefix: message" lines as
// "Prefix (sink.prefix): message".
std::string RequestMessage(std::string_view loader) {
  std::string out;
  std::istringstream in{std::string(loader)};
  for (std::string line; std::getline(in, line);) {
    // Past "<file>:<line>:<column>: ".
    size_t at = 0;
    for (int i = 0; i < 3 && at != std::string::npos; ++i) {
      at = line.find(':', at == 0 ? 0 : at + 1);
    }
    if (at != std::string::npos && line.compare(0, kFile.size(), kFile) == 0) {
      line = line.substr(std::min(line.size(), at + 2));
    }
    constexpr std::string_view kEntry = "deliveries[0].";
    if (line.compare(0, kEntry.size(), kEntry) == 0) line = line.substr(kEntry.size());
    for (auto [key, member] : kMembers) {
      if (line.compare(0, key.size(), key) == 0 && line.size() > key.size() &&
          (line[key.size()] == ':' || line[key.size()] == '.')) {
        line = std::string(member) + " (" + line.substr(0, line.find(':')) + ")" +
               line.substr(line.find(':'));
        break;
      }
    }
    out += (out.empty() ? "" : "; ") + line;
  }
  return out;
}

// Adds the `firehose_api:` defaults of the sink's type under the request's own options.
void AddDefaults(const config::FirehoseApiSection& defaults, Value* sink,
                 rapidjson::Document::AllocatorType& a) {
  if (sink == nullptr || !sink->IsObject() || !sink->HasMember("type")) return;
  const std::vector<buffer::SinkOption>* opts = defaults.Of((*sink)["type"].GetString());
  if (opts == nullptr) return;
  for (const buffer::SinkOption& o : *opts) {
    if (sink->HasMember(o.key.c_str())) continue;
    Value v;
    if (o.is_scalar) {
      v.SetString(o.value.c_str(), static_cast<rapidjson::SizeType>(o.value.size()), a);
    } else {
      rapidjson::Document parsed(&a);
      if (!ParseJson(o.value, &parsed).ok()) continue;
      v.CopyFrom(parsed, a);
    }
    sink->AddMember(Value(o.key.c_str(), a), v, a);
  }
}

// The loader expands ${VAR} in every scalar: a request's values (and the defaults, expanded
// already) are taken literally, so each `$` is written `$$`.
void EscapeDollars(Value* v, rapidjson::Document::AllocatorType& a) {
  if (v->IsString()) {
    std::string_view text(v->GetString(), v->GetStringLength());
    if (text.find('$') == std::string_view::npos) return;
    std::string escaped;
    for (char c : text) {
      escaped += c;
      if (c == '$') escaped += '$';
    }
    v->SetString(escaped.c_str(), static_cast<rapidjson::SizeType>(escaped.size()), a);
  } else if (v->IsObject()) {
    for (auto& m : v->GetObject()) EscapeDollars(&m.value, a);
  } else if (v->IsArray()) {
    for (auto& item : v->GetArray()) EscapeDollars(&item, a);
  }
}

std::string Json(const Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

// Gives the broker stream that holds a DirectPut delivery stream's records the encryption its
// state asks for, when it lacks it: the API writes the stream's encryption before the state, so
// a crash between the two (StopDeliveryStreamEncryption) or a state kept by a version that only
// recorded the request leaves them apart. Never the other way: a stream encrypted by other means
// stays so (DescribeDeliveryStream reports what the stream has).
void ApplyStoredEncryption(const Daemon::State& s, const api::FirehoseStreamState& st) {
  if (!st.encrypted) return;
  bool reads_stream = std::any_of(
      s.config.deliveries.begin(), s.config.deliveries.end(),
      [&](const buffer::DeliveryOptions& d) { return d.name == st.name && !d.direct_put; });
  if (reads_stream) return;  // KinesisStreamAsSource: no records of its own
  auto stream = s.broker->GetStream(api::DirectPutStreamName(st.name));
  if (!stream.ok() || (*stream)->options().encryption.enabled) return;
  std::optional<std::string> key_id = api::KeyringIdOf(st.key_arn, {});
  Status applied = key_id ? (*stream)->SetEncryption({true, *key_id})
                          : InvalidArgument("KeyARN " + st.key_arn + " names no KMS key");
  if (!applied.ok()) {
    SLUICE_LOG(Error,
               "firehose_api: a delivery stream's encryption was started but cannot apply; its "
               "records are stored in clear")
        .With("delivery", st.name)
        .With("error", applied.message());
    return;
  }
  SLUICE_LOG(Info, "firehose_api: delivery stream encryption applied as its state asks")
      .With("delivery", st.name);
}

}  // namespace

fs::path FirehoseDeliveries::Dir() const { return fs::path(s_->config.data_dir) / kFile; }

Result<buffer::DeliveryOptions> FirehoseDeliveries::Plan(const api::FirehoseStreamState& st) const {
  rapidjson::Document dest;
  RETURN_IF_ERROR(ParseJson(st.destination, &dest));
  api::FirehoseError error;
  const api::DestinationKind* kind = api::FindDestination(dest, &error);
  if (kind == nullptr) {
    return InvalidArgument(error.message.empty() ? "no destination configuration" : error.message);
  }
  std::string entry;
  if (!api::TranslateDestination(st.name, *kind, dest[kind->member.data()], &entry, &error)) {
    return InvalidArgument(error.message);
  }
  rapidjson::Document root;
  root.SetObject();
  auto& a = root.GetAllocator();
  rapidjson::Document e(&a);
  RETURN_IF_ERROR(ParseJson(entry, &e));
  AddDefaults(s_->config.firehose_api, e.HasMember("sink") ? &e["sink"] : nullptr, a);
  if (e.HasMember("backup") && e["backup"].HasMember("sink")) {
    AddDefaults(s_->config.firehose_api, &e["backup"]["sink"], a);
  }
  root.AddMember("data_dir", Value(s_->config.data_dir.c_str(), a), a);
  Value dirs(rapidjson::kArrayType);
  for (const std::string& d : s_->config.plugin_dirs) dirs.PushBack(Value(d.c_str(), a), a);
  root.AddMember("plugin_dirs", dirs, a);
  Value list(rapidjson::kArrayType);
  list.PushBack(Value(e, a), a);
  root.AddMember("deliveries", list, a);
  EscapeDollars(&root, a);
  auto loaded = config::LoadConfigText(Json(root), kFile, Daemon::CheckDeliveries);
  if (!loaded.ok()) return InvalidArgument(RequestMessage(loaded.status().message()));
  if (loaded->deliveries.size() != 1) return Internal("firehose_api: no delivery planned");
  buffer::DeliveryOptions d = std::move(loaded->deliveries[0]);
  d.version = static_cast<int>(st.version);  // the <version> in object names
  return d;
}

void FirehoseDeliveries::StartStored() {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(Dir(), ec)) {
    const fs::path& p = entry.path();
    if (p.extension() != ".json" || p.filename().string().rfind(".tmp-", 0) == 0) continue;
    std::ifstream in(p, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    auto st = api::ParseStreamState(text.str());
    if (!st.ok()) {
      SLUICE_LOG(Error, "firehose_api: unreadable delivery stream state")
          .With("file", p.string())
          .With("error", st.status().message());
      continue;
    }
    std::string name = st->name;
    states_[name] = *st;
    ApplyStoredEncryption(*s_, *st);
    if (!st->api_created || st->destination.empty()) continue;
    bool configured = std::any_of(s_->config.deliveries.begin(), s_->config.deliveries.end(),
                                  [&](const buffer::DeliveryOptions& d) { return d.name == name; });
    if (configured) {
      SLUICE_LOG(Error,
                 "firehose_api: a configured delivery has the name of a delivery stream "
                 "created through the API; the configured one runs")
          .With("delivery", name);
      continue;
    }
    auto d = Plan(*st);
    Status started = d.ok() ? StartDelivery(*s_, *d) : d.status();
    if (!started.ok()) {
      s_->not_running[name] = started.message();
      SLUICE_LOG(Error, "firehose_api: delivery stream not started")
          .With("delivery", name)
          .With("error", started.message());
    }
  }
}

void FirehoseDeliveries::Stop(std::string_view name) {
  std::vector<std::unique_ptr<buffer::DeliveryStream>> stopping;
  for (auto it = s_->deliveries.begin(); it != s_->deliveries.end();) {
    if ((*it)->name() == name) {
      stopping.push_back(std::move(*it));
      it = s_->deliveries.erase(it);
    } else {
      ++it;
    }
  }
  StopDeliveries(&stopping);
}

Status FirehoseDeliveries::Apply(const api::FirehoseStreamState& st, bool restart) {
  bool configured =
      std::any_of(s_->config.deliveries.begin(), s_->config.deliveries.end(),
                  [&](const buffer::DeliveryOptions& d) { return d.name == st.name; });
  if (restart && st.api_created && configured) {
    return InvalidArgument("delivery stream " + st.name +
                           " is configured in deliveries:; change it in the configuration");
  }
  std::unique_ptr<buffer::DeliveryStream> created;
  if (restart && st.api_created && !st.destination.empty()) {
    ASSIGN_OR_RETURN(buffer::DeliveryOptions d, Plan(st));
    auto ds = CreateDelivery(*s_, d);
    if (!ds.ok()) return InvalidArgument(ds.status().message());
    created = std::move(*ds);
  }
  std::error_code ec;
  // Owner-only: a request's AccessKey, HECToken or Password is stored with its destination.
  fs::create_directories(Dir(), ec);
  fs::permissions(Dir(), fs::perms::owner_all, fs::perm_options::replace, ec);
  fs::path file = Dir() / (st.name + ".json");
  RETURN_IF_ERROR(WriteFileAtomically(file, api::SerializeStreamState(st)));
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace,
                  ec);
  states_[st.name] = st;
  if (!restart || !st.api_created) return Status::Ok();
  Stop(st.name);  // the previous version flushes and checkpoints; the new one resumes there
  if (created) {
    Status started = created->Start();
    if (!started.ok()) {
      s_->not_running[st.name] = started.message();
      return started.Annotate("delivery " + st.name);
    }
    s_->not_running.erase(st.name);
    s_->deliveries.push_back(std::move(created));
  }
  return Status::Ok();
}

Status FirehoseDeliveries::Remove(std::string_view name) {
  auto it = states_.find(name);
  if (it != states_.end() && !it->second.api_created) return Status::Ok();
  std::error_code ec;
  if (RunsDelivery(name)) {
    Stop(name);
    s_->not_running.erase(std::string(name));
    // Its checkpoints go with it: a stream created again under this name starts from offset 0.
    fs::remove_all(fs::path(s_->config.data_dir) / "deliveries" / std::string(name), ec);
  }
  fs::remove(Dir() / (std::string(name) + ".json"), ec);
  if (it == states_.end()) return NotFound("no state");
  states_.erase(it);
  return Status::Ok();
}

bool FirehoseDeliveries::RunsDelivery(std::string_view name) const {
  auto it = states_.find(name);
  return it != states_.end() && it->second.api_created && !it->second.destination.empty();
}

std::optional<api::FirehoseStreamState> FirehoseDeliveries::Get(std::string_view name) {
  auto it = states_.find(name);
  if (it == states_.end()) return std::nullopt;
  return it->second;
}

Result<std::string> FirehoseDeliveries::ConfiguredDestination(std::string_view name) {
  for (const buffer::DeliveryOptions& d : s_->config.deliveries) {
    if (d.name == name) return DestinationOfDelivery(d);
  }
  return NotFound("not configured");
}

}  // namespace sluice::agent
