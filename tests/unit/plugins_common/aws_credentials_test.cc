// The credentials chain: config, environment, shared file, and IMDSv2 against a local metadata
// server (token PUT, role listing, role credentials, refresh before expiry).
#include "plugins/common/aws_credentials.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tests/unit/plugins_common/test_http_server.h"

namespace sluice::sink {
namespace {

using test::TestHttpServer;
using test::TestRequest;
using test::TestResponse;

class AwsCredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* v :
         {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
          "AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_SERVICE_ENDPOINT"}) {
      unsetenv(v);
    }
    dir_ = std::filesystem::temp_directory_path() /
           ("sluice-creds-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    file_ = dir_ / "credentials";
    setenv("AWS_SHARED_CREDENTIALS_FILE", file_.c_str(), 1);
    setenv("HOME", dir_.c_str(), 1);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void WriteFile(const std::string& text) { std::ofstream(file_) << text; }

  std::filesystem::path dir_, file_;
};

TEST_F(AwsCredentialsTest, ConfigComesFirst) {
  setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
  auto p = AwsCredentialsProvider::Create({"CFGKEY", "cfgsecret", "tok", ""});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->source(), AwsCredentialsProvider::Source::kConfig);
  auto c = (*p)->Get();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->access_key_id, "CFGKEY");
  EXPECT_EQ(c->session_token, "tok");
  EXPECT_FALSE(AwsCredentialsProvider::Create({"CFGKEY", "", "", ""}).ok());
}

TEST_F(AwsCredentialsTest, EnvironmentThenSharedFile) {
  WriteFile(
      "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key=filesecret\n"
      "[profile other]\naws_access_key_id=OTHER\naws_secret_access_key=o\n"
      "aws_session_token = t1\n");
  setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
  setenv("AWS_SESSION_TOKEN", "envtoken", 1);
  auto p = AwsCredentialsProvider::Create({});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->source(), AwsCredentialsProvider::Source::kEnvironment);
  EXPECT_EQ((*p)->Get()->session_token, "envtoken");

  unsetenv("AWS_ACCESS_KEY_ID");
  p = AwsCredentialsProvider::Create({});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->source(), AwsCredentialsProvider::Source::kSharedFile);
  EXPECT_EQ((*p)->Get()->access_key_id, "FILEKEY");
  EXPECT_EQ((*p)->Get()->secret_access_key, "filesecret");

  setenv("AWS_PROFILE", "other", 1);
  p = AwsCredentialsProvider::Create({});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->Get()->access_key_id, "OTHER");
  EXPECT_EQ((*p)->Get()->session_token, "t1");

  // A profile named in the config that the file lacks is an error, not a silent fallback.
  EXPECT_FALSE(AwsCredentialsProvider::Create({"", "", "", "missing"}).ok());
}

TEST_F(AwsCredentialsTest, InstanceMetadataV2WithRefreshBeforeExpiry) {
  int issued = 0;
  std::vector<std::string> paths;
  TestHttpServer imds([&](const TestRequest& r) {
    paths.push_back(r.method + " " + r.target);
    TestResponse resp;
    if (r.method == "PUT" && r.target == "/latest/api/token") {
      if (r.headers.count("x-aws-ec2-metadata-token-ttl-seconds") == 0) resp.status = 400;
      resp.body = "TOKEN-1";
      return resp;
    }
    auto it = r.headers.find("x-aws-ec2-metadata-token");
    if (it == r.headers.end() || it->second != "TOKEN-1") {
      resp.status = 401;
      return resp;
    }
    if (r.target == "/latest/meta-data/iam/security-credentials/") {
      resp.body = "my-role\n";
    } else if (r.target == "/latest/meta-data/iam/security-credentials/my-role") {
      ++issued;
      // Expires at 2026-01-01T01:00:00Z (1767229200).
      resp.body = "{\"Code\":\"Success\",\"AccessKeyId\":\"ASIA" + std::to_string(issued) +
                  "\",\"SecretAccessKey\":\"s\",\"Token\":\"tok\","
                  "\"Expiration\":\"2026-01-01T01:00:00Z\"}";
    } else {
      resp.status = 404;
    }
    return resp;
  });
  setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url().c_str(), 1);
  std::time_t now = 1767225600;  // 2026-01-01T00:00:00Z
  auto p = AwsCredentialsProvider::Create({}, [&] { return now; });
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->source(), AwsCredentialsProvider::Source::kInstanceMetadata);
  auto c = (*p)->Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "ASIA1");
  EXPECT_EQ(c->session_token, "tok");
  EXPECT_EQ(c->expires_at, 1767229200);
  ASSERT_EQ(paths.size(), 3u);
  EXPECT_EQ(paths[0], "PUT /latest/api/token");
  now += 3000;  // 10 minutes before expiry: still cached
  EXPECT_EQ((*p)->Get()->access_key_id, "ASIA1");
  EXPECT_EQ(issued, 1);
  now += 400;  // under 5 minutes left: refreshed
  EXPECT_EQ((*p)->Get()->access_key_id, "ASIA2");
  EXPECT_EQ(issued, 2);
}

TEST_F(AwsCredentialsTest, UnreachableMetadataIsRetryableAndCanBeDisabled) {
  int port;
  {
    TestHttpServer gone([](const TestRequest&) { return TestResponse{}; });
    port = gone.port();
  }
  setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", ("http://127.0.0.1:" + std::to_string(port)).c_str(),
         1);
  auto p = AwsCredentialsProvider::Create({});
  ASSERT_TRUE(p.ok());
  auto c = (*p)->Get();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Code::kUnavailable);
  setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
  EXPECT_FALSE(AwsCredentialsProvider::Create({}).ok());
}

TEST(SharedCredentialsTest, Parse) {
  auto c =
      ParseSharedCredentials("; c\n[a]\naws_access_key_id=A\r\n[b]\naws_access_key_id=B\n", "b");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->access_key_id, "B");
  EXPECT_FALSE(ParseSharedCredentials("[a]\n", "a").ok());
  EXPECT_EQ(ParseIso8601("2026-01-01T01:00:00Z"), 1767229200);
  EXPECT_EQ(ParseIso8601("junk"), -1);
}

}  // namespace
}  // namespace sluice::sink
