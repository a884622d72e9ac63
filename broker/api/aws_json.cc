#include "broker/api/aws_json.h"

#include <rapidjson/writer.h>

#include "core/json.h"
#include "core/utf8.h"

namespace sluice::broker::api {

Status ParseRequestObject(std::string& body, rapidjson::Document* doc) {
  if (body.empty()) body.assign("{}");
  // RapidJSON's SSE4.2 scanner reads whole 16-byte blocks, up to 15 bytes past the terminator:
  // keep them inside the allocation.
  if (body.capacity() < body.size() + 16) body.reserve(body.size() + 16);
  Status parsed = ParseJsonInsitu(body.data(), doc);
  if (!parsed.ok()) return InvalidArgument("Malformed JSON " + parsed.message());
  if (!doc->IsObject()) return InvalidArgument("The request body must be a JSON object");
  return Status::Ok();
}

void SetErrorReply(int status, std::string_view type, std::string_view message, ApiReply* reply) {
  reply->status = status;
  reply->error_type.assign(type);
  rapidjson::StringBuffer eb;
  rapidjson::Writer<rapidjson::StringBuffer> ew(eb);
  ew.StartObject();
  ew.Key("__type");
  ew.String(type.data(), static_cast<rapidjson::SizeType>(type.size()));
  ew.Key("message");
  std::string valid = ValidUtf8(message);
  ew.String(valid.c_str(), static_cast<rapidjson::SizeType>(valid.size()));
  ew.EndObject();
  reply->body.assign(eb.GetString(), eb.GetSize());
}

void SetOkReply(const rapidjson::StringBuffer& out, ApiReply* reply) {
  reply->status = 200;
  reply->error_type.clear();
  reply->body.assign(out.GetString(), out.GetSize());
}

int64_t RecordsIn(std::string_view operation, const rapidjson::Document& doc) {
  if (operation == "PutRecord") return 1;
  if (operation != "PutRecords" && operation != "PutRecordBatch") return -1;
  if (!doc.IsObject()) return 0;
  auto it = doc.FindMember("Records");
  return it != doc.MemberEnd() && it->value.IsArray() ? it->value.Size() : 0;
}

}  // namespace sluice::broker::api
