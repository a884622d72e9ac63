// FirehoseApi's tags (TagDeliveryStream, UntagDeliveryStream, ListTagsForDeliveryStream), kept by
// the DeliveryController.
#include "broker/api/firehose_api.h"
#include "broker/api/firehose_call.h"

namespace sluice::broker::api {

// Tags: [{Key, Value}] of a request, checked as Firehose checks them.
bool ReadFirehoseTags(FirehoseApi::Call& c, const rapidjson::Value* tags,
                      std::map<std::string, std::string>* out) {
  if (tags == nullptr) return true;
  if (!tags->IsArray()) {
    c.Fail("SerializationException", "Expected a list for Tags");
    return false;
  }
  if (tags->Size() > kFirehoseMaxTags) {
    c.violations.push_back(
        "Value at 'tags' failed to satisfy constraint: Member must have length "
        "less than or equal to 50");
  }
  rapidjson::SizeType i = 0;
  for (const rapidjson::Value& t : tags->GetArray()) {
    ++i;
    std::optional<std::string_view> key = c.Str("Key", &t);
    std::optional<std::string_view> value = c.Str("Value", &t);
    if (c.failed) return false;
    std::string at = "tags." + std::to_string(i) + ".member.";
    if (!key) {
      c.violations.push_back("Value null at '" + at +
                             "key' failed to satisfy constraint: Member must not be null");
      continue;
    }
    if (key->empty() || key->size() > 128) {
      c.violations.push_back(
          "Value '" + std::string(*key) + "' at '" + at +
          "key' failed to satisfy constraint: Member must have length " +
          (key->empty() ? "greater than or equal to 1" : "less than or equal to 128"));
    }
    if (value && value->size() > 256) {
      c.violations.push_back("Value at '" + at +
                             "value' failed to satisfy constraint: Member must have length less "
                             "than or equal to 256");
    }
    if (key->rfind("aws:", 0) == 0) {
      c.Fail("InvalidArgumentException", "Tag keys must not start with 'aws:'");
      return false;
    }
    (*out)[std::string(*key)] = std::string(value.value_or(""));
  }
  return c.Check();
}

void FirehoseApi::TagDeliveryStream(Call& c) {
  std::optional<std::string_view> name = c.Name();
  const rapidjson::Value* tags = c.Get("Tags");
  if (tags == nullptr) {
    c.violations.push_back(
        "Value null at 'tags' failed to satisfy constraint: Member must not be null");
  }
  std::map<std::string, std::string> add;
  if (!ReadFirehoseTags(c, tags, &add)) return;
  if (Controller(c, "TagDeliveryStream") == nullptr) return;
  FirehoseStreamState state;
  if (!Lookup(c, *name, &state)) return;
  std::map<std::string, std::string> merged = state.tags;
  for (auto& [k, v] : add) merged[k] = v;
  if (merged.size() > kFirehoseMaxTags) {
    return c.Fail(
        "LimitExceededException",
        "A delivery stream has at most 50 tags; it would have " + std::to_string(merged.size()));
  }
  state.tags = std::move(merged);
  ApplyState(c, state, false);
}

void FirehoseApi::UntagDeliveryStream(Call& c) {
  std::optional<std::string_view> name = c.Name();
  const rapidjson::Value* keys = c.Get("TagKeys");
  if (keys == nullptr) {
    c.violations.push_back(
        "Value null at 'tagKeys' failed to satisfy constraint: Member must not be null");
  } else if (!keys->IsArray()) {
    return c.Fail("SerializationException", "Expected a list for TagKeys");
  } else if (keys->Empty() || keys->Size() > kFirehoseMaxTags) {
    c.violations.push_back(
        std::string("Value at 'tagKeys' failed to satisfy constraint: Member must have length ") +
        (keys->Empty() ? "greater than or equal to 1" : "less than or equal to 50"));
  }
  if (!c.Check()) return;
  if (Controller(c, "UntagDeliveryStream") == nullptr) return;
  FirehoseStreamState state;
  if (!Lookup(c, *name, &state)) return;
  for (const rapidjson::Value& k : keys->GetArray()) {
    if (k.IsString()) state.tags.erase(k.GetString());
  }
  ApplyState(c, state, false);
}

void FirehoseApi::ListTagsForDeliveryStream(Call& c) {
  std::optional<std::string_view> name = c.Name();
  std::optional<std::string_view> start = c.Str("ExclusiveStartTagKey");
  std::optional<int64_t> limit = c.Int("Limit");
  if (limit && (*limit < 1 || *limit > 50)) {
    c.violations.push_back(
        "Value '" + std::to_string(*limit) +
        "' at 'limit' failed to satisfy constraint: Member must have value " +
        (*limit < 1 ? "greater than or equal to 1" : "less than or equal to 50"));
  }
  if (!c.Check()) return;
  FirehoseStreamState state;
  if (!Lookup(c, *name, &state)) return;
  size_t max = static_cast<size_t>(limit.value_or(50));
  size_t n = 0;
  bool more = false;
  c.w.Key("Tags");
  c.w.StartArray();
  for (const auto& [k, v] : state.tags) {
    if (start && k <= *start) continue;
    if (n == max) {
      more = true;
      break;
    }
    c.w.StartObject();
    c.Field("Key", k);
    c.Field("Value", v);
    c.w.EndObject();
    ++n;
  }
  c.w.EndArray();
  c.w.Key("HasMoreTags");
  c.w.Bool(more);
}

}  // namespace sluice::broker::api
