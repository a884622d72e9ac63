#include "core/access_policy.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <cctype>
#include <tuple>

namespace sluice {

namespace {

char Fold(char c, bool ignore_case) {
  return ignore_case ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : c;
}

// An action pattern is service:name, wildcards allowed in the name (and `*` alone).
Status CheckAction(std::string_view a, const std::string& where) {
  if (a == "*") return Status::Ok();
  size_t colon = a.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == a.size()) {
    return InvalidArgument(where + ": \"" + std::string(a) +
                           "\" is not an action (service:Operation, e.g. kinesis:PutRecords, "
                           "kinesis:Get*, firehose:*)");
  }
  std::string service(a.substr(0, colon));
  for (char& c : service) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (service != "kinesis" && service != "firehose" && service != "*") {
    return InvalidArgument(where + ": \"" + std::string(a) +
                           "\" names a service other than kinesis and firehose");
  }
  return Status::Ok();
}

bool AnyMatch(const std::vector<std::string>& patterns, std::string_view text, bool ignore_case) {
  for (const std::string& p : patterns) {
    if (WildcardMatch(p, text, ignore_case)) return true;
  }
  return false;
}

bool ResourceMatch(const AccessPolicy::Statement& s, std::string_view arn, std::string_view name) {
  if (s.short_form && name.empty()) return true;
  for (const std::string& p : s.resources) {
    if (p == "*") return true;
    if (p.rfind("arn:", 0) == 0) {
      if (WildcardMatch(p, arn, false)) return true;
    } else if (!name.empty() && WildcardMatch(p, name, false)) {
      return true;
    }
  }
  return false;
}

// A string or an array of strings (IAM allows both).
Status StringList(const rapidjson::Value& v, const std::string& where,
                  std::vector<std::string>* out) {
  if (v.IsString()) {
    out->emplace_back(v.GetString(), v.GetStringLength());
    return Status::Ok();
  }
  if (!v.IsArray() || v.Empty()) {
    return InvalidArgument(where + " must be a string or a non-empty array of strings");
  }
  for (const auto& e : v.GetArray()) {
    if (!e.IsString()) return InvalidArgument(where + " must hold strings only");
    out->emplace_back(e.GetString(), e.GetStringLength());
  }
  return Status::Ok();
}

// Principal: "*" or {"AWS": "..." | ["...", ...]}.
Status ParsePrincipal(const rapidjson::Value& v, const std::string& at,
                      std::vector<std::string>* out) {
  if (v.IsString() && std::string_view(v.GetString(), v.GetStringLength()) == "*") {
    out->push_back("*");
    return Status::Ok();
  }
  if (!v.IsObject() || !v.HasMember("AWS") || v.MemberCount() != 1) {
    return InvalidArgument(at + " must be \"*\" or {\"AWS\": ...}");
  }
  RETURN_IF_ERROR(StringList(v["AWS"], at + ".AWS", out));
  for (const std::string& p : *out) {
    bool digits = p.size() == 12 && p.find_first_not_of("0123456789") == std::string::npos;
    if (p != "*" && !digits && p.rfind("arn:aws:iam::", 0) != 0) {
      return InvalidArgument(at + ".AWS: \"" + p + "\" is not *, an account id or an IAM ARN");
    }
  }
  return Status::Ok();
}

Status ParseStatement(const rapidjson::Value& s, const std::string& where, bool resource_policy,
                      AccessPolicy::Statement* out) {
  if (!s.IsObject()) return InvalidArgument(where + " must be an object");
  bool has_effect = false, has_action = false, has_resource = false, has_principal = false;
  for (const auto& m : s.GetObject()) {
    std::string_view key(m.name.GetString(), m.name.GetStringLength());
    const std::string at = where + "." + std::string(key);
    if (key == "Sid") continue;
    if (key == "Effect") {
      std::string_view e = m.value.IsString()
                               ? std::string_view(m.value.GetString(), m.value.GetStringLength())
                               : std::string_view();
      if (e != "Allow" && e != "Deny") return InvalidArgument(at + " must be Allow or Deny");
      out->allow = e == "Allow";
      has_effect = true;
    } else if (key == "Action" || key == "NotAction") {
      if (has_action) return InvalidArgument(where + ": give one of Action and NotAction");
      has_action = true;
      out->not_action = key == "NotAction";
      RETURN_IF_ERROR(StringList(m.value, at, &out->actions));
      for (const std::string& a : out->actions) RETURN_IF_ERROR(CheckAction(a, at));
    } else if (key == "Resource" || key == "NotResource") {
      if (has_resource) return InvalidArgument(where + ": give one of Resource and NotResource");
      has_resource = true;
      out->not_resource = key == "NotResource";
      RETURN_IF_ERROR(StringList(m.value, at, &out->resources));
      for (const std::string& r : out->resources) {
        if (r != "*" && r.rfind("arn:", 0) != 0) {
          return InvalidArgument(at + ": \"" + r + "\" is not an ARN or *");
        }
      }
    } else if (key == "Principal" && resource_policy) {
      has_principal = true;
      RETURN_IF_ERROR(ParsePrincipal(m.value, at, &out->principals));
    } else if (key == "Condition" || key == "Principal" || key == "NotPrincipal") {
      return InvalidArgument(at +
                             " is not supported here; a policy is checked only for the "
                             "credential it is given to, on actions and resources");
    } else {
      return InvalidArgument(at +
                             " is not a statement element (Sid, Effect, Action, "
                             "NotAction, Resource, NotResource)");
    }
  }
  if (!has_effect) return InvalidArgument(where + ": Effect is missing");
  if (!has_action) return InvalidArgument(where + ": Action (or NotAction) is missing");
  if (!has_resource) return InvalidArgument(where + ": Resource (or NotResource) is missing");
  if (resource_policy && !has_principal) {
    return InvalidArgument(where +
                           ": Principal is missing (a resource policy says whom it is "
                           "about)");
  }
  return Status::Ok();
}

Result<AccessPolicy> ParseDocument(std::string_view json, bool resource_policy) {
  rapidjson::Document d;
  d.Parse(json.data(), json.size());
  if (d.HasParseError()) {
    return InvalidArgument(std::string("policy document: invalid JSON at byte ") +
                           std::to_string(d.GetErrorOffset()) + ": " +
                           rapidjson::GetParseError_En(d.GetParseError()));
  }
  if (!d.IsObject()) return InvalidArgument("policy document: must be a JSON object");
  if (!d.HasMember("Statement")) return InvalidArgument("policy document: Statement is missing");
  for (const auto& m : d.GetObject()) {
    std::string_view key(m.name.GetString(), m.name.GetStringLength());
    if (key != "Version" && key != "Statement" && key != "Id") {
      return InvalidArgument("policy document: " + std::string(key) +
                             " is not a policy element (Version, Id, Statement)");
    }
  }
  const rapidjson::Value& st = d["Statement"];
  std::vector<AccessPolicy::Statement> statements;
  if (st.IsObject()) {
    AccessPolicy::Statement s;
    RETURN_IF_ERROR(ParseStatement(st, "policy document: Statement", resource_policy, &s));
    statements.push_back(std::move(s));
  } else if (st.IsArray() && !st.Empty()) {
    for (rapidjson::SizeType i = 0; i < st.Size(); ++i) {
      AccessPolicy::Statement s;
      RETURN_IF_ERROR(ParseStatement(st[i], "policy document: Statement[" + std::to_string(i) + "]",
                                     resource_policy, &s));
      statements.push_back(std::move(s));
    }
  } else {
    return InvalidArgument("policy document: Statement must be an object or a non-empty array");
  }
  return AccessPolicy::FromStatements(std::move(statements));
}

}  // namespace

