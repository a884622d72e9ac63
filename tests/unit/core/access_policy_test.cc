#include "core/access_policy.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

constexpr std::string_view kArn = "arn:aws:kinesis:us-east-1:000000000000:stream/";

std::string StreamArn(std::string_view name) { return std::string(kArn) + std::string(name); }

TEST(WildcardMatchTest, StarsAndQuestionMarks) {
  EXPECT_TRUE(WildcardMatch("*", "", false));
  EXPECT_TRUE(WildcardMatch("kinesis:Get*", "kinesis:GetRecords", false));
  EXPECT_FALSE(WildcardMatch("kinesis:Get*", "kinesis:PutRecords", false));
  EXPECT_TRUE(WildcardMatch("kinesis:get*", "kinesis:GetRecords", true));
  EXPECT_FALSE(WildcardMatch("kinesis:get*", "kinesis:GetRecords", false));
  EXPECT_TRUE(WildcardMatch("app-?", "app-1", false));
  EXPECT_FALSE(WildcardMatch("app-?", "app-12", false));
  EXPECT_TRUE(WildcardMatch("a*b*c", "axxbyyc", false));
  EXPECT_FALSE(WildcardMatch("a*b*c", "axxbyy", false));
  EXPECT_TRUE(WildcardMatch("*stream/app-*", StreamArn("app-logs"), false));
  // Backtracking across many stars stays linear enough for long names.
  EXPECT_FALSE(WildcardMatch("*a*a*a*a*a*b", std::string(2000, 'a'), false));
}

TEST(AccessPolicyTest, ShortFormAllowsListedActionsOnListedStreams) {
  auto p = AccessPolicy::FromLists({"kinesis:PutRecord*", "kinesis:Describe*"},
                                   {"kinesis:DescribeStreamConsumer"}, {"app-*"});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->Evaluate("kinesis:PutRecords", StreamArn("app-web"), "app-web"),
            AccessDecision::kAllow);
  EXPECT_EQ(p->Evaluate("kinesis:putrecord", StreamArn("app-web"), "app-web"),
            AccessDecision::kAllow);  // actions compare case-insensitively
  EXPECT_EQ(p->Evaluate("kinesis:PutRecords", StreamArn("billing"), "billing"),
            AccessDecision::kImplicitDeny);
  EXPECT_EQ(p->Evaluate("kinesis:GetRecords", StreamArn("app-web"), "app-web"),
            AccessDecision::kImplicitDeny);
  EXPECT_EQ(p->Evaluate("kinesis:DescribeStreamConsumer", StreamArn("app-web"), "app-web"),
            AccessDecision::kExplicitDeny);
  // A call on no stream is checked by its action alone in the short form.
  EXPECT_EQ(p->Evaluate("kinesis:DescribeLimits", std::string(kArn) + "*", ""),
            AccessDecision::kAllow);
  EXPECT_EQ(p->Evaluate("kinesis:ListStreams", std::string(kArn) + "*", ""),
            AccessDecision::kImplicitDeny);
}

TEST(AccessPolicyTest, ShortFormResourcesMayBeArns) {
  auto p = AccessPolicy::FromLists({"firehose:PutRecord*"}, {},
                                   {"arn:aws:firehose:*:*:deliverystream/fleet"});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->Evaluate("firehose:PutRecordBatch",
                        "arn:aws:firehose:us-east-1:000000000000:deliverystream/fleet", "fleet"),
            AccessDecision::kAllow);
  EXPECT_EQ(p->Evaluate("firehose:PutRecordBatch",
                        "arn:aws:firehose:us-east-1:000000000000:deliverystream/other", "other"),
            AccessDecision::kImplicitDeny);
}

TEST(AccessPolicyTest, ShortFormRefusesWhatCannotBeMeant) {
  auto none = AccessPolicy::FromLists({}, {"kinesis:*"}, {});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("allow is empty"), std::string::npos);
  auto bad = AccessPolicy::FromLists({"PutRecords"}, {}, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "allow: \"PutRecords\" is not an action (service:Operation, e.g. kinesis:PutRecords, "
            "kinesis:Get*, firehose:*)");
  auto other = AccessPolicy::FromLists({"s3:GetObject"}, {}, {});
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("other than kinesis and firehose"), std::string::npos);
}

TEST(AccessPolicyTest, DocumentExplicitDenyWinsAndNotElementsInvert) {
  auto p = AccessPolicy::FromDocument(R"({
    "Version": "2012-10-17",
    "Statement": [
      {"Sid": "rw", "Effect": "Allow", "Action": ["kinesis:*"],
       "Resource": "arn:aws:kinesis:*:*:stream/*"},
      {"Effect": "Deny", "Action": "kinesis:DeleteStream", "Resource": "*"},
      {"Effect": "Deny", "NotAction": ["kinesis:Get*", "kinesis:Describe*", "kinesis:List*"],
       "Resource": "arn:aws:kinesis:*:*:stream/audit"},
      {"Effect": "Allow", "Action": "firehose:PutRecordBatch",
       "NotResource": "arn:aws:firehose:*:*:deliverystream/secret-*"}
    ]})");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->Evaluate("kinesis:PutRecords", StreamArn("web"), "web"), AccessDecision::kAllow);
  EXPECT_EQ(p->Evaluate("kinesis:DeleteStream", StreamArn("web"), "web"),
            AccessDecision::kExplicitDeny);
  EXPECT_EQ(p->Evaluate("kinesis:GetRecords", StreamArn("audit"), "audit"), AccessDecision::kAllow);
  EXPECT_EQ(p->Evaluate("kinesis:PutRecords", StreamArn("audit"), "audit"),
            AccessDecision::kExplicitDeny);
  // stream/* covers the account-level resource IAM checks ListStreams against.
  EXPECT_EQ(p->Evaluate("kinesis:ListStreams", std::string(kArn) + "*", ""),
            AccessDecision::kAllow);
  const std::string fh = "arn:aws:firehose:us-east-1:000000000000:deliverystream/";
  EXPECT_EQ(p->Evaluate("firehose:PutRecordBatch", fh + "fleet", "fleet"), AccessDecision::kAllow);
  EXPECT_EQ(p->Evaluate("firehose:PutRecordBatch", fh + "secret-x", "secret-x"),
            AccessDecision::kImplicitDeny);
  EXPECT_EQ(p->Evaluate("firehose:DeleteDeliveryStream", fh + "fleet", "fleet"),
            AccessDecision::kImplicitDeny);
}

