#include "plugins/common/aws_credentials.h"

#include <rapidjson/document.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace sluice::sink {
namespace {

constexpr int64_t kRefreshBeforeSeconds = 300;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

int64_t ParseIso8601(std::string_view text) {
  std::tm tm{};
  std::string s(text);
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end) return -1;
  return static_cast<int64_t>(timegm(&tm));
}

Result<AwsCredentials> ParseSharedCredentials(std::string_view text, std::string_view profile) {
  AwsCredentials c;
  bool in_profile = false;
  bool seen = false;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = Trim(text.substr(pos, nl == std::string_view::npos ? nl : nl - pos));
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      std::string_view name = Trim(line.substr(1, line.size() - 2));
      if (name.rfind("profile ", 0) == 0) name = Trim(name.substr(8));
      in_profile = name == profile;
      seen = seen || in_profile;
      continue;
    }
    if (!in_profile) continue;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view k = Trim(line.substr(0, eq));
    std::string v(Trim(line.substr(eq + 1)));
    if (k == "aws_access_key_id") c.access_key_id = v;
    if (k == "aws_secret_access_key") c.secret_access_key = v;
    if (k == "aws_session_token") c.session_token = v;
  }
  if (!seen || c.access_key_id.empty()) {
    return NotFound("profile " + std::string(profile) + " has no aws_access_key_id");
  }
  return c;
}

std::string_view AwsCredentialsProvider::SourceName(Source s) {
  switch (s) {
    case Source::kConfig:
      return "config";
    case Source::kEnvironment:
      return "environment";
    case Source::kSharedFile:
      return "shared credentials file";
    case Source::kInstanceMetadata:
      return "instance metadata";
  }
  return "?";
}

Result<std::unique_ptr<AwsCredentialsProvider>> AwsCredentialsProvider::Create(
    const AwsCredentialsConfig& config, std::function<std::time_t()> now) {
  std::unique_ptr<AwsCredentialsProvider> p(new AwsCredentialsProvider());
  p->now_ = now ? std::move(now) : [] { return std::time(nullptr); };
  auto complete = [](const AwsCredentials& c, std::string_view where) -> Status {
    if (c.secret_access_key.empty()) {
      return InvalidArgument(std::string(where) + " has an access key id but no secret access key");
    }
    return Status::Ok();
  };
  if (!config.access_key_id.empty() || !config.secret_access_key.empty()) {
    p->source_ = Source::kConfig;
    p->creds_ = {config.access_key_id, config.secret_access_key, config.session_token, 0};
    if (config.access_key_id.empty()) {
      return InvalidArgument("the configuration has a secret access key but no access key id");
    }
    RETURN_IF_ERROR(complete(p->creds_, "the configuration"));
    return p;
  }
  if (!Env("AWS_ACCESS_KEY_ID").empty()) {
    p->source_ = Source::kEnvironment;
    p->creds_ = {Env("AWS_ACCESS_KEY_ID"), Env("AWS_SECRET_ACCESS_KEY"), Env("AWS_SESSION_TOKEN"),
                 0};
    RETURN_IF_ERROR(complete(p->creds_, "the environment"));
    return p;
  }
  std::string file = Env("AWS_SHARED_CREDENTIALS_FILE");
  if (file.empty() && !Env("HOME").empty()) file = Env("HOME") + "/.aws/credentials";
  std::string profile = !config.profile.empty() ? config.profile : Env("AWS_PROFILE");
  if (profile.empty()) profile = "default";
  if (!file.empty()) {
    std::ifstream in(file);
    if (in) {
      std::stringstream ss;
      ss << in.rdbuf();
      Result<AwsCredentials> c = ParseSharedCredentials(ss.str(), profile);
      if (c.ok()) {
        p->source_ = Source::kSharedFile;
        p->creds_ = std::move(c).value();
        RETURN_IF_ERROR(complete(p->creds_, file));
        return p;
      }
      if (!config.profile.empty()) return c.status().Annotate(file);
    } else if (!config.profile.empty()) {
      return NotFound("profile " + profile + " asked for, but " + file + " cannot be read");
    }
  }
  std::string disabled = Env("AWS_EC2_METADATA_DISABLED");
  if (disabled == "true" || disabled == "TRUE" || disabled == "1") {
    return NotFound(
        "no AWS credentials: none in the configuration, the environment or the shared "
        "credentials file, and instance metadata is disabled");
  }
  p->source_ = Source::kInstanceMetadata;
  p->imds_endpoint_ = Env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
  if (p->imds_endpoint_.empty()) p->imds_endpoint_ = "http://169.254.169.254";
  while (!p->imds_endpoint_.empty() && p->imds_endpoint_.back() == '/') {
    p->imds_endpoint_.pop_back();
  }
  HttpOptions ho;
  ho.connect_timeout_ms = 1000;
  ho.timeout_ms = 3000;
  ho.use_env_proxy = false;  // instance metadata is link-local, never behind a proxy
  ASSIGN_OR_RETURN(p->http_, HttpClient::Create(ho));
  return p;  // fetched lazily, on the first Get, so a create does not block on a network
}

