// Tags and resource policies of streams and consumers, named by ResourceARN: TagResource,
// UntagResource, ListTagsForResource, Put/Get/DeleteResourcePolicy. A stream's tags are the ones
// AddTagsToStream and ListTagsForStream see. Policies are checked when put (a resource policy:
// statements with a Principal) and enforced by KinesisApi::Authorize.
#include "broker/api/kinesis_call.h"
#include "core/json.h"

namespace sluice::broker::api {
namespace {

constexpr size_t kMaxTags = 50;

}  // namespace

bool KinesisApi::ReadTagMap(Call& c, const rapidjson::Value* tags, Tags* out) {
  if (tags == nullptr) return true;
  for (auto it = tags->MemberBegin(); it != tags->MemberEnd(); ++it) {
    if (!it->value.IsString()) {
      c.Fail("SerializationException",
             "Expected a string for the value of tag '" + std::string(it->name.GetString()) + "'");
      return false;
    }
    std::string_view k(it->name.GetString(), it->name.GetStringLength());
    std::string_view v(it->value.GetString(), it->value.GetStringLength());
    c.Length(k, "tags.key", 1, 128);
    c.Length(v, "tags.value", 0, 256);
    (*out)[std::string(k)] = std::string(v);
  }
  return true;
}

void KinesisApi::TagResource(Call& c) {
  const rapidjson::Value* tags = c.Object("Tags");
  c.NotNull(tags != nullptr, "tags");
  Tags add;
  if (!ReadTagMap(c, tags, &add)) return;
  Resource r;
  if (!ResolveResource(c, &r)) return;
  StreamMeta& m = Meta(r.stream->name());
  Tags& have = r.consumer.empty() ? m.tags : m.consumer_tags[r.consumer];
  size_t total = have.size();
  for (const auto& [k, v] : add) total += have.count(k) ? 0 : 1;
  if (total > kMaxTags) {
    c.Fail("LimitExceededException", "Failed to add tags to " + std::string(*c.Str("ResourceARN")) +
                                         " because a resource cannot have more than " +
                                         std::to_string(kMaxTags) + " tags.");
    if (have.empty() && !r.consumer.empty()) m.consumer_tags.erase(r.consumer);
    return;
  }
  for (auto& [k, v] : add) have[k] = std::move(v);
  if (have.empty() && !r.consumer.empty()) m.consumer_tags.erase(r.consumer);
  SaveMeta();
}

void KinesisApi::UntagResource(Call& c) {
  const rapidjson::Value* keys = c.Array("TagKeys");
  c.NotNull(keys != nullptr, "tagKeys");
  std::vector<std::string> remove;
  if (keys) {
    for (const rapidjson::Value& k : keys->GetArray()) {
      if (!k.IsString()) {
        c.Fail("SerializationException", "Expected strings in 'TagKeys'");
        return;
      }
      remove.emplace_back(k.GetString(), k.GetStringLength());
      c.Length(std::string_view(remove.back()), "tagKeys.member", 1, 128);
    }
  }
  Resource r;
  if (!ResolveResource(c, &r)) return;
  StreamMeta& m = Meta(r.stream->name());
  if (r.consumer.empty()) {
    for (const std::string& k : remove) m.tags.erase(k);
  } else if (auto it = m.consumer_tags.find(r.consumer); it != m.consumer_tags.end()) {
    for (const std::string& k : remove) it->second.erase(k);
    if (it->second.empty()) m.consumer_tags.erase(it);
  }
  SaveMeta();
}

void KinesisApi::ListTagsForResource(Call& c) {
  Resource r;
  if (!ResolveResource(c, &r)) return;
  StreamMeta& m = Meta(r.stream->name());
  const Tags* tags = &m.tags;
  Tags none;
  if (!r.consumer.empty()) {
    auto it = m.consumer_tags.find(r.consumer);
    tags = it != m.consumer_tags.end() ? &it->second : &none;
  }
  c.Key("Tags");
  c.w.StartArray();
  for (const auto& [k, v] : *tags) {
    c.w.StartObject();
    c.Field("Key", k);
    c.Field("Value", v);
    c.w.EndObject();
  }
  c.w.EndArray();
}

void KinesisApi::PutResourcePolicy(Call& c) {
  std::optional<std::string_view> policy = c.Str("Policy");
  c.NotNull(policy.has_value(), "policy");
  Resource r;
  if (!ResolveResource(c, &r)) return;
  rapidjson::Document doc;
  Status parsed = ParseJson(*policy, &doc);
  if (!parsed.ok() || !doc.IsObject()) {
    c.Fail("InvalidArgumentException",
           "Policy is not a JSON object" + (parsed.ok() ? "" : ": " + parsed.message()) + ".");
    return;
  }
  if (auto checked = AccessPolicy::FromResourceDocument(*policy); !checked.ok()) {
    c.Fail("InvalidArgumentException", "Invalid policy: " + checked.status().message() + ".");
    return;
  }
  StreamMeta& m = Meta(r.stream->name());
  (r.consumer.empty() ? m.policy : m.consumer_policies[r.consumer]) = std::string(*policy);
  SaveMeta();
}

void KinesisApi::GetResourcePolicy(Call& c) {
  Resource r;
  if (!ResolveResource(c, &r)) return;
  StreamMeta& m = Meta(r.stream->name());
  std::string_view policy = m.policy;
  if (!r.consumer.empty()) {
    auto it = m.consumer_policies.find(r.consumer);
    policy = it != m.consumer_policies.end() ? std::string_view(it->second) : "";
  }
  // No policy attached reads as the empty policy document.
  c.Field("Policy", policy.empty() ? "{}" : policy);
}

void KinesisApi::DeleteResourcePolicy(Call& c) {
  Resource r;
  if (!ResolveResource(c, &r)) return;
  StreamMeta& m = Meta(r.stream->name());
  bool had = r.consumer.empty() ? !m.policy.empty() : m.consumer_policies.count(r.consumer) > 0;
  if (r.consumer.empty()) {
    m.policy.clear();
  } else {
    m.consumer_policies.erase(r.consumer);
  }
  if (had) SaveMeta();
}

}  // namespace sluice::broker::api
