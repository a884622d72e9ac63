// Position tags: a kill -9 after puts and before the checkpoint file caught up re-sends nothing,
// because each put carries where it ended in each file and a restart reads that back.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "agent/tail/source_position.h"
#include "flow_test_util.h"

namespace sluice::agent {
namespace {

namespace fs = std::filesystem;

TEST(SourcePositionTest, RoundTripsAndRefusesWhatIsNotATag) {
  std::vector<FileCheckpoint> in(3);
  for (int i = 0; i < 3; ++i) {
    in[i].id = {uint64_t(10 + i), uint64_t(1) << (40 + i)};
    in[i].fingerprint = {uint32_t(1000 + i), 0xabcdef0000ull + i};
    in[i].offset = 123456789ull * (i + 1);
    in[i].prefix_len = 256;
    in[i].prefix_hash = 77 + i;
  }
  std::string tag;
  EncodePositionTag(FlowTagId("app"), 42, in, &tag);
  EXPECT_EQ(tag.size(), kPositionTagHeader + 3 * kPositionEntryBytes);
  PositionTag out;
  ASSERT_TRUE(DecodePositionTag(tag, &out));
  EXPECT_EQ(out.flow_id, FlowTagId("app"));
  EXPECT_NE(out.flow_id, FlowTagId("app2"));
  EXPECT_EQ(out.seq, 42u);
  ASSERT_EQ(out.positions.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(out.positions[i].id, in[i].id);
    EXPECT_EQ(out.positions[i].fingerprint, in[i].fingerprint);
    EXPECT_EQ(out.positions[i].offset, in[i].offset);
    EXPECT_EQ(out.positions[i].prefix_len, 256u);
    EXPECT_EQ(out.positions[i].prefix_hash, in[i].prefix_hash);
  }
  EXPECT_FALSE(DecodePositionTag(tag.substr(0, tag.size() - 1), &out));
  EXPECT_FALSE(DecodePositionTag("SLP2" + tag.substr(4), &out));
  EXPECT_FALSE(DecodePositionTag("", &out));
  in[1].prefix_len = 300;
  in[1].offset = 200;  // a prefix longer than the offset: malformed
  EncodePositionTag(1, 1, in, &tag);
  EXPECT_FALSE(DecodePositionTag(tag, &out));
  // More files than a tag holds: the first kMaxTagPositions.
  std::vector<FileCheckpoint> many(kMaxTagPositions + 5);
  EncodePositionTag(1, 2, many, &tag);
  ASSERT_TRUE(DecodePositionTag(tag, &out));
  EXPECT_EQ(out.positions.size(), kMaxTagPositions);
  EXPECT_LE(tag.size(), 32u << 10);
}

class FlowTagsTest : public FlowTest {
 protected:
  // The checkpoint file as it is now, to put back later: a process killed after this moment
  // never wrote another.
  std::string SaveCheckpoint(const Flow& flow) {
    std::ifstream in(flow.checkpoint_path());
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  void PutBack(const fs::path& path, const std::string& text) {
    std::ofstream(path, std::ios::trunc) << text;
  }
};

TEST_F(FlowTagsTest, AKillAfterPutsBeforeTheCheckpointResendsNothing) {
  OpenBroker(broker::FsyncPolicy::kNever, broker::CapacityMode::kUnlimited, 4);
  FlowOptions o = Options("*.log");
  o.partition_key = PartitionKeyKind::kRandom;  // every file's records on every shard
  o.batch_max_records = 700;                    // puts of 500 and fewer: several tags a batch
  // Another source writes the same stream: its tags are not this flow's.
  FlowOptions other = Options("other/*.txt");
  other.name = "other";
  fs::create_directories(dir_ / "logs" / "other");
  int next = 0;
  for (int round = 0; round < 4; ++round) {
    auto flow = StartFlow(o);
    auto neighbour = StartFlow(other);
    const std::string before = SaveCheckpoint(*flow);
    // Lines in three files (and a file of the neighbour's), read and put in several batches.
    for (int batch = 0; batch < 3; ++batch) {
      for (const char* f : {"a.log", "b.log", "c.log"}) {
        AppendLines(f, next, next + 400);
        next += 400;
      }
      AppendLines("other/n.txt", 0, 50, "other-");
      flow->PollNow();
      neighbour->PollNow();
    }
    // The kill: this process stops without a checkpoint after the one it started with (the
    // flow's Stop writes one; the one from before is put back, as a kill -9 would leave it).
    int closed = 0;
    flow->Stop([&] { ++closed; });
    neighbour->Stop([&] { ++closed; });
    uv_run(&loop_, UV_RUN_DEFAULT);
    ASSERT_EQ(closed, 2);
    flow.reset();
    neighbour.reset();
    PutBack(dir_ / "cp" / "test.json", before);
  }
  auto flow = StartFlow(o);
  flow->PollNow();
  EXPECT_EQ(flow->stats().resumed_from_stream, 3u);  // a.log, b.log and c.log
  AppendLines("a.log", next, next + 10);             // and reading goes on from there
  next += 10;
  flow->PollNow();
  StopFlow(std::move(flow));
  auto counts = Count();
  for (int i = 0; i < next; ++i) ASSERT_EQ(counts[i], 1) << "line-" << i;
  EXPECT_EQ(counts[-1], 4 * 3 * 50);  // the neighbour's lines: not this flow's business
}

TEST_F(FlowTagsTest, ATruncatedFileResumesAtTheNewContentsPosition) {
  FlowOptions o = Options("*.log");
  AppendLines("a.log", 0, 300);
  auto flow = StartFlow(o);
  flow->PollNow();
  ASSERT_TRUE(flow->WriteCheckpoint().ok());
  const std::string before = SaveCheckpoint(*flow);  // a.log read to its end (300 lines)
  // copytruncate without the copy: the file starts again, shorter, and is read from 0.
  ASSERT_EQ(truncate(Path("a.log").c_str(), 0), 0);
  flow->PollNow();
  AppendLines("a.log", 300, 320);
  flow->PollNow();
  StopFlow(std::move(flow));
  PutBack(dir_ / "cp" / "test.json", before);
  // The checkpoint names the old content's end; the stream knows the new content was read to
  // its end: nothing is read again, nothing skipped.
  flow = StartFlow(o);
  AppendLines("a.log", 320, 330);
  flow->PollNow();
  StopFlow(std::move(flow));
  ExpectExactlyOnce(330);
}

TEST_F(FlowTagsTest, ACopyOfContentOnlyTagsNamedIsNotReadAgain) {
  // copytruncate with the copy matched by the glob, and a kill before any checkpoint named the
  // copy or the truncation: the tags name a.log's old content at its end, then its new content.
  // The copy (renamed on while the agent was down) continues the old content's position.
  FlowOptions o = Options("*.log");
  AppendLines("a.log", 0, 300);
  auto flow = StartFlow(o);
  const std::string before = SaveCheckpoint(*flow);  // names a.log at 0
  flow->PollNow();
  fs::copy_file(Path("a.log"), Path("a.1.log"));
  ASSERT_EQ(truncate(Path("a.log").c_str(), 0), 0);
  AppendLines("a.log", 300, 320);
  flow->PollNow();
  flow->PollNow();
  StopFlow(std::move(flow));
  PutBack(dir_ / "cp" / "test.json", before);
  fs::rename(Path("a.1.log"), Path("a.2.log"));
  flow = StartFlow(o);
  flow->PollNow();
  flow->PollNow();
  StopFlow(std::move(flow));
  ExpectExactlyOnce(320);
}

TEST_F(FlowTagsTest, ACheckpointWithoutTagsReadsAsBefore) {
  // A checkpoint file of a version from before tags: no shard positions, so no scan; the
  // records put after it are read again (at least once, as before).
  FlowOptions o = Options("*.log");
  AppendLines("a.log", 0, 100);
  auto flow = StartFlow(o);
  CheckpointStore store(dir_ / "cp", "test");
  auto first = store.Load();
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(first->has_tags);
  flow->PollNow();
  StopFlow(std::move(flow));
  ASSERT_TRUE(store.Save(first->files).ok());  // no "tags": as an older version wrote it
  flow = StartFlow(o);
  flow->PollNow();
  EXPECT_EQ(flow->stats().resumed_from_stream, 0u);
  StopFlow(std::move(flow));
  auto counts = Count();
  for (int i = 0; i < 100; ++i) EXPECT_EQ(counts[i], 2) << i;
}

TEST_F(FlowTest, AFileDeletedWhileItsWriterWritesOnIsFollowedUntilQuiet) {
  FlowOptions o = Options("*.log");
  AppendLines("a.log", 0, 100);
  auto flow = StartFlow(o);
  flow->PollNow();
  // The writer keeps its descriptor; the name goes (rm, or a rotation that deletes).
  int w = open(Path("a.log").c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(w, 0);
  ASSERT_EQ(unlink(Path("a.log").c_str()), 0);
  flow->PollNow();  // read to its end, seen deleted
  for (int round = 0; round < 3; ++round) {
    clock_.Advance(900);  // a pause in the writing, shorter than the quiet that lets go
    std::string lines;
    for (int i = 100 + round * 50; i < 150 + round * 50; ++i) {
      lines += "line-" + std::to_string(i) + "\n";
    }
    ASSERT_EQ(write(w, lines.data(), lines.size()), static_cast<ssize_t>(lines.size()));
    flow->PollNow();
  }
  close(w);
  clock_.Advance(2500);
  flow->PollNow();
  flow->PollNow();
  EXPECT_EQ(flow->stats().files_open, 0u);  // quiet: let go, its space freed
  StopFlow(std::move(flow));
  ExpectExactlyOnce(250);
}

}  // namespace
}  // namespace sluice::agent
