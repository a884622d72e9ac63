// FirehoseApi's management operations: CreateDeliveryStream, DeleteDeliveryStream,
// DescribeDeliveryStream, UpdateDestination (firehose_api.h); tags are in firehose_tags.cc,
// server-side encryption in firehose_encryption.cc.
#include <rapidjson/document.h>

#include <mutex>
#include <shared_mutex>

#include "broker/api/firehose_api.h"
#include "broker/api/firehose_call.h"
#include "broker/api/firehose_destinations.h"
#include "core/json.h"
#include "core/log.h"

namespace sluice::broker::api {
namespace {

std::string ToJson(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace

DeliveryController* FirehoseApi::Controller(Call& c, std::string_view operation) {
  if (options_.delivery_controller == nullptr) {
    c.Fail("InvalidArgumentException",
           std::string(operation) + " is not available on this endpoint");
  }
  return options_.delivery_controller;
}

bool FirehoseApi::Lookup(Call& c, std::string_view name, FirehoseStreamState* state) {
  const FirehoseDelivery* d = Configured(name);
  if (d == nullptr && !broker_->GetStream(DirectPutStreamName(name)).ok()) {
    c.Fail("ResourceNotFoundException", "Firehose " + std::string(name) + " under account " +
                                            options_.account_id + " not found.");
    return false;
  }
  std::optional<FirehoseStreamState> stored;
  if (options_.delivery_controller != nullptr) stored = options_.delivery_controller->Get(name);
  if (stored) {
    *state = std::move(*stored);
  } else {
    *state = FirehoseStreamState{};
    state->name = std::string(name);
  }
  state->api_created = d == nullptr;
  return true;
}

bool FirehoseApi::ApplyState(Call& c, const FirehoseStreamState& state, bool restart) {
  if (!state.destination.empty()) {
    rapidjson::Document d;
    FirehoseError error;
    std::string entry;
    const DestinationKind* kind = nullptr;
    if (ParseJson(state.destination, &d).ok()) kind = FindDestination(d, &error);
    if (kind == nullptr) {
      c.Fail(error.type.empty() ? "InvalidArgumentException" : error.type,
             error.message.empty() ? "no destination configuration" : error.message);
      return false;
    }
    if (!TranslateDestination(state.name, *kind, d[kind->member.data()], &entry, &error)) {
      c.Fail(error.type, error.message);
      return false;
    }
  }
  Status st = options_.delivery_controller->Apply(state, restart);
  if (!st.ok()) {
    c.Fail(st.code() == Code::kInvalidArgument ? "InvalidArgumentException"
                                               : "ServiceUnavailableException",
           st.message(), st.code() == Code::kInvalidArgument ? 400 : 503);
    return false;
  }
  return true;
}

void FirehoseApi::CreateDeliveryStream(Call& c) {
  std::optional<std::string_view> name = c.Name();
  std::optional<std::string_view> type = c.Str("DeliveryStreamType");
  if (type && *type != "DirectPut" && *type != "KinesisStreamAsSource" && *type != "MSKAsSource" &&
      *type != "DatabaseAsSource") {
    c.violations.push_back("Value '" + std::string(*type) +
                           "' at 'deliveryStreamType' failed to satisfy constraint: Member must "
                           "satisfy enum value set: [DirectPut, KinesisStreamAsSource, "
                           "MSKAsSource, DatabaseAsSource]");
  }
  FirehoseStreamState state;
  if (!ReadFirehoseTags(c, c.Get("Tags"), &state.tags)) return;
  if (!c.Check()) return;
  if (type && *type != "DirectPut") {
    c.Fail("InvalidArgumentException",
           "Only DirectPut delivery streams can be created through the API; a delivery stream "
           "that reads a stream is configured under deliveries:");
    return;
  }
  FirehoseError error;
  const DestinationKind* kind = FindDestination(c.doc, &error);
  if (!error.type.empty()) return c.Fail(error.type, error.message);
  StreamEncryption encryption;
  if (const rapidjson::Value* enc = c.Get("DeliveryStreamEncryptionConfigurationInput")) {
    if (!ReadEncryptionInput(c, enc, &encryption, &state.key_arn)) return;
    state.encrypted = true;
  }
  if (Configured(*name) != nullptr || broker_->GetStream(DirectPutStreamName(*name)).ok()) {
    c.Fail("ResourceInUseException", "Firehose " + std::string(*name) + " under account " +
                                         options_.account_id + " already exists.");
    return;
  }
  // The internal stream first, so an encrypted one is sealed from its first record and a key the
  // broker lacks is refused before anything else is made; the delivery opens it as it is (an
  // API-created delivery has one worker, hence one shard).
  auto s = OpenDirectPutStream(broker_, *name, 1, encryption);
  if (!s.ok()) {
    if (encryption.enabled) return FailEncryption(c, s.status(), state.key_arn);
    return c.Fail("LimitExceededException", s.status().message());
  }
  if (options_.delivery_controller != nullptr) {
    state.name = std::string(*name);
    state.created_ms = state.updated_ms = options_.clock->NowMs();
    if (kind != nullptr) {
      rapidjson::Document dest;
      dest.SetObject();
      dest.AddMember(rapidjson::StringRef(kind->member.data(), kind->member.size()),
                     rapidjson::Value(c.doc[kind->member.data()], dest.GetAllocator()),
                     dest.GetAllocator());
      state.destination = ToJson(dest);
    }
    if (!ApplyState(c, state, true)) {
      // A refused create leaves nothing behind: no state, no delivery, no stream.
      (void)options_.delivery_controller->Remove(*name);
      std::unique_lock<std::shared_mutex> lock(StreamRemovalLock());
      Status removed = broker_->DeleteStream(DirectPutStreamName(*name));
      if (!removed.ok()) {
        SLUICE_LOG(Error, "firehose delivery stream not removed after a refused create")
            .With("name", *name)
            .With("error", removed.message());
      }
      return;
    }
  }
  SLUICE_LOG(Info, "firehose delivery stream created")
      .With("name", *name)
      .With("destination", kind != nullptr ? std::string(kind->sink) : std::string("none"))
      .With("encryption", encryption.enabled ? "ENABLED" : "DISABLED");
  c.Field("DeliveryStreamARN", Arn(*name));
}

void FirehoseApi::DeleteDeliveryStream(Call& c) {
  std::optional<std::string_view> name = c.Name();
  if (!c.Check()) return;
  if (Configured(*name) != nullptr) {
    c.Fail("ResourceInUseException",
           "Firehose " + std::string(*name) +
               " is configured in deliveries: and in use; remove it from the configuration");
    return;
  }
  if (!broker_->GetStream(DirectPutStreamName(*name)).ok()) {
    c.Fail("ResourceNotFoundException", "Firehose " + std::string(*name) + " under account " +
                                            options_.account_id + " not found.");
    return;
  }
  if (options_.delivery_controller != nullptr) {
    // Its consumer goes first: nothing reads the stream being deleted.
    Status removed = options_.delivery_controller->Remove(*name);
    if (!removed.ok() && removed.code() != Code::kNotFound) {
      return c.Fail("ServiceUnavailableException", removed.message(), 503);
    }
  }
  Status st;
  {
    // No worker thread is putting through the Stream* this frees.
    std::unique_lock<std::shared_mutex> lock(StreamRemovalLock());
    st = broker_->DeleteStream(DirectPutStreamName(*name));
  }
  if (st.code() == Code::kNotFound) {
    c.Fail("ResourceNotFoundException", "Firehose " + std::string(*name) + " under account " +
                                            options_.account_id + " not found.");
  } else if (!st.ok()) {
    c.Fail("ResourceInUseException", st.message());
  }
}

void FirehoseApi::DescribeDeliveryStream(Call& c) {
  std::optional<std::string_view> name = c.Name();
  std::optional<int64_t> limit = c.Int("Limit");
  if (limit && (*limit < 1 || *limit > 10000)) {
    c.violations.push_back(
        "Value '" + std::to_string(*limit) +
        "' at 'limit' failed to satisfy constraint: Member must have value " +
        (*limit < 1 ? "greater than or equal to 1" : "less than or equal to 10000"));
  }
  if (!c.Check()) return;
  FirehoseStreamState state;
  if (!Lookup(c, *name, &state)) return;
  const FirehoseDelivery* d = Configured(*name);
  std::string destination = state.destination;
  if (d != nullptr && options_.delivery_controller != nullptr) {
    auto configured = options_.delivery_controller->ConfiguredDestination(*name);
    if (configured.ok()) destination = std::move(*configured);
  }
  bool from_stream = d != nullptr && !d->source_stream.empty();
  c.w.Key("DeliveryStreamDescription");
  c.w.StartObject();
  c.Field("DeliveryStreamName", *name);
  c.Field("DeliveryStreamARN", Arn(*name));
  c.Field("DeliveryStreamStatus", "ACTIVE");
  c.Field("DeliveryStreamType", from_stream ? "KinesisStreamAsSource" : "DirectPut");
  c.Field("VersionId", std::to_string(state.version));
  if (state.created_ms > 0) {
    c.w.Key("CreateTimestamp");
    c.w.Double(static_cast<double>(state.created_ms) / 1000.0);
  }
  if (state.updated_ms > 0 && state.version > 1) {
    c.w.Key("LastUpdateTimestamp");
    c.w.Double(static_cast<double>(state.updated_ms) / 1000.0);
  }
  WriteEncryption(c, state, from_stream);
  if (from_stream) {
    c.w.Key("Source");
    c.w.StartObject();
    c.w.Key("KinesisStreamSourceDescription");
    c.w.StartObject();
    c.Field("KinesisStreamARN", "arn:aws:kinesis:" + options_.region + ":" + options_.account_id +
                                    ":stream/" + d->source_stream);
    c.w.EndObject();
    c.w.EndObject();
  }
  c.w.Key("Destinations");
  c.w.StartArray();
  c.w.StartObject();
  c.Field("DestinationId", kDestinationId);
  rapidjson::Document dest;
  if (!destination.empty() && ParseJson(destination, &dest).ok()) {
    WriteDestinationDescription(dest, &c.w);
  }
  c.w.EndObject();
  c.w.EndArray();
  c.w.Key("HasMoreDestinations");
  c.w.Bool(false);
  c.w.EndObject();
}

void FirehoseApi::UpdateDestination(Call& c) {
  std::optional<std::string_view> name = c.Name();
  std::optional<std::string_view> version = c.Str("CurrentDeliveryStreamVersionId");
  std::optional<std::string_view> dest_id = c.Str("DestinationId");
  if (!version) {
    c.violations.push_back(
        "Value null at 'currentDeliveryStreamVersionId' failed to satisfy "
        "constraint: Member must not be null");
  }
  if (!dest_id) {
    c.violations.push_back(
        "Value null at 'destinationId' failed to satisfy constraint: Member must not be null");
  }
  if (!c.Check()) return;
  if (Controller(c, "UpdateDestination") == nullptr) return;
  FirehoseStreamState state;
  if (!Lookup(c, *name, &state)) return;
  if (!state.api_created) {
    return c.Fail("ResourceInUseException",
                  "Firehose " + std::string(*name) +
                      " is configured in deliveries:; change its destination in the "
                      "configuration");
  }
  if (*version != std::to_string(state.version)) {
    return c.Fail("ConcurrentModificationException",
                  "Cannot update firehose: " + std::string(*name) +
                      " since the current version id: " + std::to_string(state.version) +
                      " and specified version id: " + std::string(*version) + " do not match");
  }
  if (*dest_id != kDestinationId) {
    return c.Fail("InvalidArgumentException",
                  "Destination " + std::string(*dest_id) + " not found in " + std::string(*name));
  }
  FirehoseError error;
  const DestinationKind* kind = FindDestinationUpdate(c.doc, &error);
  if (!error.type.empty()) return c.Fail(error.type, error.message);
  if (kind == nullptr) {
    return c.Fail("InvalidArgumentException",
                  "Give one destination update, such as "
                  "ExtendedS3DestinationUpdate");
  }
  const rapidjson::Value& update = c.doc[kind->update.data()];
  rapidjson::Document current;
  current.SetObject();
  if (!state.destination.empty()) (void)ParseJson(state.destination, &current);
  rapidjson::Document next;
  next.SetObject();
  rapidjson::Value config(rapidjson::kObjectType);
  // The same sink (S3 and ExtendedS3 alike): the update changes the members it names. Another
  // sink: the update is the whole new configuration.
  for (auto& m : current.GetObject()) {
    FirehoseError ignored;
    rapidjson::Document one;
    one.SetObject();
    one.AddMember(rapidjson::Value(m.name, one.GetAllocator()),
                  rapidjson::Value(rapidjson::kObjectType), one.GetAllocator());
    const DestinationKind* was = FindDestination(one, &ignored);
    if (was != nullptr && was->sink == kind->sink) config.CopyFrom(m.value, next.GetAllocator());
  }
  // The update's nested S3 members are named as updates; stored as configurations.
  rapidjson::Value renamed(update, next.GetAllocator());
  for (auto [from, to] : {std::pair{"S3Update", "S3Configuration"},
                          std::pair{"S3BackupUpdate", "S3BackupConfiguration"}}) {
    auto it = renamed.FindMember(from);
    if (it != renamed.MemberEnd()) it->name.SetString(rapidjson::StringRef(to));
  }
  MergeDestinationUpdate(renamed, &config, next.GetAllocator());
  std::string_view member = kind->member;
  next.AddMember(rapidjson::StringRef(member.data(), member.size()), config, next.GetAllocator());
  state.destination = ToJson(next);
  ++state.version;
  state.updated_ms = options_.clock->NowMs();
  if (state.created_ms == 0) state.created_ms = state.updated_ms;
  if (!ApplyState(c, state, true)) return;
  SLUICE_LOG(Info, "firehose destination updated")
      .With("name", *name)
      .With("version", state.version);
}

}  // namespace sluice::broker::api
