// Internal to the Kinesis API: one request being served. Reads the parsed JSON body with typed
// getters (a wrong type is a SerializationException), collects validation failures in Kinesis's
// wording ("1 validation error detected: Value '' at 'streamName' failed to satisfy constraint:
// ..."), and writes the JSON answer.
//
// THREADING: one Call per request, on the loop thread.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/api/kinesis_api.h"

namespace sluice::broker::api {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

struct KinesisApi::Call {
  // `out` is reused across calls (cleared here), so large answers do not regrow it each time.
  explicit Call(rapidjson::StringBuffer& out) : buffer(out), w(out) { out.Clear(); }

  rapidjson::Document doc;
  rapidjson::StringBuffer& buffer;
  JsonWriter w;

  bool failed = false;
  int http_status = 400;
  std::string error_type;
  std::string error_message;
  std::vector<std::string> violations;
  // Set by a put: its stream, and the write generation after its PutBatch.
  const Stream* put_stream = nullptr;
  uint64_t put_generation = 0;

  void Fail(std::string type, std::string message, int status = 400) {
    if (failed) return;
    failed = true;
    error_type = std::move(type);
    error_message = std::move(message);
    http_status = status;
  }
  // Turns collected violations into one ValidationException. False when the call failed.
  bool Check();

  // Getters on the top-level object (or `from`). Missing or null: nullopt.
  const rapidjson::Value* Get(const char* key, const rapidjson::Value* from = nullptr);
  std::optional<std::string_view> Str(const char* key, const rapidjson::Value* from = nullptr);
  std::optional<int64_t> Int(const char* key, const rapidjson::Value* from = nullptr);
  // A timestamp in epoch seconds (number or numeric string) as milliseconds, clamped to what
  // int64 holds; NaN or infinity fails the call (SerializationException).
  std::optional<int64_t> TimestampMs(const char* key, const rapidjson::Value* from = nullptr);
  const rapidjson::Value* Object(const char* key, const rapidjson::Value* from = nullptr);
  const rapidjson::Value* Array(const char* key, const rapidjson::Value* from = nullptr);

  // Validation, in Kinesis's words. `path` is the member name as Kinesis prints it.
  void NotNull(bool present, std::string_view path);
  void Length(std::optional<std::string_view> v, std::string_view path, size_t min, size_t max);
  void Range(std::optional<int64_t> v, std::string_view path, int64_t min, int64_t max);
  void Pattern(std::optional<std::string_view> v, std::string_view path, bool ok,
               std::string_view pattern);
  void Enum(std::optional<std::string_view> v, std::string_view path,
            std::initializer_list<std::string_view> values);
  // StreamName: 1..128 of [a-zA-Z0-9_.-]. StreamARN: 1..2048, arn:aws*:kinesis:...:stream/...
  void StreamNameRules(std::optional<std::string_view> v, std::string_view path);
  void ArnRules(std::optional<std::string_view> v, std::string_view path);
  void ShardIdRules(std::optional<std::string_view> v, std::string_view path);

  void Key(const char* k) { w.Key(k); }
  void String(std::string_view s) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  }
  void Field(const char* k, std::string_view v) {
    w.Key(k);
    String(v);
  }
};

// SequenceNumber(epoch, offset) written into `buf` without allocating (hot paths: one per record).
struct SequenceText {
  char buf[kMaxSequenceChars];
  std::string_view Format(uint32_t shard_index, uint64_t offset);
};

// "KMS" while the stream seals its new segments, else "NONE" (Kinesis's EncryptionType).
inline std::string_view EncryptionTypeOf(const StreamEncryption& e) {
  return e.enabled ? "KMS" : "NONE";
}
// EncryptionType, and KeyId when encrypted, as DescribeStream(Summary) write them
// (kinesis_encryption.cc).
void WriteStreamEncryption(KinesisApi::Call& c, const StreamEncryption& encryption);

// Epoch milliseconds as JSON epoch seconds with 3 decimals ("1700000000.123"), no float formatting.
void WriteEpochSeconds(JsonWriter& w, int64_t ms);

bool IsStreamName(std::string_view s);
// "shardId-000000000007" (or a bare decimal) -> 7.
std::optional<uint32_t> ParseShardId(std::string_view s);
std::string ShardIdOf(uint32_t index);
// The stream name inside a stream or consumer ARN; nullopt if `arn` is not one.
std::optional<std::string> StreamNameFromArn(std::string_view arn);
// 'value' as Kinesis quotes a bad value in a validation message (long values cut).
std::string Quote(std::string_view v);

}  // namespace sluice::broker::api
