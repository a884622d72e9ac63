#include "core/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "core/json.h"
#include "core/secret_key.h"

namespace sluice::log {
namespace {

// Captures what is written to stderr while `fn` runs.
template <typename Fn>
std::string CaptureStderr(Fn fn) {
  std::fflush(stderr);
  char path[] = "/tmp/sluice-log-XXXXXX";
  int fd = mkstemp(path);
  int saved = dup(STDERR_FILENO);
  dup2(fd, STDERR_FILENO);
  fn();
  dup2(saved, STDERR_FILENO);
  close(saved);
  std::string out;
  char buf[4096];
  lseek(fd, 0, SEEK_SET);
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  unlink(path);
  return out;
}

TEST(LogTest, LogfmtQuotesAndRedacts) {
  SetFormat(Format::kLogfmt);
  SetLevel(Level::kInfo);
  std::string out = CaptureStderr([] {
    SLUICE_LOG(Info, "file rotated")
        .With("path", "/a b")
        .With("inode", uint64_t{42})
        .With("secret_access_key", "hunter2");
  });
  EXPECT_NE(out.find("level=info msg=\"file rotated\" path=\"/a b\" inode=42"), std::string::npos)
      << out;
  EXPECT_EQ(out.find("hunter2"), std::string::npos);
  EXPECT_NE(out.find("secret_access_key=[redacted]"), std::string::npos);
}

TEST(LogTest, JsonLinesAndLevels) {
  SetFormat(Format::kJson);
  SetLevel(Level::kWarn);
  std::string out = CaptureStderr([] {
    SLUICE_LOG(Info, "hidden");
    SLUICE_LOG(Error, "broke \"x\"").With("n", 3);
  });
  SetFormat(Format::kLogfmt);
  SetLevel(Level::kInfo);
  EXPECT_EQ(out.find("hidden"), std::string::npos);
  EXPECT_NE(out.find("\"level\":\"error\",\"msg\":\"broke \\\"x\\\"\",\"n\":3}\n"),
            std::string::npos)
      << out;
}

// Values are escaped as JSON strings (core/json.h) in both formats: a JSON line parses back to
// the value, and a logfmt line stays one line.
TEST(LogTest, ValuesAreEscapedAsJsonStrings) {
  std::string value = "a\"b\\c\nd\te\x01";  // control bytes, then DEL and NUL
  value += "f\x7f";
  value += '\0';
  value += "g";
  SetFormat(Format::kJson);
  std::string json = CaptureStderr([&] { SLUICE_LOG(Warn, "m\n").With("k\"", value); });
  SetFormat(Format::kLogfmt);
  std::string logfmt = CaptureStderr([&] { SLUICE_LOG(Warn, "m").With("k", value); });
  rapidjson::Document doc;
  ASSERT_TRUE(ParseJson(json, &doc).ok()) << json;
  EXPECT_EQ(std::string(doc["msg"].GetString()), "m\n");
  EXPECT_EQ(std::string(doc["k\""].GetString(), doc["k\""].GetStringLength()), value);
  EXPECT_NE(logfmt.find(" k=\"a\\\"b\\\\c\\nd\\te\\u0001f\x7f\\u0000g\"\n"), std::string::npos)
      << logfmt;
}

TEST(LogTest, LoudAttempts) {
  for (uint64_t a : {1, 10, 20, 100}) EXPECT_TRUE(LoudAttempt(a)) << a;
  for (uint64_t a : {2, 3, 9, 11, 19}) EXPECT_FALSE(LoudAttempt(a)) << a;
}

TEST(LogTest, ParseLevel) {
  Level l;
  EXPECT_TRUE(ParseLevel("debug", &l));
  EXPECT_EQ(l, Level::kDebug);
  EXPECT_FALSE(ParseLevel("verbose", &l));
}

// The one list the logger, the config loader and the kafka sink share.
TEST(SecretKeyTest, NamesSecretsButNotWhereTheyAre) {
  for (const char* k : {"secret_access_key", "bearer_token", "password", "hec_token", "api_key",
                        "private_key", "authorization", "copy_credentials", "db_passwd"}) {
    EXPECT_TRUE(IsSecretKey(k)) << k;
  }
  for (const char* k : {"access_key_id", "bearer_token_file", "password_env", "token_path",
                        "bucket", "url", "key_id", "ca_file"}) {
    EXPECT_FALSE(IsSecretKey(k)) << k;
  }
}

}  // namespace
}  // namespace sluice::log
