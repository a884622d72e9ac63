#include "plugins/common/aws_json.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <ctime>
#include <initializer_list>

#include "core/json.h"
#include "plugins/common/sigv4.h"

namespace sluice::sink {
namespace {

// "com.amazonaws.kinesis.v20131202#ResourceNotFoundException" -> "ResourceNotFoundException".
std::string ShortType(std::string_view t) {
  size_t hash = t.rfind('#');
  if (hash != std::string_view::npos) t.remove_prefix(hash + 1);
  size_t colon = t.find(':');
  if (colon != std::string_view::npos) t = t.substr(0, colon);
  return std::string(t);
}

bool Is(std::string_view code, std::initializer_list<std::string_view> names) {
  return std::find(names.begin(), names.end(), code) != names.end();
}

}  // namespace

std::string JsonStringMember(const rapidjson::Value& v, const char* name) {
  if (!v.IsObject()) return "";
  auto it = v.FindMember(name);
  if (it == v.MemberEnd() || !it->value.IsString()) return "";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

Result<std::unique_ptr<AwsJsonClient>> AwsJsonClient::Create(const AwsJsonConfig& config) {
  std::unique_ptr<AwsJsonClient> c(new AwsJsonClient());
  c->service_ = config.service;
  c->region_ = config.region;
  c->content_type_ = config.content_type;
  std::string endpoint = config.endpoint;
  if (endpoint.empty())
    endpoint = "https://" + config.service + "." + config.region + ".amazonaws.com";
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  size_t scheme = endpoint.find("://");
  std::string_view s = std::string_view(endpoint).substr(0, scheme);
  if (scheme == std::string::npos || (s != "http" && s != "https")) {
    return InvalidArgument("endpoint must be an http:// or https:// URL, not \"" + endpoint + "\"");
  }
  c->host_ = endpoint.substr(scheme + 3);
  if (c->host_.empty() || c->host_.find_first_of("/?#") != std::string::npos) {
    return InvalidArgument("endpoint must be a scheme and a host (no path): \"" + endpoint + "\"");
  }
  c->url_ = endpoint + "/";
  ASSIGN_OR_RETURN(c->creds_, AwsCredentialsProvider::Create(config.credentials));
  ASSIGN_OR_RETURN(c->http_, HttpClient::Create(config.http));
  return c;
}

Result<HttpRequest> AwsJsonClient::Signed(std::string_view target, std::string_view body) {
  ASSIGN_OR_RETURN(AwsCredentials creds, creds_->Get());
  SigV4Request req;
  req.method = "POST";
  req.path = "/";
  req.payload_hash = Sha256Hex(body);
  req.headers = {
      {"Host", host_}, {"Content-Type", content_type_}, {"X-Amz-Target", std::string(target)}};
  Sign(&req, creds, {region_, service_, std::time(nullptr)});
  HttpRequest http;
  http.method = "POST";
  http.url = url_;
  http.headers = std::move(req.headers);
  http.body = body;
  return http;
}

Result<HttpResponse> AwsJsonClient::Call(std::string_view target, std::string_view body) {
  ASSIGN_OR_RETURN(HttpRequest http, Signed(target, body));
  return http_->Send(http);
}

Status AwsJsonClient::Start(size_t slot, std::string_view target, std::string_view body) {
  ASSIGN_OR_RETURN(HttpRequest http, Signed(target, body));
  return http_->Start(slot, http);
}

AwsBatchAnswer ParseAwsError(long status, std::string_view body, std::string_view service) {
  AwsBatchAnswer a;
  rapidjson::Document doc;
  bool json = ParseJson(body, &doc).ok() && doc.IsObject();
  a.error_code = json ? ShortType(JsonStringMember(doc, "__type")) : "";
  a.error_message = json ? JsonStringMember(doc, "message") : "";
  if (a.error_message.empty() && json) a.error_message = JsonStringMember(doc, "Message");
  if (a.error_code.empty()) a.error_code = std::string(service) + "." + std::to_string(status);
  if (a.error_message.empty()) {
    a.error_message = "HTTP " + std::to_string(status) + ": " +
                      std::string(body.substr(0, std::min<size_t>(body.size(), 200)));
  }
  const std::string& c = a.error_code;
  if (Is(c, {"ValidationException", "InvalidArgumentException", "SerializationException"})) {
    a.retry = false;  // the request itself is wrong: its records go to the error output
  } else if (Is(c,
                {"ResourceNotFoundException", "AccessDeniedException",
                 "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignature",
                 "MissingAuthenticationToken", "ExpiredTokenException", "KMSAccessDeniedException",
                 "KMSDisabledException", "KMSNotFoundException", "KMSInvalidStateException",
                 "InvalidKMSResourceException", "ResourceInUseException"}) ||
             status == 401 || status == 403) {
    a.loud = true;  // our configuration (or the stream's state): retried, and said
  }
  return a;
}

AwsBatchAnswer ParseAwsBatchAnswer(long status, std::string_view body, size_t expected,
                                   std::string_view transport, const char* results,
                                   const char* ok_field, std::string_view service) {
  AwsBatchAnswer a;
  if (status == 0) {
    a.error_code = std::string(service) + ".Transport";
    a.error_message = std::string(transport);
    return a;
  }
  if (status < 200 || status >= 300) return ParseAwsError(status, body, service);
  rapidjson::Document doc;
  if (!ParseJson(body, &doc).ok() || !doc.IsObject()) {
    a.error_code = std::string(service) + ".BadAnswer";
    a.error_message = "the answer (HTTP " + std::to_string(status) + ") is not a JSON object";
    return a;
  }
  auto list = doc.FindMember(results);
  if (list == doc.MemberEnd() || !list->value.IsArray() || list->value.Size() != expected) {
    a.error_code = std::string(service) + ".BadAnswer";
    a.error_message = "the answer has " +
                      std::string(list != doc.MemberEnd() && list->value.IsArray()
                                      ? std::to_string(list->value.Size())
                                      : "no") +
                      " results for " + std::to_string(expected) + " records";
    return a;
  }
  a.call_ok = true;
  a.records.reserve(expected);
  for (const auto& r : list->value.GetArray()) {
    AwsBatchAnswer::Result res;
    res.error_code = JsonStringMember(r, "ErrorCode");
    if (!res.error_code.empty()) {
      res.error_message = JsonStringMember(r, "ErrorMessage");
    } else if (JsonStringMember(r, ok_field).empty()) {
      res.error_code = std::string(service) + ".BadAnswer";
      res.error_message = std::string("a result with neither ") + ok_field + " nor an error";
    }
    a.records.push_back(std::move(res));
  }
  return a;
}

bool HealthFromDescribe(const Result<HttpResponse>& resp, std::string_view service,
                        std::string_view url, std::string_view what, std::string* error) {
  if (!resp.ok()) {
    *error = std::string(service) + " endpoint " + std::string(url) +
             " unreachable: " + resp.status().message();
    return false;
  }
  if (resp->status != 200) {
    AwsBatchAnswer a = ParseAwsError(resp->status, resp->body, service);
    *error = std::string(what) + ": " + a.error_code + ": " + a.error_message;
    return false;
  }
  return true;
}

}  // namespace sluice::sink
