// The world-readable secrets rule and secrets read from the environment or a file.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/config/config.h"
#include "agent/config/schema.h"

namespace sluice::config {
namespace {

class SecretsTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sluice_config_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text, mode_t mode) {
    std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);
    return path;
  }

  std::filesystem::path dir_;
};

constexpr const char* kInlineSecret =
    "data_dir: d\n"
    "deliveries:\n"
    "  - name: a\n"
    "    direct_put: true\n"
    "    sink: {type: splunk, endpoint: 'https://h:8088', token: 0b3e-secret-value}\n";

TEST_F(SecretsTest, WorldReadableFileWithInlineSecretIsRefused) {
  std::string path = Write("s.yaml", kInlineSecret, 0644);
  Result<Config> r = LoadConfigFile(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            path +
                ":5:61: deliveries[0].sink.token: a secret is written inline in a file others "
                "can read (mode 0644); run chmod o-r on the file, or use ${VAR} or a *_env / "
                "*_file key");
  EXPECT_EQ(r.status().message().find("0b3e-secret-value"), std::string::npos);
}

TEST_F(SecretsTest, PrivateFileWithInlineSecretLoads) {
  std::string path = Write("s.yaml", kInlineSecret, 0640);
  Result<Config> r = LoadConfigFile(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->source_file, path);
  EXPECT_EQ(r->deliveries[0].sink.options[1].value, "0b3e-secret-value");
  EXPECT_TRUE(r->deliveries[0].sink.options[1].secret);
}

TEST_F(SecretsTest, WorldReadableFileWithSecretsFromEnvLoads) {
  setenv("SLUICE_T_TOKEN", "from-env", 1);
  std::string path = Write("s.yaml",
                           "data_dir: d\n"
                           "broker: {api: {listen: '127.0.0.1:0', auth: [{access_key_id: AK,\n"
                           "         secret_access_key: '${SLUICE_T_TOKEN}'}]}}\n",
                           0644);
  Result<Config> r = LoadConfigFile(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->broker.api.auth[0].secret_access_key, "from-env");
}

TEST_F(SecretsTest, EveryInlineSecretIsReported) {
  std::string pw = Write("pw", "p\n", 0600);
  std::string path = Write("s.yaml",
                           "data_dir: d\n"
                           "broker: {api: {auth: [{access_key_id: AK, secret_access_key: x1}]}}\n"
                           "deliveries:\n"
                           "  - {name: a, direct_put: true, sink: {type: http, access_key: x2,\n"
                           "     password_file: " +
                               pw + ", session_token: '${SLUICE_T_TOKEN:-x}'}}\n",
                           0604);
  Result<Config> r = LoadConfigFile(path);
  ASSERT_FALSE(r.ok());
  std::string tail =
      ": a secret is written inline in a file others can read (mode 0604); run chmod o-r on the "
      "file, or use ${VAR} or a *_env / *_file key";
  EXPECT_EQ(r.status().message(), path + ":2:62: broker.api.auth[0].secret_access_key" + tail +
                                      "\n" + path + ":4:64: deliveries[0].sink.access_key" + tail);
}

TEST_F(SecretsTest, SinkSecretsFromFilesAndTheEnvironment) {
  std::string token = Write("token", "tok-from-file\n", 0600);
  setenv("SLUICE_T_SPLUNK", "hec-from-env", 1);
  Result<Config> r = LoadConfigText(
      "data_dir: d\n"
      "deliveries:\n"
      "  - {name: a, direct_put: true, sink: {type: http, url: 'http://x', bearer_token_file: " +
          token +
          "}}\n"
          "  - {name: b, direct_put: true, sink: {type: splunk, token_env: SLUICE_T_SPLUNK}}\n",
      "t.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  auto option = [](const buffer::SinkSection& s,
                   const std::string& key) -> const buffer::SinkOption* {
    for (const auto& o : s.options) {
      if (o.key == key) return &o;
    }
    return nullptr;
  };
  const buffer::SinkOption* bearer = option(r->deliveries[0].sink, "bearer_token");
  ASSERT_NE(bearer, nullptr);
  EXPECT_EQ(bearer->value, "tok-from-file");
  EXPECT_TRUE(bearer->secret);
  EXPECT_EQ(option(r->deliveries[0].sink, "bearer_token_file"), nullptr);
  const buffer::SinkOption* hec = option(r->deliveries[1].sink, "token");
  ASSERT_NE(hec, nullptr);
  EXPECT_EQ(hec->value, "hec-from-env");

  // A readable file, an unset variable, and both forms at once: each named at its position.
  std::string open_file = Write("open", "x\n", 0644);
  r = LoadConfigText(
      "data_dir: d\n"
      "deliveries:\n"
      "  - {name: a, direct_put: true, sink: {type: http, bearer_token_file: " +
          open_file +
          "}}\n"
          "  - {name: b, direct_put: true, sink: {type: splunk, token_env: "
          "SLUICE_T_UNSET_TOKEN}}\n"
          "  - {name: c, direct_put: true, sink: {type: http, password: '${X:-p}',"
          " password_env: SLUICE_T_SPLUNK}}\n",
      "t.yaml");
  ASSERT_FALSE(r.ok());
  std::string m = r.status().message();
  EXPECT_NE(m.find("deliveries[0].sink.bearer_token_file: \"" + open_file +
                   "\" holds a secret and is readable by others"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("t.yaml:4:65: deliveries[1].sink.token_env: environment variable "
                   "SLUICE_T_UNSET_TOKEN is not set"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("deliveries[2].sink.password_env: give one of password, password_file, "
                   "password_env"),
            std::string::npos)
      << m;
  EXPECT_EQ(m.find("hec-from-env"), std::string::npos);  // never echoed
}

TEST_F(SecretsTest, SecretFromFile) {
  std::string secret = Write("key", "file-secret\n", 0600);
  std::string yaml =
      "data_dir: d\nbroker: {api: {auth: [{access_key_id: AK, "
      "secret_access_key_file: '" +
      secret + "'}]}}\n";
  Result<Config> r = LoadConfigText(yaml, "t.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->broker.api.auth[0].secret_access_key, "file-secret");

  ASSERT_EQ(::chmod(secret.c_str(), 0644), 0);
  r = LoadConfigText(yaml, "t.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "t.yaml:2:67: broker.api.auth[0].secret_access_key_file: \"" + secret +
                "\" holds a secret and is readable by others (mode 0644); run chmod o-r on it");
}

TEST(SecretKeyTest, NamesLikeSecretsAreSecret) {
  for (const char* key : {"secret_access_key", "token", "session_token", "password", "access_key",
                          "hec_token", "api_key"}) {
    EXPECT_TRUE(IsSecretKey(key)) << key;
  }
  for (const char* key : {"access_key_id", "secret_access_key_env", "secret_access_key_file",
                          "token_file", "bucket", "endpoint", "keyring"}) {
    EXPECT_FALSE(IsSecretKey(key)) << key;
  }
}

}  // namespace
}  // namespace sluice::config
