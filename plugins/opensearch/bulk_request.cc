#include "plugins/opensearch/bulk_request.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>
#include <cstring>
#include <ctime>

#include "core/json.h"
#include "plugins/common/sink_util.h"

namespace sluice::opensearch_sink {

using sink::Truncated;
namespace {

bool NeedsEscape(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == '"' || c == '\\') return true;
  return false;
}

// Appends "s" quoted; the common case (ids and index names) needs no escaping.
void AppendQuoted(std::string_view s, std::string* out) {
  if (NeedsEscape(s)) {
    AppendJsonString(s, out);
    return;
  }
  out->push_back('"');
  out->append(s);
  out->push_back('"');
}

ItemResult ItemFrom(const rapidjson::Value& item, Action action) {
  ItemResult r;
  // {"index":{...}} or {"create":{...}}: the one member holds the result.
  if (!item.IsObject() || item.MemberCount() != 1 || !item.MemberBegin()->value.IsObject()) {
    r.verdict = ItemResult::Verdict::kRetry;
    r.error_type = "malformed_item";
    return r;
  }
  const rapidjson::Value& v = item.MemberBegin()->value;
  if (v.HasMember("status") && v["status"].IsInt()) r.status = v["status"].GetInt();
  if (v.HasMember("error")) {
    const rapidjson::Value& e = v["error"];
    if (e.IsObject()) {
      if (e.HasMember("type") && e["type"].IsString()) r.error_type = e["type"].GetString();
      if (e.HasMember("reason") && e["reason"].IsString()) {
        r.error_reason = Truncated(e["reason"].GetString(), 1000);
      }
    } else if (e.IsString()) {
      r.error_reason = Truncated(e.GetString(), 1000);
    }
  }
  if (r.status >= 200 && r.status < 300) {
    r.verdict = ItemResult::Verdict::kOk;
  } else if (r.status == 409 && action == Action::kCreate) {
    r.verdict = ItemResult::Verdict::kOk;  // a document with this id exists: delivered before
  } else if (r.status == 0 || r.status == 429 || r.status >= 500 || r.status == 401 ||
             r.status == 403 || r.status == 408) {
    r.verdict = ItemResult::Verdict::kRetry;
  } else {
    r.verdict = ItemResult::Verdict::kReject;
  }
  return r;
}

}  // namespace

bool ParseRotation(std::string_view name, Rotation* out) {
  static const struct {
    const char* name;
    Rotation r;
  } kNames[] = {{"NoRotation", Rotation::kNoRotation},
                {"OneHour", Rotation::kOneHour},
                {"OneDay", Rotation::kOneDay},
                {"OneWeek", Rotation::kOneWeek},
                {"OneMonth", Rotation::kOneMonth}};
  for (const auto& n : kNames) {
    if (name == n.name) {
      *out = n.r;
      return true;
    }
  }
  return false;
}

