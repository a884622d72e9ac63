// FirehoseApi's per-request state (FirehoseApi::Call), shared by firehose_api.cc (puts, lists),
// firehose_manage.cc (create, describe, update), firehose_tags.cc and firehose_encryption.cc.
// Internal to broker/api.
//
// THREADING: one Call per request, on the thread serving it.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/api/firehose_api.h"

namespace sluice::broker::api {

inline constexpr std::string_view kDestinationId = "destinationId-000000000001";

inline bool IsDeliveryName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

struct FirehoseApi::Call {
  explicit Call(rapidjson::StringBuffer& out) : w(out) { out.Clear(); }

  rapidjson::Document doc;
  rapidjson::Writer<rapidjson::StringBuffer> w;
  bool failed = false;
  int status = 400;
  std::string error_type, error_message;
  std::vector<std::string> violations;
  // Set by a put: its stream, and the write generation after its PutBatch.
  const Stream* put_stream = nullptr;
  uint64_t put_generation = 0;

  void Fail(std::string type, std::string message, int http_status = 400) {
    if (failed) return;
    failed = true;
    error_type = std::move(type);
    error_message = std::move(message);
    status = http_status;
  }
  // Collected constraint violations become one ValidationException, worded as AWS words them.
  bool Check() {
    if (failed) return false;
    if (violations.empty()) return true;
    std::string m = std::to_string(violations.size()) + " validation error" +
                    (violations.size() > 1 ? "s" : "") + " detected: ";
    for (size_t i = 0; i < violations.size(); ++i) {
      if (i) m += "; ";
      m += violations[i];
    }
    Fail("ValidationException", m);
    return false;
  }
  const rapidjson::Value* Get(const char* key, const rapidjson::Value* from = nullptr) {
    const rapidjson::Value& o = from ? *from : doc;
    if (!o.IsObject()) return nullptr;
    auto it = o.FindMember(key);
    if (it == o.MemberEnd() || it->value.IsNull()) return nullptr;
    return &it->value;
  }
  std::optional<std::string_view> Str(const char* key, const rapidjson::Value* from = nullptr) {
    const rapidjson::Value* v = Get(key, from);
    if (v == nullptr) return std::nullopt;
    if (!v->IsString()) {
      Fail("SerializationException", std::string("Expected a string for ") + key);
      return std::nullopt;
    }
    return std::string_view(v->GetString(), v->GetStringLength());
  }
  std::optional<int64_t> Int(const char* key) {
    const rapidjson::Value* v = Get(key);
    if (v == nullptr) return std::nullopt;
    if (!v->IsInt64()) {
      Fail("SerializationException", std::string("Expected an integer for ") + key);
      return std::nullopt;
    }
    return v->GetInt64();
  }
  // DeliveryStreamName: required, 1..64 of [a-zA-Z0-9_.-].
  std::optional<std::string_view> Name(const char* key = "DeliveryStreamName",
                                       std::string_view path = "deliveryStreamName") {
    std::optional<std::string_view> v = Str(key);
    if (!v) {
      violations.push_back("Value null at '" + std::string(path) +
                           "' failed to satisfy constraint: Member must not be null");
    } else if (v->empty() || v->size() > 64) {
      violations.push_back(
          "Value '" + std::string(*v) + "' at '" + std::string(path) +
          "' failed to satisfy constraint: Member must have length " +
          (v->empty() ? "greater than or equal to 1" : "less than or equal to 64"));
    } else if (!IsDeliveryName(*v)) {
      violations.push_back("Value '" + std::string(*v) + "' at '" + std::string(path) +
                           "' failed to satisfy constraint: Member must satisfy regular expression "
                           "pattern: [a-zA-Z0-9_.-]+");
    }
    return v;
  }
  void Field(const char* k, std::string_view v) {
    w.Key(k);
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  }
};

// A delivery stream has at most this many tags (Firehose's limit).
inline constexpr size_t kFirehoseMaxTags = 50;

// Reads a request's Tags ([{Key, Value}]) into *out, checked as Firehose checks them; false (and
// `c` holds the error) when they are not valid.
bool ReadFirehoseTags(FirehoseApi::Call& c, const rapidjson::Value* tags,
                      std::map<std::string, std::string>* out);

// Reads DeliveryStreamEncryptionConfigurationInput (`input`; null: none given, which is
// AWS_OWNED_CMK) into the encryption of the broker stream it asks for and the KeyARN to keep
// ("" for AWS_OWNED_CMK), checked as Firehose checks it (the collected violations included);
// false (and `c` holds the error) when the request is not valid.
bool ReadEncryptionInput(FirehoseApi::Call& c, const rapidjson::Value* input,
                         StreamEncryption* want, std::string* key_arn);

}  // namespace sluice::broker::api