bool WildcardMatch(std::string_view pattern, std::string_view text, bool ignore_case) {
  // Greedy with backtracking to the last `*`: linear in practice, no recursion.
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() &&
        (pattern[p] == '?' || Fold(pattern[p], ignore_case) == Fold(text[t], ignore_case))) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

Result<AccessPolicy> AccessPolicy::FromLists(const std::vector<std::string>& allow,
                                             const std::vector<std::string>& deny,
                                             const std::vector<std::string>& resources) {
  AccessPolicy policy;
  for (const auto& [list, is_allow, where] :
       {std::tuple{&allow, true, "allow"}, std::tuple{&deny, false, "deny"}}) {
    if (list->empty()) continue;
    Statement s;
    s.allow = is_allow;
    s.short_form = true;
    s.actions = *list;
    for (const std::string& a : s.actions) RETURN_IF_ERROR(CheckAction(a, where));
    s.resources = resources.empty() ? std::vector<std::string>{"*"} : resources;
    policy.statements_.push_back(std::move(s));
  }
  if (allow.empty()) {
    return InvalidArgument(
        "allow is empty: the credential could do nothing (give the actions it "
        "may take, e.g. [\"kinesis:PutRecord*\"])");
  }
  return policy;
}

Result<AccessPolicy> AccessPolicy::FromDocument(std::string_view json) {
  return ParseDocument(json, false);
}

Result<AccessPolicy> AccessPolicy::FromResourceDocument(std::string_view json) {
  return ParseDocument(json, true);
}

AccessPolicy AccessPolicy::FromStatements(std::vector<Statement> statements) {
  AccessPolicy p;
  p.statements_ = std::move(statements);
  return p;
}

AccessDecision AccessPolicy::Evaluate(std::string_view action, std::string_view arn,
                                      std::string_view name) const {
  bool allowed = false;
  for (const Statement& s : statements_) {
    bool action_hit = AnyMatch(s.actions, action, true) != s.not_action;
    if (!action_hit) continue;
    bool resource_hit = ResourceMatch(s, arn, name) != s.not_resource;
    if (!resource_hit) continue;
    if (!s.allow) return AccessDecision::kExplicitDeny;
    allowed = true;
  }
  return allowed ? AccessDecision::kAllow : AccessDecision::kImplicitDeny;
}

}  // namespace sluice

namespace sluice {

AccessDecision AccessPolicy::EvaluateFor(std::string_view action, std::string_view arn,
                                         std::string_view principal_arn,
                                         std::string_view account) const {
  const std::string root = "arn:aws:iam::" + std::string(account) + ":root";
  bool allowed = false;
  for (const Statement& s : statements_) {
    bool about = false;
    for (const std::string& p : s.principals) {
      about |= p == "*" || p == account || p == root || WildcardMatch(p, principal_arn, false);
    }
    if (!about) continue;
    if ((AnyMatch(s.actions, action, true) != s.not_action) &&
        (ResourceMatch(s, arn, "") != s.not_resource)) {
      if (!s.allow) return AccessDecision::kExplicitDeny;
      allowed = true;
    }
  }
  return allowed ? AccessDecision::kAllow : AccessDecision::kImplicitDeny;
}

}  // namespace sluice
