#include "broker/api/kinesis_api.h"

#include <rapidjson/error/en.h>

#include <charconv>

#include "broker/api/durable_acks.h"
#include "broker/api/kinesis_call.h"
#include "core/json.h"
#include "core/log.h"
#include "core/utf8.h"

namespace sluice::broker::api {

Result<std::unique_ptr<KinesisApi>> KinesisApi::Create(Broker* broker, const ApiOptions& options) {
  if (broker == nullptr) return InvalidArgument("kinesis api: no broker");
  if (options.clock == nullptr) return InvalidArgument("kinesis api: no clock");
  if (options.account_id.size() != 12 ||
      options.account_id.find_first_not_of("0123456789") != std::string::npos) {
    return InvalidArgument("kinesis api: account_id must be 12 digits, got '" + options.account_id +
                           "'");
  }
  if (options.data_dir.empty())
    return InvalidArgument("kinesis api: no data_dir for iterator keys");
  ASSIGN_OR_RETURN(TokenCodec tokens, TokenCodec::Open(options.data_dir));
  ASSIGN_OR_RETURN(
      std::unique_ptr<IteratorCodec> iterators,
      IteratorCodec::Open(options.data_dir, options.clock, std::chrono::milliseconds(300 * 1000)));
  std::unique_ptr<KinesisApi> api(
      new KinesisApi(broker, options, std::move(tokens), std::move(iterators)));
  RETURN_IF_ERROR(api->LoadMeta());
  return api;
}

KinesisApi::KinesisApi(Broker* broker, const ApiOptions& options, TokenCodec tokens,
                       std::unique_ptr<IteratorCodec> iterators)
    : broker_(broker),
      options_(options),
      tokens_(std::move(tokens)),
      iterators_(std::move(iterators)),
      out_buffer_(std::make_unique<rapidjson::StringBuffer>()) {}

std::optional<std::string> DeniedMessage(const ApiCaller& caller, std::string_view account_id,
                                         std::string_view action, std::string_view arn,
                                         std::string_view name) {
  if (caller.policy == nullptr) return std::nullopt;
  AccessDecision d = caller.policy->Evaluate(action, arn, name);
  if (d == AccessDecision::kAllow) return std::nullopt;
  // As AWS words it (the resource of a call on none is what IAM checks: stream/*).
  return "User: arn:aws:iam::" + std::string(account_id) + ":user/" +
         std::string(caller.access_key_id) +
         " is not authorized to perform: " + std::string(action) +
         " on resource: " + std::string(arn) +
         (d == AccessDecision::kExplicitDeny
              ? " with an explicit deny in an identity-based policy"
              : " because no identity-based policy allows the " + std::string(action) + " action");
}

bool KinesisApi::Authorize(Call& c, std::string_view operation, const ApiCaller* caller,
                           std::string* resource) {
  // The resource the request names: a stream (by ARN or name), a consumer, a tagged or policied
  // resource, or the stream an iterator was issued for. None: the account's streams.
  std::string arn, name;
  auto from_arn = [&](std::string_view a) {
    arn = std::string(a);
    if (auto n = StreamNameFromArn(a.substr(0, a.find("/consumer/")))) name = *n;
  };
  if (auto a = c.Str("StreamARN")) {
    from_arn(*a);
  } else if (auto n = c.Str("StreamName")) {
    name = std::string(*n);
    arn = StreamArn(name);
  } else if (auto ca = c.Str("ConsumerARN")) {
    from_arn(*ca);
  } else if (auto ra = c.Str("ResourceARN")) {
    from_arn(*ra);
  } else if (auto it = c.Str("ShardIterator")) {
    if (auto pos = iterators_->Decode(*it); pos.ok()) {
      name = pos->stream;
      arn = StreamArn(name);
    }
  }
  *resource = arn;
  if (caller == nullptr) return true;  // a listener without auth: no one to hold to a policy
  // The resource policy of the stream or consumer, if one is attached.
  const AccessPolicy* rp = nullptr;
  if (!name.empty()) {
    size_t at = arn.find("/consumer/");
    std::string_view consumer;
    if (at != std::string::npos) {
      consumer = std::string_view(arn).substr(at + 10);
      consumer = consumer.substr(0, consumer.rfind(':'));
    }
    rp = ResourcePolicyOf(name, consumer);
  }
  if (caller->policy == nullptr && rp == nullptr) return true;
  if (arn.empty()) {
    arn = "arn:aws:kinesis:" + options_.region + ":" + options_.account_id + ":stream/*";
  }
  std::string action = "kinesis:" + std::string(operation);
  // As IAM within one account: allowed when the key's own policy (none: everything) or the
  // resource's allows it, and neither denies it explicitly.
  AccessDecision identity =
      caller->policy ? caller->policy->Evaluate(action, arn, name) : AccessDecision::kAllow;
  std::string principal =
      "arn:aws:iam::" + options_.account_id + ":user/" + std::string(caller->access_key_id);
  AccessDecision resource_decision =
      rp ? rp->EvaluateFor(action, arn, principal, options_.account_id)
         : AccessDecision::kImplicitDeny;
  if (resource_decision == AccessDecision::kExplicitDeny &&
      identity != AccessDecision::kExplicitDeny) {
    c.Fail("AccessDeniedException",
           "User: " + principal + " is not authorized to perform: " + action +
               " on resource: " + arn + " with an explicit deny in a resource-based policy");
    return false;
  }
  if (identity != AccessDecision::kExplicitDeny &&
      (identity == AccessDecision::kAllow || resource_decision == AccessDecision::kAllow)) {
    return true;
  }
  auto denied = DeniedMessage(*caller, options_.account_id, action, arn, name);
  c.Fail("AccessDeniedException", denied ? *denied : "User: " + principal + " is not authorized");
  return false;
}

const AccessPolicy* KinesisApi::ResourcePolicyOf(const std::string& stream,
                                                 std::string_view consumer) {
  auto m = meta_.find(stream);
  if (m == meta_.end()) return nullptr;
  const std::string* text = &m->second.policy;
  if (!consumer.empty()) {
    auto c = m->second.consumer_policies.find(std::string(consumer));
    if (c == m->second.consumer_policies.end()) return nullptr;
    text = &c->second;
  }
  if (text->empty()) return nullptr;
  auto it = parsed_policies_.find(*text);
  if (it == parsed_policies_.end()) {
    auto p = AccessPolicy::FromResourceDocument(*text);
    // A stored policy that does not parse (written before policies were checked) grants nothing
    // and denies nothing.
    std::shared_ptr<const AccessPolicy> parsed =
        p.ok() ? std::make_shared<const AccessPolicy>(std::move(*p)) : nullptr;
    if (parsed_policies_.size() > 1024) parsed_policies_.clear();
    it = parsed_policies_.emplace(*text, std::move(parsed)).first;
  }
  return it->second.get();
}

void KinesisApi::Handle(std::string_view operation, std::string& body, ApiReply* reply,
                        const ApiCaller* caller) {
  using Op = void (KinesisApi::*)(Call&);
  struct Entry {
    std::string_view name;
    Op op;
  };
  static constexpr Entry kOps[] = {
      {"PutRecords", &KinesisApi::PutRecords},
      {"GetRecords", &KinesisApi::GetRecords},
      {"PutRecord", &KinesisApi::PutRecord},
      {"GetShardIterator", &KinesisApi::GetShardIterator},
      {"CreateStream", &KinesisApi::CreateStream},
      {"DeleteStream", &KinesisApi::DeleteStream},
      {"DescribeStream", &KinesisApi::DescribeStream},
      {"DescribeStreamSummary", &KinesisApi::DescribeStreamSummary},
      {"ListStreams", &KinesisApi::ListStreams},
      {"ListShards", &KinesisApi::ListShards},
      {"SplitShard", &KinesisApi::SplitShard},
      {"MergeShards", &KinesisApi::MergeShards},
      {"UpdateShardCount", &KinesisApi::UpdateShardCount},
      {"AddTagsToStream", &KinesisApi::AddTagsToStream},
      {"RemoveTagsFromStream", &KinesisApi::RemoveTagsFromStream},
      {"ListTagsForStream", &KinesisApi::ListTagsForStream},
      {"RegisterStreamConsumer", &KinesisApi::RegisterStreamConsumer},
      {"DescribeStreamConsumer", &KinesisApi::DescribeStreamConsumer},
      {"ListStreamConsumers", &KinesisApi::ListStreamConsumers},
      {"DeregisterStreamConsumer", &KinesisApi::DeregisterStreamConsumer},
      {"DescribeLimits", &KinesisApi::DescribeLimits},
      {"DescribeAccountSettings", &KinesisApi::DescribeAccountSettings},
      {"UpdateStreamMode", &KinesisApi::UpdateStreamMode},
      {"EnableEnhancedMonitoring", &KinesisApi::EnableEnhancedMonitoring},
      {"DisableEnhancedMonitoring", &KinesisApi::DisableEnhancedMonitoring},
      {"UpdateMaxRecordSize", &KinesisApi::UpdateMaxRecordSize},
      {"StartStreamEncryption", &KinesisApi::StartStreamEncryption},
      {"StopStreamEncryption", &KinesisApi::StopStreamEncryption},
      {"TagResource", &KinesisApi::TagResource},
      {"UntagResource", &KinesisApi::UntagResource},
      {"ListTagsForResource", &KinesisApi::ListTagsForResource},
      {"PutResourcePolicy", &KinesisApi::PutResourcePolicy},
      {"GetResourcePolicy", &KinesisApi::GetResourcePolicy},
      {"DeleteResourcePolicy", &KinesisApi::DeleteResourcePolicy},
  };
  Call c(*out_buffer_);
  RefreshMeta();
  std::string resource;
  int64_t records = -1;
  Op op = nullptr;
  for (const Entry& e : kOps) {
    if (e.name == operation) op = e.op;
  }
  bool increase = operation == "IncreaseStreamRetentionPeriod";
  bool retention = increase || operation == "DecreaseStreamRetentionPeriod";
  if (op == nullptr && !retention) {
    c.Fail("UnknownOperationException", "Unknown operation: '" + std::string(operation) + "'");
  } else {
    Status parsed = ParseRequestObject(body, &c.doc);
    if (!parsed.ok()) {
      c.Fail("SerializationException", parsed.message());
    } else if (Authorize(c, operation, caller, &resource)) {
      records = RecordsIn(operation, c.doc);
      c.w.StartObject();
      if (retention) {
        ChangeRetention(c, increase);
      } else {
        (this->*op)(c);
      }
      if (!c.failed) c.w.EndObject();
    }
  }
  Finish(c, reply);
  reply->resource = std::move(resource);
  reply->records = records;
  if (!c.failed && c.put_stream != nullptr) {
    DurableWait wait = WaitFor(*c.put_stream, c.put_generation);
    reply->durable_stream = std::move(wait.stream);
    reply->durable_generation = wait.generation;
  }
}

bool KinesisApi::PrepareSubscribe(std::string& body, ApiReply* reply, SubscriptionStart* start,
                                  const ApiCaller* caller) {
  Call c(*out_buffer_);
  if (!ParseRequestObject(body, &c.doc).ok()) {
    c.Fail("SerializationException", "The request body must be a JSON object");
  } else if (std::string resource; Authorize(c, "SubscribeToShard", caller, &resource)) {
    reply->resource = resource;
    c.w.StartObject();
    SubscribeToShard(c, start);
    if (!c.failed) c.w.EndObject();
  }
  Finish(c, reply);
  return !c.failed;
}

void KinesisApi::Finish(Call& c, ApiReply* reply) {
  if (c.failed) return SetErrorReply(c.http_status, c.error_type, c.error_message, reply);
  SetOkReply(c.buffer, reply);
}

Stream* KinesisApi::ResolveStream(Call& c) {
  std::optional<std::string_view> name = c.Str("StreamName");
  std::optional<std::string_view> arn = c.Str("StreamARN");
  c.StreamNameRules(name, "streamName");
  c.ArnRules(arn, "streamARN");
  if (!c.Check()) return nullptr;
  if (!name && !arn) {
    c.Fail("InvalidArgumentException", "Either StreamName or StreamARN should be provided.");
    return nullptr;
  }
  std::string n = name ? std::string(*name) : *StreamNameFromArn(*arn);
  if (name && arn && *StreamNameFromArn(*arn) != n) {
    c.Fail("InvalidArgumentException",
           "StreamARN " + std::string(*arn) + " does not name stream " + n + ".");
    return nullptr;
  }
  // An ARN of another region or account, or with anything after the name, is not one of ours;
  // nor is an internal stream this instance hides.
  bool ours = !arn || *arn == StreamArn(n);
  Result<Stream*> s = broker_->GetStream(n);
  if (!ours || Hidden(n) || !s.ok()) {
    c.Fail("ResourceNotFoundException",
           "Stream " + n + " under account " + options_.account_id + " not found.");
    return nullptr;
  }
  return *s;
}

KinesisApi::StreamMeta& KinesisApi::Meta(const std::string& stream) {
  auto it = meta_.find(stream);
  if (it == meta_.end()) {
    it = meta_.emplace(stream, StreamMeta{}).first;
    // First seen here (created by the daemon's config, or by the other API instance): the
    // stream's own creation time is that of its oldest shard still listed.
    int64_t created = options_.clock->NowMs();
    if (Result<Stream*> s = broker_->GetStream(stream); s.ok()) {
      for (const ShardInfo& sh : (*s)->ListShards()) {
        if (sh.created_ms > 0) created = std::min(created, sh.created_ms);
      }
    }
    it->second.created_ms = created;
    SaveMeta();  // keep its times stable
  }
  return it->second;
}

bool KinesisApi::Hidden(std::string_view stream) const {
  return !options_.internal_streams &&
         stream.substr(0, kDirectPutStreamPrefix.size()) == kDirectPutStreamPrefix;
}

std::string KinesisApi::StreamArn(std::string_view name) const {
  return "arn:aws:kinesis:" + options_.region + ":" + options_.account_id + ":stream/" +
         std::string(name);
}

std::string KinesisApi::ConsumerArn(std::string_view stream, std::string_view consumer,
                                    int64_t ms) const {
  return StreamArn(stream) + "/consumer/" + std::string(consumer) + ":" + std::to_string(ms / 1000);
}

void KinesisApi::WriteShard(Call& c, Stream*, const ShardInfo& info) {
  JsonWriter& w = c.w;
  w.StartObject();
  c.Field("ShardId", info.shard_id);
  if (info.parent_shard_id) c.Field("ParentShardId", *info.parent_shard_id);
  if (info.adjacent_parent_shard_id) {
    c.Field("AdjacentParentShardId", *info.adjacent_parent_shard_id);
  }
  w.Key("HashKeyRange");
  w.StartObject();
  c.Field("StartingHashKey", HashKeyToString(info.starting_hash_key));
  c.Field("EndingHashKey", HashKeyToString(info.ending_hash_key));
  w.EndObject();
  w.Key("SequenceNumberRange");
  w.StartObject();
  c.Field("StartingSequenceNumber", info.starting_sequence_number);
  if (info.ending_sequence_number) c.Field("EndingSequenceNumber", *info.ending_sequence_number);
  w.EndObject();
  w.EndObject();
}

Status ParseListenAddress(std::string_view listen, std::string* host, int* port) {
  std::string_view h, p;
  if (!listen.empty() && listen[0] == '[') {
    size_t close = listen.find(']');
    if (close == std::string_view::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      return InvalidArgument("listen address '" + std::string(listen) + "': expected [v6]:port");
    }
    h = listen.substr(1, close - 1);
    p = listen.substr(close + 2);
  } else {
    size_t colon = listen.rfind(':');
    if (colon == std::string_view::npos) {
      return InvalidArgument("listen address '" + std::string(listen) + "': expected host:port");
    }
    h = listen.substr(0, colon);
    p = listen.substr(colon + 1);
  }
  int v = -1;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
  if (h.empty() || ec != std::errc() || end != p.data() + p.size() || v < 0 || v > 65535) {
    return InvalidArgument("listen address '" + std::string(listen) +
                           "': expected host:port with a port in 0..65535");
  }
  *host = h == "localhost" ? "127.0.0.1" : std::string(h);
  *port = v;
  return Status::Ok();
}

}  // namespace sluice::broker::api
