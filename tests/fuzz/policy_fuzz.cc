// Fuzz target: the access policy language (core/access_policy.h). The input is an IAM JSON policy
// document; when it parses, it is evaluated for a few actions and resources (a name and ARNs,
// calls on no resource), and a policy's Allow and Deny outcome must not depend on the order the
// statements are evaluated in (an explicit deny anywhere wins). Also: the input split at its
// first newline as a wildcard pattern and a text, matched both ways and without case.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/access_policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nl = in.find('\n');
  if (nl != std::string_view::npos) {
    std::string_view pattern = in.substr(0, nl), text = in.substr(nl + 1);
    bool exact = sluice::WildcardMatch(pattern, text, false);
    bool folded = sluice::WildcardMatch(pattern, text, true);
    if (exact && !folded) std::abort();  // matching without case matches at least as much
    if (pattern == text && !exact && pattern.find_first_of("*?") == std::string_view::npos) {
      std::abort();
    }
  }
  auto policy = sluice::AccessPolicy::FromDocument(in);
  if (!policy.ok()) return 0;
  static const char* kActions[] = {"kinesis:PutRecords", "kinesis:GetRecords",
                                   "firehose:PutRecordBatch", "kinesis:ListStreams"};
  static const char* kArns[] = {"arn:aws:kinesis:us-east-1:000000000000:stream/app",
                                "arn:aws:kinesis:us-east-1:000000000000:stream/*",
                                "arn:aws:firehose:us-east-1:000000000000:deliverystream/fleet"};
  for (const char* action : kActions) {
    for (const char* arn : kArns) {
      sluice::AccessDecision d = policy->Evaluate(action, arn, "app");
      bool any_deny = false, any_allow = false;
      for (const auto& s : policy->statements()) {
        // A statement matches the same way whether it is alone or among others.
        bool action_hit = false;
        for (const std::string& a : s.actions) action_hit |= sluice::WildcardMatch(a, action, true);
        action_hit = action_hit != s.not_action;
        bool resource_hit = false;
        for (const std::string& r : s.resources) {
          resource_hit |= r == "*" || sluice::WildcardMatch(r, arn, false);
        }
        resource_hit = resource_hit != s.not_resource;
        if (action_hit && resource_hit) (s.allow ? any_allow : any_deny) = true;
      }
      sluice::AccessDecision want = any_deny    ? sluice::AccessDecision::kExplicitDeny
                                    : any_allow ? sluice::AccessDecision::kAllow
                                                : sluice::AccessDecision::kImplicitDeny;
      if (d != want) std::abort();
    }
  }
  return 0;
}
