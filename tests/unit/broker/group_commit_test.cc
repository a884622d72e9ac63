// Which thread makes what durable. This binary defines fdatasync() and fsync() itself, so every
// call the broker makes is recorded (file path and calling thread) before it reaches libc; it is
// a test binary of its own so that the interposition touches no other test.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "broker_test_util.h"

namespace {

struct SyncCall {
  std::string path;
  std::thread::id thread;
};

std::mutex g_mu;
std::vector<SyncCall> g_calls;

void Record(int fd) {
  char link[64];
  std::snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  std::error_code ec;
  std::string path = std::filesystem::read_symlink(link, ec).string();
  std::lock_guard<std::mutex> lock(g_mu);
  g_calls.push_back({path, std::this_thread::get_id()});
}

template <typename Fn>
Fn Next(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" int fdatasync(int fd) {
  static auto real = Next<int (*)(int)>("fdatasync");
  Record(fd);
  return real(fd);
}

extern "C" int fsync(int fd) {
  static auto real = Next<int (*)(int)>("fsync");
  Record(fd);
  return real(fd);
}

namespace sluice::broker {
namespace {

std::vector<SyncCall> TakeCalls() {
  std::lock_guard<std::mutex> lock(g_mu);
  return std::exchange(g_calls, {});
}

class GroupCommitTest : public testing::BrokerTest {
 protected:
  // Fills a one-shard stream past several 64 KiB segments, 100 records of 1000 bytes at a time.
  Stream* FillPastSegments(FsyncPolicy fsync) {
    BrokerOptions o = Options();
    o.segment_bytes = 64 << 10;
    OpenBroker(o);
    Stream* s = MakeStream("g", 1, fsync);
    std::string data(1000, 'x');
    std::vector<PutRecordIn> in(100, PutRecordIn{"pk", data, uint128{0}});
    std::vector<PutRecordOut> out;
    TakeCalls();  // what creating the stream synced
    for (int i = 0; i < 4; ++i) {
      EXPECT_TRUE(s->PutBatch(in, &out).ok());
      for (const auto& r : out) EXPECT_TRUE(r.status.ok()) << r.status.ToString();
    }
    return s;
  }
  std::filesystem::path ShardDir() const {
    return dir_.path() / "streams" / "g" / "shardId-000000000000";
  }
  std::set<std::string> SegmentFiles() const {
    std::set<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(ShardDir())) {
      if (e.path().extension() == ".log") out.insert(e.path().string());
    }
    return out;
  }
};

TEST_F(GroupCommitTest, AppendsThatRollSegmentsLeaveEverySyncToTheGroupCommit) {
  Stream* s = FillPastSegments(FsyncPolicy::kInterval);
  std::set<std::string> segments = SegmentFiles();
  ASSERT_GE(segments.size(), 4u);
  // The appending thread (the tailer's event loop) waited on no fsync at all: not for the sealed
  // segments, not for their index files, not for the directory.
  for (const auto& c : TakeCalls()) ADD_FAILURE() << "the appending thread synced " << c.path;
  EXPECT_LT(s->DurableGeneration(), s->WriteGeneration());

  // The group commit, from another thread, syncs every segment and the directory entries.
  std::thread committer([&] { EXPECT_TRUE(s->Sync().ok()); });
  std::thread::id committer_id = committer.get_id();
  committer.join();
  std::set<std::string> synced;
  for (const auto& c : TakeCalls()) {
    EXPECT_EQ(c.thread, committer_id);
    synced.insert(c.path);
  }
  for (const auto& seg : segments) EXPECT_TRUE(synced.count(seg)) << seg << " never synced";
  EXPECT_TRUE(synced.count(ShardDir().string())) << "the shard directory was not synced";
  EXPECT_EQ(s->DurableGeneration(), s->WriteGeneration());

  // Nothing new: the next group commit has nothing to do.
  EXPECT_TRUE(s->Sync().ok());
  EXPECT_TRUE(TakeCalls().empty());
}

TEST_F(GroupCommitTest, FsyncNeverSyncsNothingOnItsOwn) {
  Stream* s = FillPastSegments(FsyncPolicy::kNever);
  ASSERT_GE(SegmentFiles().size(), 4u);
  clock_.Advance(60 * 1000);
  EXPECT_TRUE(broker_->SyncDue().ok());
  for (const auto& c : TakeCalls()) ADD_FAILURE() << "synced " << c.path;
  EXPECT_EQ(s->DurableGeneration(), s->WriteGeneration());
}

TEST_F(GroupCommitTest, SealedSegmentsAreReadableBeforeAndAfterTheirSync) {
  Stream* s = FillPastSegments(FsyncPolicy::kInterval);
  EXPECT_EQ(ReadAll(s, 0).size(), 400u);
  EXPECT_TRUE(s->Sync().ok());
  broker_.reset();
  OpenBroker();  // sealed segments reopen from their unsynced index files
  auto again = broker_->GetStream("g");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(ReadAll(*again, 0).size(), 400u);
}

// A delivery batch spans shards: its checkpoints are moved with one metadata write (one fsync
// of the file and one of its directory), all or none, and they survive a restart.
TEST_F(GroupCommitTest, CheckpointsOfSeveralShardsAreOneDurableWrite) {
  OpenBroker();
  Stream* s = MakeStream("cp", 2);
  ASSERT_TRUE(s->RegisterConsumer("d").ok());
  PutN(s, 5, "a", uint128{0});                        // shard 0
  PutN(s, 7, "b", ~uint128{0});                       // shard 1
  std::vector<ShardPosition> bad = {{0, 5}, {1, 8}};  // shard 1 ends at 7
  EXPECT_EQ(s->Checkpoint("d", bad).code(), Code::kInvalidArgument);
  EXPECT_EQ(s->GetCheckpoint("d", 0).status().code(), Code::kNotFound);  // none moved
  TakeCalls();
  std::vector<ShardPosition> good = {{0, 5}, {1, 7}};
  ASSERT_TRUE(s->Checkpoint("d", good).ok());
  int file_syncs = 0;
  for (const auto& c : TakeCalls()) {
    if (std::filesystem::path(c.path).filename() == ".tmp-stream.json") ++file_syncs;
  }
  EXPECT_EQ(file_syncs, 1);
  broker_.reset();
  OpenBroker();
  auto again = broker_->GetStream("cp");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*(*again)->GetCheckpoint("d", 0), 5u);
  EXPECT_EQ(*(*again)->GetCheckpoint("d", 1), 7u);
}

}  // namespace
}  // namespace sluice::broker