Status AwsCredentialsProvider::FetchFromMetadata() {
  HttpRequest token_req;
  token_req.method = "PUT";
  token_req.url = imds_endpoint_ + "/latest/api/token";
  token_req.headers = {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}};
  Result<HttpResponse> tok = http_->Send(token_req);
  if (!tok.ok()) return Unavailable("instance metadata token: " + tok.status().message());
  if (tok->status != 200) {
    return Unavailable("instance metadata token: HTTP " + std::to_string(tok->status));
  }
  std::string token = tok->body;
  HttpRequest role_req;
  role_req.url = imds_endpoint_ + "/latest/meta-data/iam/security-credentials/";
  role_req.headers = {{"X-aws-ec2-metadata-token", token}};
  Result<HttpResponse> role = http_->Send(role_req);
  if (!role.ok()) return Unavailable("instance metadata role: " + role.status().message());
  if (role->status != 200) {
    return Unavailable("instance metadata role: HTTP " + std::to_string(role->status) +
                       " (no IAM role attached to this instance?)");
  }
  std::string name = role->body.substr(0, role->body.find('\n'));
  while (!name.empty() && (name.back() == '\r' || name.back() == ' ')) name.pop_back();
  if (name.empty()) return Unavailable("instance metadata: no IAM role attached");
  HttpRequest cred_req;
  cred_req.url = role_req.url + name;
  cred_req.headers = role_req.headers;
  Result<HttpResponse> cred = http_->Send(cred_req);
  if (!cred.ok()) return Unavailable("instance metadata credentials: " + cred.status().message());
  if (cred->status != 200) {
    return Unavailable("instance metadata credentials: HTTP " + std::to_string(cred->status));
  }
  rapidjson::Document d;
  d.Parse(cred->body.data(), cred->body.size());
  auto str = [&d](const char* k) -> std::string {
    auto it = d.FindMember(k);
    return it != d.MemberEnd() && it->value.IsString() ? it->value.GetString() : std::string();
  };
  if (d.HasParseError() || !d.IsObject()) {
    return Unavailable("instance metadata credentials: not a JSON object");
  }
  AwsCredentials c{str("AccessKeyId"), str("SecretAccessKey"), str("Token"), 0};
  if (c.access_key_id.empty() || c.secret_access_key.empty()) {
    return Unavailable("instance metadata credentials: AccessKeyId or SecretAccessKey missing");
  }
  std::string exp = str("Expiration");
  if (!exp.empty()) {
    c.expires_at = ParseIso8601(exp);
    if (c.expires_at < 0) return Unavailable("instance metadata credentials: bad Expiration");
  }
  creds_ = std::move(c);
  return Status::Ok();
}

Result<AwsCredentials> AwsCredentialsProvider::Get() {
  if (source_ != Source::kInstanceMetadata) return creds_;
  int64_t now = static_cast<int64_t>(now_());
  bool stale = creds_.access_key_id.empty() ||
               (creds_.expires_at != 0 && creds_.expires_at - now <= kRefreshBeforeSeconds);
  if (stale) {
    Status st = FetchFromMetadata();
    if (!st.ok()) {
      // Keys that have not yet expired still work; use them and try again next time.
      if (!creds_.access_key_id.empty() && creds_.expires_at > now) return creds_;
      return st;
    }
  }
  return creds_;
}

}  // namespace sluice::sink