TEST(AccessPolicyTest, DocumentAcceptsOneStatementObject) {
  auto p = AccessPolicy::FromDocument(
      R"({"Statement": {"Effect": "Allow", "Action": "kinesis:ListStreams", "Resource": "*"}})");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->Evaluate("kinesis:ListStreams", std::string(kArn) + "*", ""),
            AccessDecision::kAllow);
  // Resource "*" in a document matches every stream too.
  EXPECT_EQ(p->Evaluate("kinesis:ListStreams", StreamArn("x"), "x"), AccessDecision::kAllow);
}

TEST(AccessPolicyTest, DocumentErrorsNameTheElement) {
  struct Case {
    const char* json;
    const char* message;
  } cases[] = {
      {"[1]", "policy document: must be a JSON object"},
      {"{\"Version\": \"2012-10-17\"}", "policy document: Statement is missing"},
      {"{\"Statement\": []}", "policy document: Statement must be an object or a non-empty array"},
      {R"({"Statement": [{"Effect": "Allow", "Action": "kinesis:*"}]})",
       "policy document: Statement[0]: Resource (or NotResource) is missing"},
      {R"({"Statement": [{"Effect": "Maybe", "Action": "kinesis:*", "Resource": "*"}]})",
       "policy document: Statement[0].Effect must be Allow or Deny"},
      {R"({"Statement": [{"Effect": "Allow", "Action": "kinesis:*", "Resource": "stream/x"}]})",
       "policy document: Statement[0].Resource: \"stream/x\" is not an ARN or *"},
      {R"({"Statement": [{"Effect": "Allow", "Action": "kinesis:*", "Resource": "*",
           "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]})",
       "policy document: Statement[0].Condition is not supported here; a policy is checked only "
       "for the credential it is given to, on actions and resources"},
      {R"({"Statement": [{"Effect": "Allow", "Action": "kinesis:*", "NotAction": "kinesis:Get*",
           "Resource": "*"}]})",
       "policy document: Statement[0]: give one of Action and NotAction"},
      {R"({"Statment": []})", "policy document: Statement is missing"},
  };
  for (const Case& c : cases) {
    auto p = AccessPolicy::FromDocument(c.json);
    ASSERT_FALSE(p.ok()) << c.json;
    EXPECT_EQ(p.status().message(), c.message) << c.json;
  }
  auto broken = AccessPolicy::FromDocument("{\"Statement\": [");
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.status().message().rfind("policy document: invalid JSON at byte ", 0), 0u);
}

TEST(AccessPolicyTest, ResourcePoliciesNameTheirPrincipals) {
  const std::string user = "arn:aws:iam::000000000000:user/AKIDREADER";
  auto p = AccessPolicy::FromResourceDocument(R"({"Statement": [
      {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::000000000000:user/AKIDREADER"]},
       "Action": "kinesis:Get*", "Resource": "*"},
      {"Effect": "Deny", "Principal": "*", "Action": "kinesis:DeleteStream", "Resource": "*"},
      {"Effect": "Allow", "Principal": {"AWS": "111111111111"}, "Action": "kinesis:*",
       "Resource": "*"}]})");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->EvaluateFor("kinesis:GetRecords", StreamArn("s"), user, "000000000000"),
            AccessDecision::kAllow);
  EXPECT_EQ(p->EvaluateFor("kinesis:GetRecords", StreamArn("s"),
                           "arn:aws:iam::000000000000:user/AKIDOTHER", "000000000000"),
            AccessDecision::kImplicitDeny);
  EXPECT_EQ(p->EvaluateFor("kinesis:DeleteStream", StreamArn("s"), user, "000000000000"),
            AccessDecision::kExplicitDeny);
  // An account id (or its root ARN) names every principal of that account.
  EXPECT_EQ(p->EvaluateFor("kinesis:PutRecords", StreamArn("s"),
                           "arn:aws:iam::111111111111:user/AKIDX", "111111111111"),
            AccessDecision::kAllow);
  auto no_principal = AccessPolicy::FromResourceDocument(
      R"({"Statement": {"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"}})");
  ASSERT_FALSE(no_principal.ok());
  EXPECT_EQ(no_principal.status().message(),
            "policy document: Statement: Principal is missing (a resource policy says whom it is "
            "about)");
  auto bad_principal = AccessPolicy::FromResourceDocument(
      R"({"Statement": {"Effect": "Allow", "Principal": {"AWS": "bob"}, "Action": "kinesis:*",
          "Resource": "*"}})");
  ASSERT_FALSE(bad_principal.ok());
  EXPECT_EQ(
      bad_principal.status().message(),
      "policy document: Statement.Principal.AWS: \"bob\" is not *, an account id or an IAM ARN");
  // An identity policy takes no Principal.
  EXPECT_FALSE(AccessPolicy::FromDocument(
                   R"({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "kinesis:*",
                       "Resource": "*"}})")
                   .ok());
}

}  // namespace
}  // namespace sluice
