// Enhanced fan-out consumers: Register, Describe, List, Deregister. A consumer is a broker
// consumer (durable checkpoints); its ARN and creation time live in the API layer.
#include <algorithm>

#include "broker/api/kinesis_call.h"
#include "broker/iterator.h"

namespace sluice::broker::api {
namespace {

constexpr size_t kMaxConsumers = 20;
constexpr size_t kMaxConsumerTags = 50;

struct ConsumerRef {
  std::string stream;
  std::string consumer;
};

// arn:aws:kinesis:<region>:<account>:stream/<stream>/consumer/<name>:<seconds>
std::optional<ConsumerRef> ParseConsumerArn(std::string_view arn) {
  std::optional<std::string> stream = StreamNameFromArn(arn);
  if (!stream) return std::nullopt;
  size_t p = arn.find("/consumer/");
  if (p == std::string_view::npos) return std::nullopt;
  std::string_view rest = arn.substr(p + 10);
  size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == rest.size()) {
    return std::nullopt;
  }
  std::string_view name = rest.substr(0, colon);
  std::string_view ts = rest.substr(colon + 1);
  if (!IsStreamName(name) || ts.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  return ConsumerRef{*stream, std::string(name)};
}

// When a consumer was registered: through this API (the API's own record, which its ARN
// carries), else by a delivery of the daemon (the broker's), else, for consumers of data
// directories older than either record, the stream's creation.
template <class Meta>
int64_t ConsumerCreated(const Stream& s, const Meta& m, const std::string& name) {
  auto it = m.consumer_created_ms.find(name);
  if (it != m.consumer_created_ms.end()) return it->second;
  int64_t broker_ms = s.ConsumerCreatedMs(name);
  return broker_ms != 0 ? broker_ms : m.created_ms;
}

}  // namespace

void KinesisApi::RegisterStreamConsumer(Call& c) {
  std::optional<std::string_view> arn = c.Str("StreamARN");
  std::optional<std::string_view> name = c.Str("ConsumerName");
  const rapidjson::Value* tags = c.Object("Tags");
  c.NotNull(arn.has_value(), "streamARN");
  c.NotNull(name.has_value(), "consumerName");
  c.StreamNameRules(name, "consumerName");
  Tags initial;
  if (!ReadTagMap(c, tags, &initial)) return;
  Stream* s = ResolveStream(c);
  if (s == nullptr) return;
  if (initial.size() > kMaxConsumerTags) {
    c.Fail("LimitExceededException",
           "A consumer cannot have more than " + std::to_string(kMaxConsumerTags) + " tags.");
    return;
  }
  std::vector<std::string> existing = s->ListConsumers();
  if (std::find(existing.begin(), existing.end(), *name) != existing.end()) {
    c.Fail("ResourceInUseException", "Consumer " + std::string(*name) + " under stream " +
                                         s->name() + " already exists for account " +
                                         options_.account_id + ".");
    return;
  }
  if (existing.size() >= kMaxConsumers) {
    c.Fail("LimitExceededException", "Stream " + s->name() + " under account " +
                                         options_.account_id + " already has " +
                                         std::to_string(kMaxConsumers) + " consumers.");
    return;
  }
  Status st = s->RegisterConsumer(*name);
  if (!st.ok()) {
    c.Fail(st.code() == Code::kAlreadyExists ? "ResourceInUseException" : "InternalFailure",
           "RegisterStreamConsumer: " + st.message(),
           st.code() == Code::kAlreadyExists ? 400 : 500);
    return;
  }
  int64_t now = options_.clock->NowMs();
  StreamMeta& m = Meta(s->name());
  m.consumer_created_ms[std::string(*name)] = now;
  // A consumer registered again under an old name starts without the old one's tags and policy.
  m.consumer_tags.erase(std::string(*name));
  m.consumer_policies.erase(std::string(*name));
  if (!initial.empty()) m.consumer_tags[std::string(*name)] = std::move(initial);
  SaveMeta();
  c.Key("Consumer");
  c.w.StartObject();
  c.Field("ConsumerName", *name);
  c.Field("ConsumerARN", ConsumerArn(s->name(), *name, now));
  c.Field("ConsumerStatus", "ACTIVE");
  c.Key("ConsumerCreationTimestamp");
  c.w.Double(static_cast<double>(now / 1000));
  c.w.EndObject();
}

// Shared by Describe and Deregister: either ConsumerARN, or StreamARN plus ConsumerName.
bool KinesisApi::FindConsumer(Call& c, Stream** stream, std::string* consumer) {
  const std::string& account = options_.account_id;
  Broker* broker = broker_;
  std::optional<std::string_view> carn = c.Str("ConsumerARN");
  std::optional<std::string_view> sarn = c.Str("StreamARN");
  std::optional<std::string_view> name = c.Str("ConsumerName");
  c.Length(carn, "consumerARN", 1, 2048);
  c.Pattern(carn, "consumerARN", carn && ParseConsumerArn(*carn).has_value(),
            "^(arn):aws.*:kinesis:.*:\\d{12}:.*stream\\/[a-zA-Z0-9_.-]+\\/consumer\\/"
            "[a-zA-Z0-9_.-]+:[0-9]+");
  c.ArnRules(sarn, "streamARN");
  c.StreamNameRules(name, "consumerName");
  if (!c.Check()) return false;
  ConsumerRef ref;
  bool ours = true;  // the ARN names this region and account, in the form we write
  if (carn) {
    ref = *ParseConsumerArn(*carn);
    ours =
        carn->substr(0, StreamArn(ref.stream).size() + 10) == StreamArn(ref.stream) + "/consumer/";
  } else if (sarn && name) {
    ref = ConsumerRef{*StreamNameFromArn(*sarn), std::string(*name)};
    ours = *sarn == StreamArn(ref.stream);
  } else {
    c.Fail("InvalidArgumentException",
           "Either ConsumerARN or both ConsumerName and StreamARN must be provided.");
    return false;
  }
  Result<Stream*> s = broker->GetStream(ref.stream);
  std::vector<std::string> list;
  if (s.ok()) list = (*s)->ListConsumers();
  if (!ours || Hidden(ref.stream) || !s.ok() ||
      std::find(list.begin(), list.end(), ref.consumer) == list.end()) {
    c.Fail("ResourceNotFoundException", "Consumer " + ref.consumer + " under stream " + ref.stream +
                                            " not found for account " + account + ".");
    return false;
  }
  *stream = *s;
  *consumer = ref.consumer;
  return true;
}

void KinesisApi::DescribeStreamConsumer(Call& c) {
  Stream* s = nullptr;
  std::string name;
  if (!FindConsumer(c, &s, &name)) return;
  StreamMeta& m = Meta(s->name());
  int64_t created = ConsumerCreated(*s, m, name);
  c.Key("ConsumerDescription");
  c.w.StartObject();
  c.Field("ConsumerName", name);
  c.Field("ConsumerARN", ConsumerArn(s->name(), name, created));
  c.Field("ConsumerStatus", "ACTIVE");
  c.Key("ConsumerCreationTimestamp");
  c.w.Double(static_cast<double>(created / 1000));
  c.Field("StreamARN", StreamArn(s->name()));
  c.w.EndObject();
}

void KinesisApi::DeregisterStreamConsumer(Call& c) {
  Stream* s = nullptr;
  std::string name;
  if (!FindConsumer(c, &s, &name)) return;
  Status st = s->DeregisterConsumer(name);
  if (st.code() == Code::kAlreadyExists) {
    c.Fail("ResourceInUseException", st.message());
    return;
  }
  if (!st.ok()) {
    c.Fail("InternalFailure", "DeregisterStreamConsumer: " + st.message(), 500);
    return;
  }
  StreamMeta& m = Meta(s->name());
  m.consumer_created_ms.erase(name);
  m.consumer_tags.erase(name);
  m.consumer_policies.erase(name);
  SaveMeta();
}

void KinesisApi::ListStreamConsumers(Call& c) {
  std::optional<std::string_view> arn = c.Str("StreamARN");
  std::optional<int64_t> max_results = c.Int("MaxResults");
  std::optional<std::string_view> next = c.Str("NextToken");
  c.NotNull(arn.has_value(), "streamARN");
  c.Range(max_results, "maxResults", 1, 10000);
  c.Length(next, "nextToken", 1, 1048576);
  Stream* s = ResolveStream(c);
  if (s == nullptr) return;
  std::string after;
  if (next) {
    Result<TokenFields> t = tokens_.Decode(*next, kTokenListConsumers);
    if (!t.ok() || t->extra != s->name()) {
      c.Fail("InvalidArgumentException", "Invalid NextToken.");
      return;
    }
    if (options_.clock->NowMs() - t->issued_ms > 300 * 1000) {
      c.Fail("ExpiredNextTokenException", "The NextToken has expired.");
      return;
    }
    after = t->name;
  }
  std::vector<std::string> names = s->ListConsumers();
  std::sort(names.begin(), names.end());
  StreamMeta& m = Meta(s->name());
  size_t max = static_cast<size_t>(max_results.value_or(100));
  size_t n = 0;
  std::string last;
  bool more = false;
  c.Key("Consumers");
  c.w.StartArray();
  for (const std::string& name : names) {
    if (!after.empty() && name <= after) continue;
    if (n == max) {
      more = true;
      break;
    }
    int64_t created = ConsumerCreated(*s, m, name);
    c.w.StartObject();
    c.Field("ConsumerName", name);
    c.Field("ConsumerARN", ConsumerArn(s->name(), name, created));
    c.Field("ConsumerStatus", "ACTIVE");
    c.Key("ConsumerCreationTimestamp");
    c.w.Double(static_cast<double>(created / 1000));
    c.w.EndObject();
    last = name;
    n++;
  }
  c.w.EndArray();
  if (more) {
    TokenFields t;
    t.kind = kTokenListConsumers;
    t.issued_ms = options_.clock->NowMs();
    t.name = last;
    t.extra = s->name();
    c.Field("NextToken", tokens_.Encode(t));
  }
}

bool KinesisApi::ResolveResource(Call& c, Resource* out) {
  std::optional<std::string_view> arn = c.Str("ResourceARN");
  c.NotNull(arn.has_value(), "resourceARN");
  c.Length(arn, "resourceARN", 1, 2048);
  c.Pattern(arn, "resourceARN", arn && StreamNameFromArn(*arn).has_value(),
            "arn:aws.*:kinesis:.*:\\d{12}:.*stream/\\S+");
  if (!c.Check()) return false;
  std::string stream = *StreamNameFromArn(*arn);
  const std::string& account = options_.account_id;
  Result<Stream*> s = broker_->GetStream(stream);
  if (arn->find("/consumer/") == std::string_view::npos) {
    // An ARN of another region or account, or with more after the name, is not one of ours.
    if (*arn != StreamArn(stream) || Hidden(stream) || !s.ok()) {
      c.Fail("ResourceNotFoundException",
             "Stream " + stream + " under account " + account + " not found.");
      return false;
    }
    *out = Resource{*s, ""};
    return true;
  }
  std::optional<ConsumerRef> ref = ParseConsumerArn(*arn);
  if (!ref) {
    c.Fail("InvalidArgumentException",
           "ResourceARN " + Quote(*arn) + " names neither a stream nor a consumer.");
    return false;
  }
  std::vector<std::string> list;
  if (s.ok()) list = (*s)->ListConsumers();
  bool found = arn->substr(0, StreamArn(stream).size() + 10) == StreamArn(stream) + "/consumer/" &&
               !Hidden(stream) && s.ok() &&
               std::find(list.begin(), list.end(), ref->consumer) != list.end();
  // The ARN's time must be this registration's: an older consumer of the same name is gone.
  if (found) {
    int64_t created = ConsumerCreated(**s, Meta(stream), ref->consumer);
    found = std::string(*arn) == ConsumerArn(stream, ref->consumer, created);
  }
  if (!found) {
    c.Fail("ResourceNotFoundException", "Consumer " + ref->consumer + " under stream " + stream +
                                            " not found for account " + account + ".");
    return false;
  }
  *out = Resource{*s, ref->consumer};
  return true;
}

void KinesisApi::SubscribeToShard(Call& c, SubscriptionStart* start) {
  std::optional<std::string_view> carn = c.Str("ConsumerARN");
  std::optional<std::string_view> shard = c.Str("ShardId");
  const rapidjson::Value* pos = c.Object("StartingPosition");
  std::optional<std::string_view> type, seq;
  std::optional<int64_t> ts;
  if (pos) {
    type = c.Str("Type", pos);
    seq = c.Str("SequenceNumber", pos);
    ts = c.TimestampMs("Timestamp", pos);
  }
  c.NotNull(carn.has_value(), "consumerARN");
  c.NotNull(shard.has_value(), "shardId");
  c.NotNull(pos != nullptr, "startingPosition");
  if (pos) c.NotNull(type.has_value(), "startingPosition.type");
  c.Pattern(carn, "consumerARN", carn && ParseConsumerArn(*carn).has_value(),
            "^(arn):aws.*:kinesis:.*:\\d{12}:.*stream\\/[a-zA-Z0-9_.-]+\\/consumer\\/"
            "[a-zA-Z0-9_.-]+:[0-9]+");
  c.ShardIdRules(shard, "shardId");
  c.Enum(type, "startingPosition.type",
         {"AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"});
  if (!c.Check()) return;
  ConsumerRef ref = *ParseConsumerArn(*carn);
  Result<Stream*> s = broker_->GetStream(ref.stream);
  std::vector<std::string> list;
  if (s.ok()) list = (*s)->ListConsumers();
  if (!s.ok() || std::find(list.begin(), list.end(), ref.consumer) == list.end()) {
    c.Fail("ResourceNotFoundException", "Consumer " + std::string(*carn) + " not found.");
    return;
  }
  std::optional<uint32_t> index = ParseShardId(*shard);
  Result<ShardInfo> info = index ? (*s)->GetShard(*index) : Result<ShardInfo>(NotFound("no"));
  if (!info.ok()) {
    c.Fail("ResourceNotFoundException", "Shard " + std::string(*shard) + " in stream " +
                                            ref.stream + " under account " + options_.account_id +
                                            " does not exist");
    return;
  }
  bool by_seq = *type == "AT_SEQUENCE_NUMBER" || *type == "AFTER_SEQUENCE_NUMBER";
  if (by_seq != seq.has_value() || (*type == "AT_TIMESTAMP") != ts.has_value()) {
    c.Fail("InvalidArgumentException",
           "StartingPosition of type " + std::string(*type) +
               (by_seq                    ? " needs a SequenceNumber"
                : *type == "AT_TIMESTAMP" ? " needs a Timestamp"
                                          : " takes no SequenceNumber or Timestamp") +
               ".");
    return;
  }
  Result<IteratorType> it_type = ParseIteratorType(*type);
  Result<uint64_t> offset =
      it_type.ok() ? IteratorStartOffset(**s, *index, *it_type, seq.value_or(""), ts.value_or(0))
                   : Result<uint64_t>(it_type.status());
  if (!offset.ok()) {
    c.Fail("InvalidArgumentException", "Invalid StartingPosition for shard " + info->shard_id +
                                           ": " + offset.status().message());
    return;
  }
  start->stream = ref.stream;
  start->consumer = ref.consumer;
  start->consumer_arn = std::string(*carn);
  start->shard_index = *index;
  start->offset = *offset;
}

}  // namespace sluice::broker::api
