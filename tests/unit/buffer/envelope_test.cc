#include "buffer/envelope.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "core/base64.h"

namespace sluice::buffer {
namespace {

std::string KeyLine(const std::string& id, char fill) {
  return id + " " + Base64Encode(std::string(32, fill)) + "\n";
}

TEST(EnvelopeTest, RoundTripAndRotation) {
  auto old_ring = Keyring::Parse("# keys\n" + KeyLine("k1", 'a'), "ring");
  ASSERT_TRUE(old_ring.ok()) << old_ring.status().ToString();
  auto enc = Encryptor::Create(*old_ring, "");
  ASSERT_TRUE(enc.ok());
  std::string plain(100000, 'x'), sealed, sealed2;
  ASSERT_TRUE((*enc)->Encrypt(plain, &sealed).ok());
  ASSERT_TRUE((*enc)->Encrypt(plain, &sealed2).ok());
  EXPECT_NE(sealed, sealed2);  // a fresh data key and nonce per object
  EXPECT_EQ(sealed.find(std::string(64, 'x')), std::string::npos);
  // After rotation (k2 primary) the old object still decrypts; new ones use k2.
  auto ring = Keyring::Parse(KeyLine("k1", 'a') + KeyLine("k2", 'b'), "ring");
  ASSERT_TRUE(ring.ok());
  EXPECT_EQ(*DecryptObject(*ring, sealed), plain);
  auto enc2 = Encryptor::Create(*ring, "");
  ASSERT_TRUE((*enc2)->Encrypt("new", &sealed).ok());
  EXPECT_NE(sealed.find("k2"), std::string::npos);
  EXPECT_EQ(*DecryptObject(*ring, sealed), "new");
  EXPECT_EQ(DecryptObject(*old_ring, sealed).status().code(), Code::kNotFound);
}

TEST(EnvelopeTest, TamperingIsDetected) {
  auto ring = Keyring::Parse(KeyLine("k1", 'a'), "ring");
  auto enc = Encryptor::Create(*ring, "k1");
  std::string sealed;
  ASSERT_TRUE((*enc)->Encrypt("hello world", &sealed).ok());
  std::string bad = sealed;
  bad[bad.size() - 20] ^= 1;
  EXPECT_EQ(DecryptObject(*ring, bad).status().code(), Code::kCorruption);
  EXPECT_FALSE(DecryptObject(*ring, sealed.substr(0, sealed.size() - 1)).ok());
  EXPECT_FALSE(Encryptor::Create(*ring, "nope").ok());
}

TEST(EnvelopeTest, KeyringChecks) {
  EXPECT_FALSE(Keyring::Parse("k1 c2hvcnQ=\n", "ring").ok());  // not 32 bytes
  EXPECT_FALSE(Keyring::Parse(KeyLine("k1", 'a') + KeyLine("k1", 'b'), "ring").ok());
  EXPECT_FALSE(Keyring::Parse("# nothing\n", "ring").ok());
  auto path =
      std::filesystem::temp_directory_path() / ("sluice-ring-" + std::to_string(::getpid()));
  std::ofstream(path) << KeyLine("k1", 'a');
  ::chmod(path.c_str(), 0644);
  auto loaded = Keyring::Load(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("readable by group or others"), std::string::npos);
  EXPECT_EQ(loaded.status().message().find(Base64Encode(std::string(32, 'a'))), std::string::npos);
  ::chmod(path.c_str(), 0600);
  EXPECT_TRUE(Keyring::Load(path).ok());
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace sluice::buffer
