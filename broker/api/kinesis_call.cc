#include "broker/api/kinesis_call.h"

#include <charconv>
#include <cmath>
#include <limits>

#include "core/utf8.h"

namespace sluice::broker::api {
namespace {

const char* TypeName(const rapidjson::Value& v) {
  switch (v.GetType()) {
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      return "a boolean";
    case rapidjson::kObjectType:
      return "an object";
    case rapidjson::kArrayType:
      return "an array";
    case rapidjson::kStringType:
      return "a string";
    case rapidjson::kNumberType:
      return "a number";
    default:
      return "null";
  }
}

}  // namespace

std::string Quote(std::string_view v) {
  bool cut = v.size() > 64;
  std::string out;
  out.reserve(72);
  out.push_back('\'');
  out.append(v.substr(0, 64));
  if (cut) out.append("...");
  out.push_back('\'');
  return out;
}

bool KinesisApi::Call::Check() {
  if (!failed && !violations.empty()) {
    std::string msg =
        std::to_string(violations.size()) +
        (violations.size() == 1 ? " validation error detected: " : " validation errors detected: ");
    for (size_t i = 0; i < violations.size(); i++) {
      if (i > 0) msg += "; ";
      msg += violations[i];
    }
    Fail("ValidationException", msg);
  }
  return !failed;
}

const rapidjson::Value* KinesisApi::Call::Get(const char* key, const rapidjson::Value* from) {
  const rapidjson::Value& obj = from ? *from : doc;
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

std::optional<std::string_view> KinesisApi::Call::Str(const char* key,
                                                      const rapidjson::Value* from) {
  const rapidjson::Value* v = Get(key, from);
  if (v == nullptr) return std::nullopt;
  if (!v->IsString()) {
    Fail("SerializationException",
         std::string("Expected a string for '") + key + "', got " + TypeName(*v));
    return std::nullopt;
  }
  return std::string_view(v->GetString(), v->GetStringLength());
}

std::optional<int64_t> KinesisApi::Call::Int(const char* key, const rapidjson::Value* from) {
  const rapidjson::Value* v = Get(key, from);
  if (v == nullptr) return std::nullopt;
  if (v->IsInt64()) return v->GetInt64();
  if (v->IsDouble() && std::floor(v->GetDouble()) == v->GetDouble() &&
      std::fabs(v->GetDouble()) < 9e18) {
    return static_cast<int64_t>(v->GetDouble());
  }
  Fail("SerializationException",
       std::string("Expected an integer for '") + key + "', got " + TypeName(*v));
  return std::nullopt;
}

std::optional<int64_t> KinesisApi::Call::TimestampMs(const char* key,
                                                     const rapidjson::Value* from) {
  const rapidjson::Value* v = Get(key, from);
  if (v == nullptr) return std::nullopt;
  std::optional<double> seconds;
  if (v->IsNumber()) seconds = v->GetDouble();
  if (v->IsString()) {  // some clients send timestamps as numeric strings
    double d = 0;
    const char* s = v->GetString();
    auto [p, ec] = std::from_chars(s, s + v->GetStringLength(), d);
    if (ec == std::errc() && p == s + v->GetStringLength()) seconds = d;
  }
  if (!seconds || !std::isfinite(*seconds)) {
    Fail("SerializationException",
         std::string("Expected a number (epoch seconds) for '") + key + "', got " + TypeName(*v));
    return std::nullopt;
  }
  // Beyond ±9.2e15 s the product leaves int64: clamp before converting (the cast is UB there).
  double ms = *seconds * 1000.0;
  constexpr double kMax = 9.2e18;
  if (ms >= kMax) return std::numeric_limits<int64_t>::max();
  if (ms <= -kMax) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(ms);
}

const rapidjson::Value* KinesisApi::Call::Object(const char* key, const rapidjson::Value* from) {
  const rapidjson::Value* v = Get(key, from);
  if (v == nullptr) return nullptr;
  if (!v->IsObject()) {
    Fail("SerializationException",
         std::string("Expected an object for '") + key + "', got " + TypeName(*v));
    return nullptr;
  }
  return v;
}

const rapidjson::Value* KinesisApi::Call::Array(const char* key, const rapidjson::Value* from) {
  const rapidjson::Value* v = Get(key, from);
  if (v == nullptr) return nullptr;
  if (!v->IsArray()) {
    Fail("SerializationException",
         std::string("Expected an array for '") + key + "', got " + TypeName(*v));
    return nullptr;
  }
  return v;
}

void KinesisApi::Call::NotNull(bool present, std::string_view path) {
  if (!present) {
    violations.push_back("Value null at '" + std::string(path) +
                         "' failed to satisfy constraint: Member must not be null");
  }
}

void KinesisApi::Call::Length(std::optional<std::string_view> v, std::string_view path, size_t min,
                              size_t max) {
  if (!v) return;
  size_t length = Utf8Chars(*v);  // AWS counts characters, not bytes
  if (length < min) {
    violations.push_back("Value " + Quote(*v) + " at '" + std::string(path) +
                         "' failed to satisfy constraint: Member must have length greater than "
                         "or equal to " +
                         std::to_string(min));
  } else if (length > max) {
    violations.push_back("Value " + Quote(*v) + " at '" + std::string(path) +
                         "' failed to satisfy constraint: Member must have length less than or "
                         "equal to " +
                         std::to_string(max));
  }
}

void KinesisApi::Call::Range(std::optional<int64_t> v, std::string_view path, int64_t min,
                             int64_t max) {
  if (!v) return;
  if (*v < min) {
    violations.push_back("Value '" + std::to_string(*v) + "' at '" + std::string(path) +
                         "' failed to satisfy constraint: Member must have value greater than or "
                         "equal to " +
                         std::to_string(min));
  } else if (*v > max) {
    violations.push_back("Value '" + std::to_string(*v) + "' at '" + std::string(path) +
                         "' failed to satisfy constraint: Member must have value less than or "
                         "equal to " +
                         std::to_string(max));
  }
}

void KinesisApi::Call::Pattern(std::optional<std::string_view> v, std::string_view path, bool ok,
                               std::string_view pattern) {
  if (!v || ok) return;
  violations.push_back("Value " + Quote(*v) + " at '" + std::string(path) +
                       "' failed to satisfy constraint: Member must satisfy regular expression "
                       "pattern: " +
                       std::string(pattern));
}

void KinesisApi::Call::Enum(std::optional<std::string_view> v, std::string_view path,
                            std::initializer_list<std::string_view> values) {
  if (!v) return;
  std::string set;
  for (std::string_view e : values) {
    if (e == *v) return;
    set += set.empty() ? "" : ", ";
    set += e;
  }
  violations.push_back("Value " + Quote(*v) + " at '" + std::string(path) +
                       "' failed to satisfy constraint: Member must satisfy enum value set: [" +
                       set + "]");
}

std::string_view SequenceText::Format(uint32_t shard_index, uint64_t offset) {
  return std::string_view(buf, FormatSequenceNumber(shard_index, offset, buf));
}

void WriteEpochSeconds(JsonWriter& w, int64_t ms) {
  char buf[32];
  if (ms < 0) {
    w.Double(static_cast<double>(ms) / 1000.0);
    return;
  }
  int n = snprintf(buf, sizeof(buf), "%lld.%03d", static_cast<long long>(ms / 1000),
                   static_cast<int>(ms % 1000));
  w.RawValue(buf, static_cast<size_t>(n), rapidjson::kNumberType);
}

bool IsStreamName(std::string_view s) {
  for (char ch : s) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-';
    if (!ok) return false;
  }
  return true;
}

void KinesisApi::Call::StreamNameRules(std::optional<std::string_view> v, std::string_view path) {
  Length(v, path, 1, 128);
  Pattern(v, path, v && IsStreamName(*v), "[a-zA-Z0-9_.-]+");
}

void KinesisApi::Call::ArnRules(std::optional<std::string_view> v, std::string_view path) {
  Length(v, path, 1, 2048);
  Pattern(v, path, v && StreamNameFromArn(*v).has_value(),
          "arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+");
}

void KinesisApi::Call::ShardIdRules(std::optional<std::string_view> v, std::string_view path) {
  Length(v, path, 1, 128);
  Pattern(v, path, v && IsStreamName(*v), "[a-zA-Z0-9_.-]+");
}

std::optional<uint32_t> ParseShardId(std::string_view s) {
  constexpr std::string_view kPrefix = "shardId-";
  if (s.substr(0, kPrefix.size()) == kPrefix) s.remove_prefix(kPrefix.size());
  if (s.empty() || s.size() > 12) return std::nullopt;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(v);
}

std::string ShardIdOf(uint32_t index) {
  char buf[32];
  snprintf(buf, sizeof(buf), "shardId-%012u", index);
  return buf;
}

std::optional<std::string> StreamNameFromArn(std::string_view arn) {
  // arn:<partition>:kinesis:<region>:<12 digits>:stream/<name>[/consumer/<c>:<ts>]
  if (arn.substr(0, 7) != "arn:aws") return std::nullopt;
  size_t k = arn.find(":kinesis:");
  if (k == std::string_view::npos) return std::nullopt;
  size_t s = arn.find(":stream/", k + 9);
  if (s == std::string_view::npos || s < 12) return std::nullopt;
  std::string_view account = arn.substr(s - 12, 12);
  for (char ch : account) {
    if (ch < '0' || ch > '9') return std::nullopt;
  }
  std::string_view rest = arn.substr(s + 8);
  std::string_view name = rest.substr(0, rest.find('/'));
  if (name.empty() || name.size() > 128 || !IsStreamName(name)) return std::nullopt;
  return std::string(name);
}

}  // namespace sluice::broker::api
