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

// The file cannot be replaced (here its temporary's name is taken by a directory; on a full
// disk, no block for it): the checkpoint goes into the spare reserved beside it, and Load takes
// the spare while it is newer and whole.
TEST(CheckpointStoreTest, AFileThatCannotBeReplacedIsWrittenIntoItsSpare) {
  fs::path dir = TempDir("spare");
  CheckpointStore store(dir, "f");
  FileCheckpoint c;
  c.path = "/var/log/a.log";
  c.id = {1, 2};
  c.fingerprint = {1024, 5};
  c.offset = 100;
  ASSERT_TRUE(store.Save({c}).ok());
  ASSERT_TRUE(fs::exists(store.spare_path()));
  EXPECT_GE(fs::file_size(store.spare_path()), 16u << 10);  // reserved while there was room
  fs::create_directories(dir / ".tmp-f.json");
  c.offset = 200;
  TagScan tags;
  tags.seq = 7;
  tags.shards = {{0, 42}};
  ASSERT_TRUE(store.Save({c}, &tags).ok());
  EXPECT_EQ(store.spare_writes(), 1u);
  {
    CheckpointStore fresh(dir, "f");  // a restart
    auto got = fresh.Load();
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(got->files.size(), 1u);
    EXPECT_EQ(got->files[0].offset, 200u);
    EXPECT_EQ(got->tags.seq, 7u);
    // The next checkpoint the file takes again is newer than the spare.
    fs::remove_all(dir / ".tmp-f.json");
    c.offset = 300;
    ASSERT_TRUE(fresh.Save({c}).ok());
    EXPECT_EQ(fresh.Load()->files[0].offset, 300u);
  }
  // A spare torn by a power cut while it was written is not used.
  CheckpointStore again(dir, "f");
  ASSERT_TRUE(again.Load().ok());
  fs::create_directories(dir / ".tmp-f.json");
  c.offset = 400;
  ASSERT_TRUE(again.Save({c}).ok());
  EXPECT_EQ(CheckpointStore(dir, "f").Load()->files[0].offset, 400u);
  {
    std::fstream f(store.spare_path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(60);
    f.put('#');
  }
  EXPECT_EQ(CheckpointStore(dir, "f").Load()->files[0].offset, 300u);
  // A store that saves without loading first goes on from the files' serial: its checkpoint is
  // the newest, not the spare's.
  c.offset = 450;
  ASSERT_TRUE(again.Save({c}).ok());
  EXPECT_EQ(CheckpointStore(dir, "f").Load()->files[0].offset, 450u);
  fs::remove_all(dir / ".tmp-f.json");
  c.offset = 500;
  ASSERT_TRUE(CheckpointStore(dir, "f").Save({c}).ok());
  EXPECT_EQ(CheckpointStore(dir, "f").Load()->files[0].offset, 500u);
  fs::create_directories(dir / ".tmp-f.json");
  // A spare too small for the checkpoint: the file's error.
  std::vector<FileCheckpoint> many(200, c);
  Status st = again.Save(many);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find(".tmp-f.json"), std::string::npos) << st.message();
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
