#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>

#include "broker/file_util.h"
#include "broker/format.h"
#include "broker_test_util.h"

namespace sluice::broker {
namespace {

class RecoveryTest : public testing::BrokerTest {
 protected:
  std::filesystem::path LastSegment(const std::string& stream) {
    std::filesystem::path last;
    for (auto& e : std::filesystem::directory_iterator(dir_.path() / "streams" / stream /
                                                       "shardId-000000000000")) {
      if (e.path().extension() == ".log" && e.path() > last) last = e.path();
    }
    return last;
  }
  // Puts records "r0".."r9" of growing size, syncs, closes the broker; returns the byte position
  // where each record's frame starts in the only segment, and the file's size at the end.
  std::vector<uint64_t> WriteTen() {
    OpenBroker();
    Stream* s = MakeStream("c", 1);
    std::vector<uint64_t> starts;
    uint64_t pos = format::kSegmentHeaderSize;
    for (int i = 0; i < 10; ++i) {
      std::string data = testing::Cat("r", i) + std::string(i * 3, 'x');
      PutRecordIn in{"pk", data, std::nullopt};
      std::vector<PutRecordOut> out;
      EXPECT_TRUE(s->PutBatch({&in, 1}, &out).ok());
      starts.push_back(pos);
      pos += format::kFrameHeaderSize + 2 + data.size();
    }
    starts.push_back(pos);
    EXPECT_TRUE(s->Sync().ok());
    broker_.reset();
    return starts;
  }
  std::vector<std::string> Recovered() {
    OpenBroker();
    auto s = broker_->GetStream("c");
    EXPECT_TRUE(s.ok());
    auto got = ReadAll(*s, 0);
    for (auto& g : got) g = g.substr(0, g.find('x'));
    return got;
  }
};

TEST_F(RecoveryTest, TornTailIsCutAtEveryByte) {
  auto starts = WriteTen();
  std::filesystem::path seg = LastSegment("c");
  std::string saved = *ReadWholeFile(seg);
  ASSERT_EQ(saved.size(), starts.back());
  // Cut anywhere inside the last three records: every complete record before the cut survives.
  for (uint64_t cut = starts[7]; cut < starts.back(); ++cut) {
    broker_.reset();
    ASSERT_TRUE(WriteFileAtomically(seg, std::string_view(saved).substr(0, cut)).ok());
    std::filesystem::remove(std::filesystem::path(seg).replace_extension(".index"));
    size_t complete = 0;
    while (complete + 1 < starts.size() && starts[complete + 1] <= cut) ++complete;
    auto got = Recovered();
    ASSERT_EQ(got.size(), complete) << "cut at " << cut;
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], testing::Cat("r", i));
    // The shard accepts new records right after the cut.
    Stream* s = *broker_->GetStream("c");
    EXPECT_EQ(PutN(s, 1, "new")[0].offset, complete);
    EXPECT_EQ(ReadAll(s, 0).back(), "new0");
  }
}

// SIGKILL can end a write early between pages: a batch's first frames whole, its last torn.
// Recovery drops the torn batch whole (back to the last frame that ended a write), so a
// producer's tag, written on a batch's last frame, is in the log exactly when the whole batch is.
TEST_F(RecoveryTest, ABatchTornByAKillIsDroppedWhole) {
  OpenBroker();
  Stream* s = MakeStream("c", 1);
  std::vector<uint64_t> ends;  // where each batch ends in the segment
  uint64_t pos = format::kSegmentHeaderSize;
  std::vector<uint64_t> frame_starts;
  for (int b = 0; b < 3; ++b) {
    std::vector<std::string> data;
    for (int i = 0; i < 5; ++i) data.push_back(testing::Cat(testing::Cat("b", b, "r"), i, "x"));
    std::vector<PutRecordIn> in;
    for (const auto& d : data) in.push_back({"pk", d, std::nullopt});
    std::vector<PutRecordOut> out;
    ASSERT_TRUE(s->PutBatch(in, &out).ok());
    for (const auto& d : data) {
      frame_starts.push_back(pos);
      pos += format::kFrameHeaderSize + 2 + d.size();
    }
    ends.push_back(pos);
  }
  ASSERT_TRUE(s->Sync().ok());
  broker_.reset();
  std::filesystem::path seg = LastSegment("c");
  std::string saved = *ReadWholeFile(seg);
  ASSERT_EQ(saved.size(), ends.back());
  // Cut anywhere inside the last batch: the two batches before it survive, nothing of the third.
  for (uint64_t cut = ends[1] + 1; cut < ends[2]; ++cut) {
    broker_.reset();
    ASSERT_TRUE(WriteFileAtomically(seg, std::string_view(saved).substr(0, cut)).ok());
    std::filesystem::remove(std::filesystem::path(seg).replace_extension(".index"));
    auto got = Recovered();
    ASSERT_EQ(got.size(), 10u) << "cut at " << cut;
    EXPECT_EQ(got.back(), "b1r4");
    Stream* again = *broker_->GetStream("c");
    EXPECT_EQ(PutN(again, 1, "new")[0].offset, 10u);
  }
  // The segment's first batch cut short: no frame ended a write yet, and the segment's header
  // says its appends end so (format::kSegFlagWriteEnds): nothing survives.
  for (uint64_t cut = format::kSegmentHeaderSize + 1; cut < ends[0]; ++cut) {
    broker_.reset();
    ASSERT_TRUE(WriteFileAtomically(seg, std::string_view(saved).substr(0, cut)).ok());
    std::filesystem::remove(std::filesystem::path(seg).replace_extension(".index"));
    auto got = Recovered();
    ASSERT_EQ(got.size(), 0u) << "cut at " << cut;
    Stream* again = *broker_->GetStream("c");
    EXPECT_EQ(PutN(again, 1, "new")[0].offset, 0u);
  }
  // A segment of a version before the flag (header flags 0): its whole frames are kept.
  std::string old_version = saved.substr(0, frame_starts[3]);
  old_version[format::kSegFlagsAt] = 0;
  broker_.reset();
  ASSERT_TRUE(WriteFileAtomically(seg, old_version).ok());
  std::filesystem::remove(std::filesystem::path(seg).replace_extension(".index"));
  auto got = Recovered();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got.back(), "b0r2");
}