void AppendIndexName(std::string_view base, Rotation rotation, int64_t arrival_ms,
                     std::string* out) {
  out->append(base);
  if (rotation == Rotation::kNoRotation) return;
  std::time_t t =
      static_cast<std::time_t>(arrival_ms >= 0 ? arrival_ms / 1000 : (arrival_ms - 999) / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  int year = tm.tm_year + 1900;
  switch (rotation) {
    case Rotation::kOneHour:
      std::snprintf(buf, sizeof(buf), "-%04d-%02d-%02d-%02d", year, tm.tm_mon + 1, tm.tm_mday,
                    tm.tm_hour);
      break;
    case Rotation::kOneDay:
      std::snprintf(buf, sizeof(buf), "-%04d-%02d-%02d", year, tm.tm_mon + 1, tm.tm_mday);
      break;
    case Rotation::kOneWeek: {
      // Weeks start on Sunday; week 1 starts on the year's first Sunday, the days before it
      // are week 0 (strftime's %U), which gives Firehose's documented myindex-2016-w08.
      int week = (tm.tm_yday + 7 - tm.tm_wday) / 7;
      std::snprintf(buf, sizeof(buf), "-%04d-w%02d", year, week);
      break;
    }
    case Rotation::kOneMonth:
      std::snprintf(buf, sizeof(buf), "-%04d-%02d", year, tm.tm_mon + 1);
      break;
    case Rotation::kNoRotation:
      buf[0] = '\0';
      break;
  }
  out->append(buf);
}

void AppendBulkItem(Action action, std::string_view index, std::string_view type_name,
                    std::string_view id, std::string_view source, std::string* out) {
  out->append(action == Action::kCreate ? "{\"create\":{\"_index\":" : "{\"index\":{\"_index\":");
  AppendQuoted(index, out);
  if (!type_name.empty()) {
    out->append(",\"_type\":");
    AppendQuoted(type_name, out);
  }
  if (!id.empty()) {
    out->append(",\"_id\":");
    AppendQuoted(id, out);
  }
  out->append("}}\n");
  out->append(source);
  out->push_back('\n');
}

bool SourceLine(std::string_view data, std::string_view* line) {
  if (!data.empty() && data.back() == '\n') data.remove_suffix(1);
  if (!data.empty() && data.back() == '\r') data.remove_suffix(1);
  if (data.empty() || std::memchr(data.data(), '\n', data.size()) != nullptr) return false;
  *line = data;
  return true;
}

BulkClassification ClassifyResponse(long status, std::string_view body, size_t item_count,
                                    Action action, uint32_t retry_after_ms,
                                    std::string_view transport_error) {
  using Whole = sink::SinkVerdict::Action;
  BulkClassification c;
  if (status == 200 || status == 201) {
    rapidjson::Document doc;
    Status doc_parsed = ParseJson(body, &doc);
    if (!doc_parsed.ok() || !doc.IsObject() || !doc.HasMember("errors") ||
        !doc["errors"].IsBool() || !doc.HasMember("items") || !doc["items"].IsArray() ||
        doc["items"].Size() != item_count) {
      c.action = Whole::kRetry;
      c.error_code = "OpenSearch.InvalidResponse";
      c.error_message = "not a _bulk answer for " + std::to_string(item_count) +
                        " items: " + Truncated(body, 200);
      return c;
    }
    if (!doc["errors"].GetBool()) return c;
    c.per_item = true;
    c.items.reserve(item_count);
    for (const auto& item : doc["items"].GetArray()) c.items.push_back(ItemFrom(item, action));
    return c;
  }
  switch (sink::VerdictForStatus(status)) {
    case sink::Verdict::kOk:  // another 2xx: not what _bulk answers
      c.action = Whole::kRetry;
      break;
    case sink::Verdict::kRetry:
      c.action = Whole::kRetry;
      c.retry_after_ms = retry_after_ms;
      break;
    case sink::Verdict::kRetryLoud:
      c.action = Whole::kRetry;
      c.loud = true;
      break;
    case sink::Verdict::kReject:
      c.action = Whole::kReject;
      break;
  }
  if (status == 0) {
    bool timeout = transport_error.find("imeout") != std::string_view::npos ||
                   transport_error.find("imed out") != std::string_view::npos;
    c.error_code = timeout ? "OpenSearch.Timeout" : "OpenSearch.ConnectionFailed";
    c.error_message = Truncated(transport_error, 400);
  } else {
    c.error_code = "OpenSearch." + std::to_string(status);
    c.error_message = "HTTP " + std::to_string(status) + ": " + Truncated(body, 400);
  }
  return c;
}

std::string RejectReason(const ItemResult& item, std::string_view doc_id, std::string_view index) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("errorCode");
  std::string code = std::to_string(item.status);
  w.String(code.c_str(), static_cast<rapidjson::SizeType>(code.size()));
  w.Key("errorMessage");
  std::string msg =
      item.error_type.empty() ? item.error_reason : item.error_type + ": " + item.error_reason;
  w.String(msg.c_str(), static_cast<rapidjson::SizeType>(msg.size()));
  w.Key("esDocumentId");
  w.String(doc_id.data(), static_cast<rapidjson::SizeType>(doc_id.size()));
  w.Key("esIndexName");
  w.String(index.data(), static_cast<rapidjson::SizeType>(index.size()));
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace sluice::opensearch_sink
