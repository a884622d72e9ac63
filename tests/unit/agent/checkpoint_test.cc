#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/tail/checkpoint_store.h"
#include "agent/tail/file_identity.h"

namespace sluice::agent {
namespace {

namespace fs = std::filesystem;

fs::path TempDir(const char* name) {
  fs::path d = fs::temp_directory_path() / ("sluice_cp_" + std::to_string(getpid()) + name);
  fs::remove_all(d);
  return d;
}

TEST(CheckpointStoreTest, RoundTripsAndReplacesAtomically) {
  fs::path dir = TempDir("rt");
  CheckpointStore store(dir, "my/flow");
  auto empty = store.Load();
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->files.empty());
  EXPECT_FALSE(empty->has_tags);
  FileCheckpoint c;
  c.path = "/var/log/a \"quoted\".log";
  c.id = {42, 9999999999ull};
  c.fingerprint = {1024, 0xfeedfacecafebeefull};
  c.offset = 123456789012ull;
  c.prefix_len = 256;
  c.prefix_hash = 77;
  ASSERT_TRUE(store.Save({c}).ok());
  EXPECT_EQ(store.path().filename(), "my_flow.json");
  EXPECT_FALSE(fs::exists(store.path().parent_path() / ".tmp-my_flow.json"));
  auto got = store.Load();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->files.size(), 1u);
  EXPECT_EQ(got->files[0].path, c.path);
  EXPECT_EQ(got->files[0].id, c.id);
  EXPECT_EQ(got->files[0].fingerprint, c.fingerprint);
  EXPECT_EQ(got->files[0].offset, c.offset);
  EXPECT_EQ(got->files[0].prefix_hash, 77u);
  ASSERT_TRUE(store.Save({}).ok());
  EXPECT_TRUE(store.Load()->files.empty());
  fs::remove_all(dir);
}

TEST(CheckpointStoreTest, MalformedFileIsCorruptionNamingTheFile) {
  fs::path dir = TempDir("bad");
  fs::create_directories(dir);
  CheckpointStore store(dir, "f");
  std::ofstream(store.path()) << "{\"files\":[{\"dev\":1}]}";
  auto got = store.Load();
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kCorruption);
  EXPECT_NE(got.status().message().find("f.json"), std::string::npos);
  EXPECT_NE(got.status().message().find("files[0].ino"), std::string::npos);
  fs::remove_all(dir);
}

TEST(FileIdentityTest, FingerprintDistinguishesContentAndGrowsWithFile) {
  fs::path dir = TempDir("fp");
  fs::create_directories(dir);
  fs::path p = dir / "f";
  std::ofstream(p) << "short";
  int fd = open(p.c_str(), O_RDONLY);
  auto fp = ComputeFingerprint(fd, 5);
  ASSERT_TRUE(fp.ok());
  EXPECT_EQ(fp->len, 5u);
  EXPECT_TRUE(FingerprintMatches(fd, 5, *fp));
  // The file grows: the old (shorter) fingerprint still matches its first bytes.
  std::ofstream(p, std::ios::app) << std::string(5000, 'x');
  EXPECT_TRUE(FingerprintMatches(fd, 5005, *fp));
  auto full = ComputeFingerprint(fd, 5005);
  EXPECT_EQ(full->len, kFingerprintBytes);
  close(fd);
  // Same length, other content (a reused inode holding another file): no match.
  std::ofstream(p) << "other" << std::string(5000, 'x');
  fd = open(p.c_str(), O_RDONLY);
  EXPECT_FALSE(FingerprintMatches(fd, 5005, *fp));
  EXPECT_FALSE(FingerprintMatches(fd, 3, *fp));  // shorter than the fingerprint
  auto h = HashRange(fd, 0, 5);
  EXPECT_EQ(*h, Fnv1a64("other"));
  EXPECT_EQ(HashRange(fd, 0, 99999).status().code(), Code::kNotFound);
  close(fd);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace sluice::agent
