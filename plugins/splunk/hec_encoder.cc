#include "plugins/splunk/hec_encoder.h"

#include <rapidjson/document.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "core/json.h"
#include "plugins/common/sink_util.h"

namespace sluice::splunk_sink {

using sink::Truncated;
namespace {

std::string_view WithoutTrailingNewline(std::string_view s) {
  if (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
  return s;
}

// True when `s` is one JSON object or array (validated without building a DOM).
bool IsJsonContainer(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  if (i == s.size() || (s[i] != '{' && s[i] != '[')) return false;
  size_t end = 0;
  return ValidateJson<rapidjson::kParseStopWhenDoneFlag>(s, &end).ok() &&
         s.find_first_not_of(" \t\r\n", end) == std::string_view::npos;
}

struct CodeRule {
  int code;
  HecClassification::Action action;
  bool loud;
  const char* error_code;
};

// HEC's documented status codes and what a sender does about each.
const CodeRule kCodeRules[] = {
    {1, HecClassification::Action::kRetry, true, "Splunk.DisabledToken"},
    {2, HecClassification::Action::kRetry, true, "Splunk.InvalidToken"},
    {3, HecClassification::Action::kRetry, true, "Splunk.InvalidToken"},
    {4, HecClassification::Action::kRetry, true, "Splunk.InvalidToken"},
    {5, HecClassification::Action::kReject, false, "Splunk.InvalidDataFormat"},
    {6, HecClassification::Action::kReject, false, "Splunk.InvalidDataFormat"},
    {7, HecClassification::Action::kReject, false, "Splunk.InvalidIndex"},
    {8, HecClassification::Action::kRetry, false, "Splunk.ServerError"},
    {9, HecClassification::Action::kRetry, false, "Splunk.ServerBusy"},
    {10, HecClassification::Action::kRetry, true, "Splunk.InvalidChannel"},
    {11, HecClassification::Action::kRetry, true, "Splunk.InvalidChannel"},
    {12, HecClassification::Action::kReject, false, "Splunk.InvalidDataFormat"},
    {13, HecClassification::Action::kReject, false, "Splunk.InvalidDataFormat"},
    {14, HecClassification::Action::kRetry, true, "Splunk.DisabledAck"},
    {15, HecClassification::Action::kReject, false, "Splunk.InvalidDataFormat"},
    {16, HecClassification::Action::kRetry, true, "Splunk.QueryStringAuthDisabled"},
    {18, HecClassification::Action::kRetry, false, "Splunk.ServerBusy"},
    {19, HecClassification::Action::kRetry, false, "Splunk.ServerBusy"},
    {20, HecClassification::Action::kRetry, false, "Splunk.ServerBusy"},
};

}  // namespace

HecEncoder::HecEncoder(EventMeta meta) : meta_(std::move(meta)) {
  auto add = [this](const char* key, const std::string& value) {
    if (value.empty()) return;
    prefix_ += ",\"";
    prefix_ += key;
    prefix_ += "\":";
    AppendJsonString(value, &prefix_);
  };
  add("host", meta_.host);
  add("source", meta_.source);
  add("sourcetype", meta_.sourcetype);
  add("index", meta_.index);
  if (!meta_.fields.empty()) {
    prefix_ += ",\"fields\":{";
    for (size_t i = 0; i < meta_.fields.size(); ++i) {
      if (i) prefix_.push_back(',');
      AppendJsonString(meta_.fields[i].first, &prefix_);
      prefix_.push_back(':');
      AppendJsonString(meta_.fields[i].second, &prefix_);
    }
    prefix_ += "}";
  }
  prefix_ += ",\"event\":";
}

void HecEncoder::AppendEvents(const Batch& batch, std::string* out) {
  char time_buf[32];
  for (size_t i = 0; i < batch.size(); ++i) {
    Record r = batch.record(i);
    int64_t ms = r.arrival_ms < 0 ? 0 : r.arrival_ms;
    std::snprintf(time_buf, sizeof(time_buf), "{\"time\":%lld.%03d",
                  static_cast<long long>(ms / 1000), static_cast<int>(ms % 1000));
    out->append(time_buf);
    out->append(prefix_);
    std::string_view data = WithoutTrailingNewline(r.data);
    if (IsJsonContainer(data)) {
      out->append(data);
    } else {
      AppendJsonString(data, out);
    }
    out->append("}\n");
  }
}

void HecEncoder::AppendPreformatted(const Batch& batch, std::string* out) {
  for (size_t i = 0; i < batch.size(); ++i) {
    out->append(WithoutTrailingNewline(batch.record(i).data));
    out->push_back('\n');
  }
}

void HecEncoder::AppendRaw(const Batch& batch, std::string* out) {
  for (size_t i = 0; i < batch.size(); ++i) {
    std::string_view data = batch.record(i).data;
    out->append(data);
    if (data.empty() || data.back() != '\n') out->push_back('\n');
  }
}

std::string HecEncoder::RawQuery() const {
  static const char kHex[] = "0123456789ABCDEF";
  std::string q;
  auto add = [&](const char* key, const std::string& value) {
    if (value.empty()) return;
    q += q.empty() ? '?' : '&';
    q += key;
    q += '=';
    for (unsigned char c : value) {
      if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
        q += static_cast<char>(c);
      } else {
        q += '%';
        q += kHex[c >> 4];
        q += kHex[c & 15];
      }
    }
  };
  add("host", meta_.host);
  add("source", meta_.source);
  add("sourcetype", meta_.sourcetype);
  add("index", meta_.index);
  return q;
}

HecClassification ClassifyResponse(long status, std::string_view body, uint32_t retry_after_ms,
                                   std::string_view transport_error) {
  using Action = HecClassification::Action;
  HecClassification c;
  if (status == 0) {
    c.action = Action::kRetry;
    bool timeout = transport_error.find("imeout") != std::string_view::npos ||
                   transport_error.find("imed out") != std::string_view::npos;
    c.error_code = timeout ? "Splunk.ConnectionTimeout" : "Splunk.ConnectionClosed";
    c.error_message = Truncated(transport_error, 400);
    return c;
  }
  rapidjson::Document doc;
  Status doc_parsed = ParseJson(body, &doc);
  std::string text;
  if (doc_parsed.ok() && doc.IsObject()) {
    if (doc.HasMember("code") && doc["code"].IsInt()) c.hec_code = doc["code"].GetInt();
    if (doc.HasMember("text") && doc["text"].IsString()) text = doc["text"].GetString();
    if (doc.HasMember("ackId") && doc["ackId"].IsInt64()) c.ack_id = doc["ackId"].GetInt64();
    if (doc.HasMember("invalid-event-number") && doc["invalid-event-number"].IsInt64()) {
      c.invalid_event = doc["invalid-event-number"].GetInt64();
    }
  }
  c.error_message = "HTTP " + std::to_string(status) +
                    (c.hec_code >= 0 ? " code " + std::to_string(c.hec_code) : std::string()) +
                    ": " + (text.empty() ? Truncated(body, 300) : text);
  if (status == 200 && (c.hec_code <= 0)) {
    c.error_message.clear();
    return c;  // ok
  }
  for (const CodeRule& rule : kCodeRules) {
    if (rule.code == c.hec_code) {
      c.action = rule.action;
      c.loud = rule.loud;
      c.error_code = rule.error_code;
      if (c.action == Action::kRetry) c.retry_after_ms = retry_after_ms;
      return c;
    }
  }
  switch (sink::VerdictForStatus(status)) {
    case sink::Verdict::kOk:
      c.action = Action::kOk;
      c.error_message.clear();
      return c;
    case sink::Verdict::kRetry:
      c.action = Action::kRetry;
      c.retry_after_ms = retry_after_ms;
      c.error_code = status == 503 ? "Splunk.ServerBusy" : "Splunk.ServerError";
      return c;
    case sink::Verdict::kRetryLoud:
      c.action = Action::kRetry;
      c.loud = true;
      c.error_code = "Splunk.InvalidToken";
      return c;
    case sink::Verdict::kReject:
      c.action = Action::kReject;
      c.error_code = status == 404 ? "Splunk.URLNotFound" : "Splunk.InvalidDataFormat";
      return c;
  }
  return c;
}

std::string AckQueryBody(const std::vector<int64_t>& ids) {
  std::string out = "{\"acks\":[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out.push_back(',');
    out += std::to_string(ids[i]);
  }
  out += "]}";
  return out;
}

