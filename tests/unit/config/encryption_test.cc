// Encryption at rest of streams: broker.encryption.keyring, loaded with the config, and
// streams[].encryption checked against it.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/config/config.h"

namespace sluice::config {
namespace {

constexpr char kTwoKeys[] =
    "# made with sluice keygen\n"
    "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
    "k2 ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=\n";

class StreamEncryptionTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sluice_config_encryption_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    keyring_ = Write("keyring", kTwoKeys, 0600);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text, mode_t mode) {
    std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);
    return path;
  }
  // A config whose broker section names `keyring`, after `streams` (the streams come first on
  // purpose: the keys are checked once the whole file is read).
  static std::string Yaml(const std::string& streams, const std::string& keyring) {
    return "data_dir: d\nstreams:\n" + streams + "broker: {encryption: {keyring: '" + keyring +
           "'}}\n";
  }

  std::filesystem::path dir_;
  std::string keyring_;
};

TEST_F(StreamEncryptionTest, SectionsLoadIntoTheStreamsAndTheKeyringIntoTheBroker) {
  Result<Config> r = LoadConfigText(Yaml("  - {name: primary, encryption: {}}\n"
                                         "  - {name: named, encryption: {key_id: k1}}\n"
                                         "  - {name: off, encryption: {enabled: false}}\n"
                                         "  - {name: untouched}\n",
                                         keyring_),
                                    "t.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->streams.size(), 4u);
  EXPECT_TRUE(r->streams[0].encryption.enabled);
  EXPECT_EQ(r->streams[0].encryption.key_id, "");  // the primary, whichever it is then
  EXPECT_TRUE(r->streams[1].encryption.enabled);
  EXPECT_EQ(r->streams[1].encryption.key_id, "k1");
  EXPECT_FALSE(r->streams[2].encryption.enabled);
  EXPECT_FALSE(r->streams[3].encryption.enabled);
  EXPECT_EQ(r->streams_setting_encryption, (std::vector<std::string>{"primary", "named", "off"}));
  EXPECT_TRUE(r->SetsEncryption("off"));
  EXPECT_FALSE(r->SetsEncryption("untouched"));

  EXPECT_EQ(r->broker.keyring_file, keyring_);
  broker::BrokerOptions bo = BrokerOptionsOf(*r);
  ASSERT_NE(bo.keyring, nullptr);
  ASSERT_EQ(bo.keyring->keys().size(), 2u);
  EXPECT_EQ(bo.keyring->FindOrPrimary("")->id, "k2");
}

TEST_F(StreamEncryptionTest, NoKeyringNoEncryption) {
  Result<Config> r = LoadConfigText("data_dir: d\nstreams: [{name: s}]\n", "t.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(BrokerOptionsOf(*r).keyring, nullptr);
  EXPECT_FALSE(r->streams[0].encryption.enabled);
  EXPECT_TRUE(r->streams_setting_encryption.empty());
}

TEST_F(StreamEncryptionTest, EncryptedStreamWithoutKeyringIsRefused) {
  Result<Config> r = LoadConfigText(
      "data_dir: d\nstreams:\n  - name: s\n    encryption: {key_id: k1}\n", "t.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "t.yaml:4:17: streams[0].encryption: stream encryption needs "
            "broker.encryption.keyring (the file of master keys; make keys with `sluice keygen`)");
  // Turning encryption off needs no key.
  r = LoadConfigText("data_dir: d\nstreams:\n  - {name: s, encryption: {enabled: false}}\n",
                     "t.yaml");
  EXPECT_TRUE(r.ok()) << r.status().message();
}

TEST_F(StreamEncryptionTest, MissingKeyringFileIsRefused) {
  std::string gone = (dir_ / "gone").string();
  Result<Config> r = LoadConfigText(Yaml("  - {name: s, encryption: {}}\n", gone), "t.yaml");
  ASSERT_FALSE(r.ok());
  // Only where the keyring is named: the stream's section is not reported again.
  EXPECT_EQ(r.status().message(), "t.yaml:4:32: broker.encryption.keyring: keyring " + gone +
                                      ": No such file or directory");
}

TEST_F(StreamEncryptionTest, UnknownKeyIdIsRefused) {
  Result<Config> r =
      LoadConfigText(Yaml("  - {name: s, encryption: {key_id: k3}}\n", keyring_), "t.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "t.yaml:3:36: streams[0].encryption.key_id: key id \"k3\" is "
            "not in the keyring " +
                keyring_ + " (did you mean 'k1'?)");
}

TEST_F(StreamEncryptionTest, KeyringOthersOrGroupMayReadIsRefused) {
  for (mode_t mode : {0604, 0640}) {
    ASSERT_EQ(::chmod(keyring_.c_str(), mode), 0);
    Result<Config> r = LoadConfigText(Yaml("  - {name: s, encryption: {}}\n", keyring_), "t.yaml");
    ASSERT_FALSE(r.ok()) << mode;
    EXPECT_EQ(r.status().message(), "t.yaml:4:32: broker.encryption.keyring: keyring " + keyring_ +
                                        " is readable by group or others; chmod 600 it");
  }
}

TEST_F(StreamEncryptionTest, BadKeyringLineIsNamed) {
  std::string bad =
      Write("bad", "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\nk2 short\n", 0600);
  Result<Config> r = LoadConfigText(Yaml("  - {name: s, encryption: {}}\n", bad), "t.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "t.yaml:4:32: broker.encryption.keyring: " + bad +
                                      ":2: key k2 is not 32 bytes of base64");
}

}  // namespace
}  // namespace sluice::config
