// Which API actions a credential may take on which resources: IAM's policy language, the part
// that applies to one principal's own policy. A policy is a list of statements, each Allow or
// Deny, naming actions (`kinesis:PutRecords`, `kinesis:Get*`, `firehose:*`; `*` and `?`
// wildcards, case-insensitive as IAM compares actions) and resources (ARNs with wildcards,
// case-sensitive, or `*`), or NotAction / NotResource. A request is allowed when some Allow
// statement matches it and no Deny statement does (an explicit deny wins); otherwise denied.
//
// Two ways to write one: the short form of the configuration (`allow`, `deny`, `resources`,
// where resources may be stream names as well as ARNs), and an IAM JSON policy document.
// Conditions and Principal elements are refused rather than ignored: a policy that said more
// than is enforced would grant what its author did not mean to.
//
// THREADING: immutable after construction; Evaluate is thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sluice {

enum class AccessDecision { kAllow, kExplicitDeny, kImplicitDeny };

class AccessPolicy {
 public:
  struct Statement {
    bool allow = true;
    bool not_action = false;    // the action list is NotAction
    bool not_resource = false;  // the resource list is NotResource
    std::vector<std::string> actions;
    std::vector<std::string> resources;  // ARNs or patterns; in the short form also bare names
    // The short form: its resources restrict calls on a resource only; calls on none
    // (ListStreams, ListDeliveryStreams, DescribeLimits) are matched by their action alone.
    bool short_form = false;
    // A resource policy's statement: whom it is about (`*`, an account id, its root ARN
    // arn:aws:iam::<account>:root, or a user ARN arn:aws:iam::<account>:user/<access key id>).
    std::vector<std::string> principals;
  };

  // The short form: one Allow statement for `allow` and one Deny statement for `deny`, both on
  // `resources` (empty: every resource). An entry of `resources` without "arn:" is a name,
  // matched against the resource's name (a stream or delivery stream name).
  static Result<AccessPolicy> FromLists(const std::vector<std::string>& allow,
                                        const std::vector<std::string>& deny,
                                        const std::vector<std::string>& resources);
  // An IAM JSON policy: {"Version": ..., "Statement": [ ... ] or { ... }}. Errors name the
  // statement and element.
  static Result<AccessPolicy> FromDocument(std::string_view json);
  // A resource-based policy (PutResourcePolicy): as FromDocument, each statement with a
  // Principal ("*" or {"AWS": one or more of the forms above}).
  static Result<AccessPolicy> FromResourceDocument(std::string_view json);

  // `action` as "kinesis:GetRecords"; `arn` the resource's ARN (for calls on no resource, as IAM
  // sees them: ListStreams is on arn:aws:kinesis:<region>:<account>:stream/*); `name` the
  // resource's name (matched by short-form names), empty for calls on no resource.
  AccessDecision Evaluate(std::string_view action, std::string_view arn,
                          std::string_view name) const;
  // A resource policy's decision for `principal_arn` (arn:aws:iam::<account>:user/<key id>) of
  // `account`: only statements naming that principal count.
  AccessDecision EvaluateFor(std::string_view action, std::string_view arn,
                             std::string_view principal_arn, std::string_view account) const;

  const std::vector<Statement>& statements() const { return statements_; }

  // Internal: a policy of parsed statements.
  static AccessPolicy FromStatements(std::vector<Statement> statements);

 private:
  std::vector<Statement> statements_;
};

// `pattern` with `*` (any run) and `?` (one character) against `text`.
bool WildcardMatch(std::string_view pattern, std::string_view text, bool ignore_case);

}  // namespace sluice
