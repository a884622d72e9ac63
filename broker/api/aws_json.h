// The awsJson1.1 protocol pieces the Kinesis and Firehose APIs share: the reply of a call, the
// request body parsed as a JSON object (in place), and the error document
// {"__type": "...", "message": "..."}.
//
// THREADING: pure functions; thread-safe.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace sluice::broker::api {

// The answer to one API call.
struct ApiReply {
  int status = 200;
  std::string body;        // JSON
  std::string error_type;  // empty on success; "ResourceNotFoundException" etc.
  // For the audit log: the ARN of what the call named ("" for none) and, for a put, how many
  // records it carried (-1 otherwise).
  std::string resource;
  int64_t records = -1;
  // A put whose records are not yet durable: its answer may go out only once this stream's
  // DurableGeneration() reaches `durable_generation` (durable_acks.h). Empty: at once.
  std::string durable_stream;
  uint64_t durable_generation = 0;
};

// Parses `body` in place into *doc (padding it for RapidJSON's SSE4.2 scanner; an empty body is
// `{}`). An error carries the SerializationException message: malformed JSON (bounded nesting,
// core/json.h) or a body that is not an object.
Status ParseRequestObject(std::string& body, rapidjson::Document* doc);

// For the audit log: how many records a parsed put request carries (its `Records` array, or 1
// for a single PutRecord), -1 for other operations.
int64_t RecordsIn(std::string_view operation, const rapidjson::Document& doc);

// Sets *reply to the error document of `type` with `status`. The message may quote the request's
// bytes: it is made valid UTF-8 first.
void SetErrorReply(int status, std::string_view type, std::string_view message, ApiReply* reply);

// Sets *reply to a 200 answer holding `out`.
void SetOkReply(const rapidjson::StringBuffer& out, ApiReply* reply);

}  // namespace sluice::broker::api