bool AckStatus(std::string_view body, int64_t id, bool* malformed) {
  *malformed = false;
  rapidjson::Document doc;
  Status doc_parsed = ParseJson(body, &doc);
  if (!doc_parsed.ok() || !doc.IsObject() || !doc.HasMember("acks") || !doc["acks"].IsObject()) {
    *malformed = true;
    return false;
  }
  std::string key = std::to_string(id);
  auto it = doc["acks"].FindMember(key.c_str());
  if (it == doc["acks"].MemberEnd() || !it->value.IsBool()) return false;
  return it->value.GetBool();
}

AckWaitResult WaitForAck(int64_t ack_id, int64_t start_ms, int64_t timeout_ms, int64_t interval_ms,
                         const std::function<int64_t()>& now_ms,
                         const std::function<void(int64_t)>& sleep_ms,
                         const std::function<AckPoll(int64_t)>& query) {
  AckWaitResult r;
  std::string last;
  while (true) {
    int64_t left = start_ms + timeout_ms - now_ms();
    if (left <= 0) break;
    sleep_ms(std::min(interval_ms, left));
    AckPoll poll = query(ack_id);
    ++r.polls;
    if (poll.status == 200) {
      bool malformed = false;
      if (AckStatus(poll.body, ack_id, &malformed)) {
        r.state = AckWaitResult::State::kAcked;
        return r;
      }
      last = malformed ? "malformed ack answer: " + Truncated(poll.body, 200)
                       : "ackId " + std::to_string(ack_id) + " not yet acknowledged";
      continue;
    }
    HecClassification c = ClassifyResponse(poll.status, poll.body, 0, poll.transport_error);
    if (c.action == HecClassification::Action::kRetry && !c.loud) {
      last = c.error_message;
      continue;  // busy or unreachable: keep asking until the timeout
    }
    r.state = AckWaitResult::State::kError;
    r.loud = c.loud;
    r.error_code = c.error_code;
    r.error_message = "ack query: " + c.error_message;
    return r;
  }
  r.state = AckWaitResult::State::kTimeout;
  r.error_code = "Splunk.AckTimeout";
  r.error_message = "no indexer acknowledgement for ackId " + std::to_string(ack_id) + " within " +
                    std::to_string(timeout_ms / 1000) + "s" +
                    (last.empty() ? "" : " (" + last + ")");
  return r;
}

}  // namespace sluice::splunk_sink
