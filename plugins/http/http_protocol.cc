#include "plugins/http/http_protocol.h"

#include <rapidjson/document.h>

#include "core/base64.h"
#include "core/json.h"
#include "plugins/common/sink_util.h"

namespace sluice::http_sink {

using sink::Truncated;
namespace {

// {"data":""} plus a comma.
constexpr size_t kFirehoseRecordOverhead = 12;
// {"requestId":"<36>","timestamp":<13+>,"records":[]}
constexpr size_t kFirehoseEnvelope = 96;

size_t BodyBytes(Mode mode, size_t len) {
  if (mode == Mode::kFirehose) return Base64EncodedSize(len) + kFirehoseRecordOverhead;
  return len + 1;
}

std::string_view WithoutTrailingNewline(std::string_view s) {
  if (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
  return s;
}

}  // namespace

std::vector<Chunk> PlanChunks(const Batch& batch, Mode mode, size_t max_records, size_t max_body) {
  std::vector<Chunk> chunks;
  size_t n = batch.size();
  size_t i = 0;
  while (i < n) {
    Chunk c{i, 0};
    size_t bytes = kFirehoseEnvelope;
    while (i < n && c.count < max_records) {
      size_t b = BodyBytes(mode, batch.record(i).data.size());
      if (c.count > 0 && bytes + b > max_body) break;
      bytes += b;
      ++c.count;
      ++i;
    }
    chunks.push_back(c);
  }
  return chunks;
}

std::string RequestIdFor(const Batch& batch, const Chunk& chunk) {
  std::string seed(batch.batch_id());
  seed.push_back('\n');
  if (chunk.count > 0) seed.append(batch.record(chunk.first).record_id);
  return sink::StableGuid(seed);
}

void AppendFirehoseBody(std::string_view request_id, int64_t timestamp_ms, const Batch& batch,
                        const Chunk& chunk, std::string* out) {
  out->append("{\"requestId\":\"");
  out->append(request_id);  // a GUID: nothing to escape
  out->append("\",\"timestamp\":");
  out->append(std::to_string(timestamp_ms));
  out->append(",\"records\":[");
  for (size_t i = chunk.first; i < chunk.first + chunk.count; ++i) {
    if (i != chunk.first) out->push_back(',');
    out->append("{\"data\":\"");
    Base64Append(batch.record(i).data, out);
    out->append("\"}");
  }
  out->append("]}");
}

void AppendRawBody(RawFormat format, const Batch& batch, const Chunk& chunk, std::string* out) {
  if (format == RawFormat::kJsonArray) out->push_back('[');
  for (size_t i = chunk.first; i < chunk.first + chunk.count; ++i) {
    std::string_view data = batch.record(i).data;
    if (format == RawFormat::kJsonArray) {
      if (i != chunk.first) out->push_back(',');
      out->append(WithoutTrailingNewline(data));
    } else {
      out->append(data);
      if (data.empty() || data.back() != '\n') out->push_back('\n');
    }
  }
  if (format == RawFormat::kJsonArray) out->push_back(']');
}

Classification ClassifyResponse(long status, std::string_view body, std::string_view request_id,
                                std::string_view transport_error) {
  using Action = Classification::Action;
  Classification c;
  if (status == 0) {
    c.action = Action::kRetry;
    bool timeout = transport_error.find("imeout") != std::string_view::npos ||
                   transport_error.find("imed out") != std::string_view::npos;
    c.error_code = timeout ? "HttpEndpoint.ResponseTimeout" : "HttpEndpoint.ConnectionFailed";
    c.error_message = Truncated(transport_error, 400);
    return c;
  }
  // The answer's errorMessage, when it is the JSON the spec asks for.
  rapidjson::Document doc;
  Status doc_parsed = ParseJson(body, &doc);
  bool json = doc_parsed.ok() && doc.IsObject();
  std::string endpoint_message;
  if (json && doc.HasMember("errorMessage") && doc["errorMessage"].IsString()) {
    endpoint_message = doc["errorMessage"].GetString();
  }
  if (status == 200) {
    if (!json || !doc.HasMember("requestId") || !doc["requestId"].IsString()) {
      c.action = Action::kRetry;
      c.error_code = "HttpEndpoint.InvalidResponseFromDestination";
      c.error_message = "200 without a JSON body carrying requestId: " + Truncated(body, 200);
      return c;
    }
    std::string_view got(doc["requestId"].GetString(), doc["requestId"].GetStringLength());
    if (got != request_id) {
      c.action = Action::kRetry;
      c.error_code = "HttpEndpoint.InvalidResponseFromDestination";
      c.error_message = "requestId " + Truncated(got, 80) + " does not match the request's " +
                        std::string(request_id);
      return c;
    }
    if (!doc.HasMember("timestamp") || !doc["timestamp"].IsNumber()) {
      c.action = Action::kRetry;
      c.error_code = "HttpEndpoint.InvalidResponseFromDestination";
      c.error_message = "200 without a numeric timestamp";
      return c;
    }
    return c;  // ok
  }
  c.error_code = "HttpEndpoint.ResponseCode." + std::to_string(status);
  c.error_message = endpoint_message.empty() ? "the endpoint answered " + std::to_string(status)
                                             : Truncated(endpoint_message, 8192);
  if (status == 413) {
    c.action = Action::kReject;
    return c;
  }
  c.action = Action::kRetry;
  c.loud = status == 401 || status == 403;
  return c;
}

Classification ClassifyRawResponse(long status, std::string_view body, uint32_t retry_after_ms,
                                   std::string_view transport_error) {
  using Action = Classification::Action;
  Classification c;
  switch (sink::VerdictForStatus(status)) {
    case sink::Verdict::kOk:
      return c;
    case sink::Verdict::kRetry:
      c.action = Action::kRetry;
      c.retry_after_ms = retry_after_ms;
      break;
    case sink::Verdict::kRetryLoud:
      c.action = Action::kRetry;
      c.loud = true;
      break;
    case sink::Verdict::kReject:
      c.action = Action::kReject;
      break;
  }
  if (status == 0) {
    c.error_code = "Http.ConnectionFailed";
    c.error_message = Truncated(transport_error, 400);
  } else {
    c.error_code = "Http." + std::to_string(status);
    c.error_message = "HTTP " + std::to_string(status) + ": " + Truncated(body, 400);
  }
  return c;
}

}  // namespace sluice::http_sink