TEST_F(RecoveryTest, CorruptionInTheMiddleIsSkipped) {
  auto starts = WriteTen();
  std::filesystem::path seg = LastSegment("c");
  std::string saved = *ReadWholeFile(seg);
  // Flip each byte of record 4 in turn (header and body): records 0-3 and 5-9 survive.
  for (uint64_t at = starts[4]; at < starts[5]; ++at) {
    broker_.reset();
    std::string bad = saved;
    bad[at] ^= 0x5a;
    ASSERT_TRUE(WriteFileAtomically(seg, bad).ok());
    auto got = Recovered();
    std::vector<std::string> want;
    for (int i = 0; i < 10; ++i) {
      if (i != 4) want.push_back(testing::Cat("r", i));
    }
    ASSERT_EQ(got, want) << "flipped byte " << at;
    Stream* s = *broker_->GetStream("c");
    EXPECT_EQ(PutN(s, 1, "new")[0].offset, 10u);
  }
}

TEST_F(RecoveryTest, ReadsSkipCorruptionFoundWhileRunning) {
  auto starts = WriteTen();
  OpenBroker();
  Stream* s = *broker_->GetStream("c");
  // Damage record 6 under the running broker, as a failing disk would.
  int fd = ::open(LastSegment("c").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  char junk[4] = {'J', 'U', 'N', 'K'};
  ASSERT_EQ(::pwrite(fd, junk, 4, static_cast<off_t>(starts[6] + 10)), 4);
  ::close(fd);
  auto got = ReadAll(s, 0);
  for (auto& g : got) g = g.substr(0, g.find('x'));
  EXPECT_EQ(got, (std::vector<std::string>{"r0", "r1", "r2", "r3", "r4", "r5", "r7", "r8", "r9"}));
  got = ReadAll(s, 0, 7);
  ASSERT_EQ(got.size(), 3u);
}

TEST_F(RecoveryTest, StaleIndexesAreRebuilt) {
  BrokerOptions o = Options();
  o.segment_bytes = 512;
  OpenBroker(o);
  Stream* s = MakeStream("c", 1);
  for (int i = 0; i < 40; ++i) PutN(s, 5, testing::Cat("i", i, "-"));
  broker_.reset();
  // Damage one sealed segment's index and drop another's time index.
  std::vector<std::filesystem::path> idx;
  for (auto& e :
       std::filesystem::directory_iterator(dir_.path() / "streams/c/shardId-000000000000")) {
    if (e.path().extension() == ".index") idx.push_back(e.path());
  }
  std::sort(idx.begin(), idx.end());
  ASSERT_GE(idx.size(), 3u);
  std::string junk = *ReadWholeFile(idx[0]);
  junk[junk.size() - 1] ^= 1;
  ASSERT_TRUE(WriteFileAtomically(idx[0], junk).ok());
  std::filesystem::remove(std::filesystem::path(idx[1]).replace_extension(".timeindex"));
  OpenBroker(o);
  s = *broker_->GetStream("c");
  auto got = ReadAll(s, 0, 7);
  ASSERT_EQ(got.size(), 193u);
  EXPECT_EQ(got[0], "i1-2");
  EXPECT_EQ(*s->EndOffset(0), 200u);
  // The rebuilt indexes were written back.
  EXPECT_TRUE(
      std::filesystem::exists(std::filesystem::path(idx[1]).replace_extension(".timeindex")));
  EXPECT_NE(*ReadWholeFile(idx[0]), junk);
}

}  // namespace
}  // namespace sluice::broker
