// Position tags: a kill -9 after puts and before the checkpoint file caught up re-sends nothing,
// because each put carries where it ended in each file and a restart reads that back.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <utility>

#include "agent/tail/source_position.h"
#include "core/hash_key.h"
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
  // copytruncate: `from` copied to `to`, then emptied.
  void CopyTruncate(const std::string& from, const std::string& to) {
    fs::copy_file(Path(from), Path(to));
    ASSERT_EQ(truncate(Path(from).c_str(), 0), 0);
  }
  void KillInEveryPut(PartitionKeyKind keys);
  // A kill -9 now: the checkpoint written at this moment is the one the restart finds (the
  // flow's Stop writes a later one, which is put back). The restart reads on, then stops.
  void KillNowAndRestart(std::unique_ptr<Flow> flow, const FlowOptions& o) {
    ASSERT_TRUE(flow->WriteCheckpoint().ok());
    const std::string at_kill = SaveCheckpoint(*flow);
    StopFlow(std::move(flow));
    PutBack(dir_ / "cp" / "test.json", at_kill);
    flow = StartFlow(o);
    flow->PollNow();
    flow->PollNow();
    StopFlow(std::move(flow));
  }
  // How many lines numbered in the ranges [from, to) are not in the stream exactly once.
  int NotOnce(std::initializer_list<std::pair<int, int>> ranges) {
    auto c = Count();
    int n = 0;
    for (const auto& [from, to] : ranges) {
      for (int i = from; i < to; ++i) n += c[i] != 1;
    }
    return n;
  }
  // A run of the daemon that reads what there is and stops (writing its checkpoint).
  void RunOnce(const FlowOptions& o) {
    auto flow = StartFlow(o);
    flow->PollNow();
    flow->PollNow();
    StopFlow(std::move(flow));
  }
  // Adds to the flow's checkpoint file an entry for `rel` at `offset` (with the prefix hash
  // there), as a run that checkpointed that file would have left it.
  void AddCheckpointOf(const std::string& rel, uint64_t offset) {
    CheckpointStore store(dir_ / "cp", "test");
    auto saved = store.Load();
    ASSERT_TRUE(saved.ok());
    FileCheckpoint c;
    c.path = Path(rel);
    int fd = open(c.path.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    struct stat st;
    ASSERT_EQ(fstat(fd, &st), 0);
    c.id = {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
    auto fp = ComputeFingerprint(fd, static_cast<uint64_t>(st.st_size));
    c.offset = offset;
    if (offset > 0) {
      c.prefix_len = static_cast<uint32_t>(std::min<uint64_t>(kPrefixCheckBytes, offset));
      auto h = HashRange(fd, offset - c.prefix_len, offset);
      ASSERT_TRUE(h.ok());
      c.prefix_hash = *h;
    }
    close(fd);
    ASSERT_TRUE(fp.ok());
    c.fingerprint = *fp;
    saved->files.push_back(c);
    ASSERT_TRUE(store.Save(saved->files, saved->has_tags ? &saved->tags : nullptr).ok());
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

// A stream that writes a put the way the broker does, one write per shard it touches with the
// tag on the last, and dies (refuses every write from then on, as a killed process writes no
// more) after a given number of writes: a kill -9 between any two writes of a put.
class DyingStream final : public broker::Stream {
 public:
  DyingStream(broker::Stream* inner, int writes) : inner_(inner), writes_left_(writes) {}
  int writes() const { return writes_; }
  void Allow(int writes) { writes_left_ = writes; }  // the disk has room again
  // Runs `f` once, at the start of the next put (what a writer does meanwhile).
  void BeforeNextPut(std::function<void()> f) { before_put_ = std::move(f); }
  // Runs `f` once, when the shards are next listed (a put lists them before its tag is made).
  void BeforeNextListShards(std::function<void()> f) { before_list_ = std::move(f); }

  Status PutBatch(std::span<const broker::PutRecordIn> records,
                  std::vector<broker::PutRecordOut>* out, broker::PutTag* tag) override {
    if (before_put_) std::exchange(before_put_, nullptr)();
    if (tag != nullptr) tag->written = false;
    out->assign(records.size(), broker::PutRecordOut{});
    std::vector<broker::ShardInfo> open;
    for (const broker::ShardInfo& s : inner_->ListShards()) {
      if (s.open) open.push_back(s);
    }
    std::sort(open.begin(), open.end(), [](const auto& a, const auto& b) {
      return a.starting_hash_key < b.starting_hash_key;
    });
    std::vector<std::vector<size_t>> by_shard(open.size());
    for (size_t i = 0; i < records.size(); ++i) {
      const uint128 k = records[i].explicit_hash_key ? *records[i].explicit_hash_key
                                                     : HashKeyOf(records[i].partition_key);
      size_t r = 0;
      while (r + 1 < open.size() && open[r + 1].starting_hash_key <= k) ++r;
      by_shard[r].push_back(i);
    }
    size_t groups = 0, written = 0;
    for (const auto& g : by_shard) groups += g.empty() ? 0 : 1;
    for (const auto& g : by_shard) {
      if (g.empty()) continue;
      if (writes_left_ == 0) {
        for (size_t i : g) (*out)[i].status = ResourceExhausted("the process was killed");
        continue;
      }
      --writes_left_;
      ++writes_;
      std::vector<broker::PutRecordIn> part;
      for (size_t i : g) part.push_back(records[i]);
      std::vector<broker::PutRecordOut> part_out;
      const bool last = ++written == groups;
      Status st = inner_->PutBatch(part, &part_out, last ? tag : nullptr);
      if (!st.ok()) return st;
      for (size_t k = 0; k < g.size(); ++k) (*out)[g[k]] = part_out[k];
    }
    return Status::Ok();
  }

  const std::string& name() const override { return inner_->name(); }
  broker::StreamOptions options() const override { return inner_->options(); }
  uint64_t WriteGeneration() const override { return inner_->WriteGeneration(); }
  uint64_t DurableGeneration() const override { return inner_->DurableGeneration(); }
  Status Sync() override { return inner_->Sync(); }
  std::vector<broker::ShardInfo> ListShards() const override {
    if (before_list_) std::exchange(before_list_, nullptr)();
    return inner_->ListShards();
  }
  Result<broker::ShardInfo> GetShard(uint32_t i) const override { return inner_->GetShard(i); }
  uint64_t ShardEpoch(uint32_t i) const override { return inner_->ShardEpoch(i); }
  Status Read(uint32_t shard, uint64_t from, const broker::ReadLimits& limits,
              broker::ReadBatch* out) override {
    return inner_->Read(shard, from, limits, out);
  }
  Result<uint64_t> EndOffset(uint32_t shard) const override { return inner_->EndOffset(shard); }
  Result<uint64_t> OffsetAtTimestamp(uint32_t shard, int64_t ts) const override {
    return inner_->OffsetAtTimestamp(shard, ts);
  }
  bool WaitForData(uint32_t shard, uint64_t offset, std::chrono::milliseconds t) override {
    return inner_->WaitForData(shard, offset, t);
  }
  Status SplitShard(uint32_t shard, uint128 key) override { return inner_->SplitShard(shard, key); }
  Status MergeShards(uint32_t a, uint32_t b) override { return inner_->MergeShards(a, b); }
  Status UpdateShardCount(int target) override { return inner_->UpdateShardCount(target); }
  Status SetCapacityMode(broker::CapacityMode m) override { return inner_->SetCapacityMode(m); }
  Status SetRetentionHours(int64_t h) override { return inner_->SetRetentionHours(h); }
  Status SetEncryption(const broker::StreamEncryption& e) override {
    return inner_->SetEncryption(e);
  }
  Status RegisterConsumer(std::string_view c) override { return inner_->RegisterConsumer(c); }
  Status DeregisterConsumer(std::string_view c) override { return inner_->DeregisterConsumer(c); }
  std::vector<std::string> ListConsumers() const override { return inner_->ListConsumers(); }
  int64_t ConsumerCreatedMs(std::string_view c) const override {
    return inner_->ConsumerCreatedMs(c);
  }
  Status Checkpoint(std::string_view c, std::span<const broker::ShardPosition> p) override {
    return inner_->Checkpoint(c, p);
  }
  uint64_t Hold(std::string holder, std::string c) override {
    return inner_->Hold(std::move(holder), std::move(c));
  }
  void Release(uint64_t hold) override { inner_->Release(hold); }
  std::string HeldBy() const override { return inner_->HeldBy(); }
  Result<uint64_t> GetCheckpoint(std::string_view c, uint32_t shard) const override {
    return inner_->GetCheckpoint(c, shard);
  }
  std::vector<uint32_t> ReadableShards(std::string_view c) const override {
    return inner_->ReadableShards(c);
  }

 private:
  broker::Stream* inner_;
  int writes_left_;
  int writes_ = 0;
  std::function<void()> before_put_;
  mutable std::function<void()> before_list_;
};

// Records keyed by file or at random on four shards: a batch of six files touches several
// shards. A kill between any two writes of the stream, before the checkpoint file caught up,
// re-sends nothing after the restart.
void FlowTagsTest::KillInEveryPut(PartitionKeyKind keys) {
  OpenBroker(broker::FsyncPolicy::kNever, broker::CapacityMode::kUnlimited, 4);
  FlowOptions o = Options("*.log");
  o.partition_key = keys;
  o.batch_max_records = 900;  // several puts per batch, and batches of more than 500
  broker::Stream* const real = stream_;
  const char* files[] = {"a.log", "b.log", "c.log", "d.log", "e.log", "f.log"};
  int next = 0;
  for (int kill_after : {1, 2, 3, 5, 7, 10}) {
    DyingStream dying(real, kill_after);
    stream_ = &dying;
    auto flow = StartFlow(o);
    const std::string before = SaveCheckpoint(*flow);
    for (int round = 0; round < 6; ++round) {
      for (const char* f : files) {
        AppendLines(f, next, next + 150);
        next += 150;
      }
      flow->PollNow();
    }
    EXPECT_EQ(dying.writes(), kill_after);  // it died inside the puts
    StopFlow(std::move(flow));
    stream_ = real;
    PutBack(dir_ / "cp" / "test.json", before);
  }
  auto flow = StartFlow(o);
  flow->PollNow();
  flow->PollNow();
  StopFlow(std::move(flow));
  ExpectExactlyOnce(next);
  int shards_used = 0;
  for (uint32_t shard = 0; shard < 4; ++shard) shards_used += *stream_->EndOffset(shard) > 0;
  EXPECT_GE(shards_used, 2);  // the records are spread, not all on one shard
}

TEST_F(FlowTagsTest, AKillInAnyPutOfAShardedStreamResendsNothingWithFileKeys) {
  KillInEveryPut(PartitionKeyKind::kFile);
}

TEST_F(FlowTagsTest, AKillInAnyPutOfAShardedStreamResendsNothingWithRandomKeys) {
  KillInEveryPut(PartitionKeyKind::kRandom);
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

TEST_F(FlowTagsTest, APutBehindARefusedOneInTheBatchIsNotResentAfterAKill) {
  // File keys on two shards, a batch [a.log, b.log, c.log] with a and c on one shard, b on the
  // other: the first shard's put goes in (its tag names a and c), the second's is refused (a
  // full disk). The checkpoint then has a (the batch's done prefix), not c; a kill before the
  // rest goes in must not have the restart put c's lines again (campaign trial 697).
  OpenBroker(broker::FsyncPolicy::kNever, broker::CapacityMode::kUnlimited, 2);
  std::vector<broker::ShardInfo> shards = stream_->ListShards();
  ASSERT_EQ(shards.size(), 2u);
  const uint128 split = std::max(shards[0].starting_hash_key, shards[1].starting_hash_key);
  auto high = [&](const std::string& name) { return HashKeyOf(Path(name)) >= split; };
  // Names in read order (Rescan sorts them): the first and the third on one shard.
  std::string first, second, third;
  for (int i = 0; i < 1000 && third.empty(); ++i) {
    const std::string n = "f" + std::to_string(1000 + i) + ".log";
    if (first.empty()) {
      first = n;
    } else if (second.empty()) {
      if (high(n) != high(first)) second = n;
    } else if (high(n) == high(first)) {
      third = n;
    }
  }
  ASSERT_FALSE(third.empty());
  broker::Stream* const real = stream_;
  DyingStream dying(real, 1);  // the first shard's put goes in, the second's is refused
  stream_ = &dying;
  FlowOptions o = Options("*.log");
  o.partition_key = PartitionKeyKind::kFile;
  auto flow = StartFlow(o);
  AppendLines(first, 0, 10);
  AppendLines(second, 100, 110);
  AppendLines(third, 200, 210);
  flow->PollNow();  // [first, second, third]: first's shard put, second's refused
  flow->PollNow();
  ASSERT_TRUE(flow->WriteCheckpoint().ok());  // the prefix (first) durable and checkpointed
  const std::string at_kill = SaveCheckpoint(*flow);
  StopFlow(std::move(flow));
  stream_ = real;
  PutBack(dir_ / "cp" / "test.json", at_kill);
  RunOnce(o);
  EXPECT_EQ(NotOnce({{0, 10}, {100, 110}, {200, 210}}), 0);
}

TEST_F(FlowTagsTest, ACopyWaitingForARefusedBatchKeepsWhatIsDurable) {
  // copytruncate while the stream refuses puts (a full disk), then a kill: the copy goes on
  // from where its original's reading stopped, behind records still in the refused batch. Its
  // checkpoint names at once what was durable as its original's, so after the restart it is
  // read on from there, not from its start.
  OpenBroker();
  broker::Stream* const real = stream_;
  DyingStream dying(real, 1);  // the first put goes in, every later one is refused
  stream_ = &dying;
  FlowOptions o = Options("*.log");
  auto flow = StartFlow(o);
  AppendLines("a.log", 0, 100);
  flow->PollNow();
  ASSERT_TRUE(flow->WriteCheckpoint().ok());
  AppendLines("a.log", 100, 150);
  flow->PollNow();  // refused: lines 100..149 wait in the batch
  fs::copy_file(Path("a.log"), Path("a.1.log"));
  ASSERT_EQ(truncate(Path("a.log").c_str(), 0), 0);
  AppendLines("a.log", 150, 160);
  flow->PollNow();
  flow->PollNow();
  ASSERT_TRUE(flow->WriteCheckpoint().ok());
  const std::string at_kill = SaveCheckpoint(*flow);
  StopFlow(std::move(flow));
  stream_ = real;
  PutBack(dir_ / "cp" / "test.json", at_kill);
  flow = StartFlow(o);
  flow->PollNow();
  flow->PollNow();
  StopFlow(std::move(flow));
  ExpectExactlyOnce(160);
}

TEST_F(FlowTagsTest, AnOriginalsLastLinesPutAfterItsTruncationAreTaggedForItsCopy) {
  // The stream refuses puts (a full disk) while a copytruncate happens: the original's last
  // lines wait in the batch, the truncation is seen. The disk gets room, the waiting lines are
  // put, then a kill before a checkpoint names them: the put's tag must name where that content
  // ends, for the copy continuing it (campaign trial 864: the copy's last lines were read again
  // from the original's older checkpoint after the restart), or, the copy not found yet, for
  // the orphan the truncation left (found after the restart, under another name).
  for (bool found : {true, false}) {
    SCOPED_TRACE(found ? "the copy found before the put" : "the copy found after the restart");
    TearDown();
    SetUp();
    OpenBroker();
    broker::Stream* const real = stream_;
    DyingStream dying(real, 1);  // the first put goes in, later ones are refused until Allow
    stream_ = &dying;
    FlowOptions o = Options("*.log");
    auto flow = StartFlow(o);
    AppendLines("a.log", 0, 200);  // more than a fingerprint
    flow->PollNow();
    ASSERT_TRUE(flow->WriteCheckpoint().ok());
    const std::string at_kill = SaveCheckpoint(*flow);  // a.log at line 200
    AppendLines("a.log", 200, 300);
    flow->PollNow();                                  // refused: lines 200..299 wait in the batch
    fs::copy_file(Path("a.log"), Path("a.copying"));  // a name no glob matches
    std::string whole;
    {
      std::ifstream in(Path("a.copying"), std::ios::binary);
      whole.assign(std::istreambuf_iterator<char>(in), {});
    }
    if (found) {
      ASSERT_EQ(truncate(Path("a.log").c_str(), 0), 0);
      fs::rename(Path("a.copying"), Path("a.1.log"));  // seen: the truncation, then the copy
    } else {
      // The copy still being written (shorter than where the original's reading stopped):
      // comparing it with its original sees the truncation, which leaves an orphan the copy
      // continues once it is whole (after the restart).
      std::ofstream(Path("a.1.log"), std::ios::binary) << whole.substr(0, 2000);
      ASSERT_EQ(truncate(Path("a.log").c_str(), 0), 0);
    }
    flow->PollNow();
    AppendLines("a.log", 300, 310);
    flow->PollNow();
    dying.Allow(1000);
    flow->PollNow();  // lines 200..309 put
    flow->PollNow();
    StopFlow(std::move(flow));
    stream_ = real;
    PutBack(dir_ / "cp" / "test.json", at_kill);  // killed before a later checkpoint
    if (!found) std::ofstream(Path("a.1.log"), std::ios::binary | std::ios::trunc) << whole;
    fs::rename(Path("a.1.log"), Path("a.2.log"));  // rotated on while down
    flow = StartFlow(o);
    flow->PollNow();
    flow->PollNow();
    StopFlow(std::move(flow));
    EXPECT_EQ(NotOnce({{0, 310}}), 0);
  }
}

TEST_F(FlowTagsTest, ACopyAdoptedWhileTheBatchHoldsRecordsCheckpointsWhereItsReadingEnds) {
  // A copytruncate copy found (by content, from its original's last position) while the batch
  // being filled already holds other records, and read on in that same batch: its checkpoint
  // names the end of what it put, not where it was found to go on from (campaign trial 691:
  // that order had a kill re-read the copy's tail, 162 lines twice).
  FlowOptions o = Options("*.log");
  AppendLines("a.log", 0, 300);
  AppendLines("x.log", 1000, 1010);
  auto flow = StartFlow(o);
  flow->PollNow();
  std::string head;
  {
    std::ifstream in(Path("a.log"), std::ios::binary);
    head.resize(500);
    in.read(head.data(), 500);
  }
  {
    std::ofstream out(Path("z.log"), std::ios::binary);  // a copy being written: young
    out.write(head.data(), 500);
  }
  flow->PollNow();
  AppendLines("a.log", 300, 320);  // not read before the copy
  fs::copy_file(Path("a.log"), Path("z.log"), fs::copy_options::overwrite_existing);
  ASSERT_EQ(truncate(Path("a.log").c_str(), 0), 0);
  AppendLines("a.log", 320, 330);
  AppendLines("x.log", 1010, 1020);
  flow->PollNow();  // a.log's and x.log's new lines in the batch, then z.log adopted
  flow->PollNow();
  KillNowAndRestart(std::move(flow), o);
  auto c = Count();
  for (int i = 0; i < 330; ++i) ASSERT_EQ(c[i], 1) << i;
  for (int i = 1000; i < 1020; ++i) ASSERT_EQ(c[i], 1) << i;
}

TEST_F(FlowTagsTest, AnOriginalsPutDurableAfterItsTruncationMovesItsCopyOn) {
  // copytruncate after the original's last put, which becomes durable only after the
  // truncation was seen (at the original's durable position then): a checkpoint written once
  // that put's tag counts as covered must name the copy where that put ended, not where the copy
  // took over (campaign trials 127 and 130: a kill then read the copy's last part twice).
  for (bool adopted : {false, true}) {
    SCOPED_TRACE(adopted ? "the copy found after the truncation" : "the copy held, then released");
    TearDown();
    SetUp();
    OpenBroker(broker::FsyncPolicy::kInterval);  // durable at Sync only
    FlowOptions o = Options("*.log");
    AppendLines("a.log", 0, 300);
    auto flow = StartFlow(o);
    flow->PollNow();
    ASSERT_TRUE(stream_->Sync().ok());
    flow->PollNow();  // a.log durable to line 300
    AppendLines("a.log", 300, 400);
    flow->PollNow();  // put, not yet durable
    if (adopted) {
      // Copied under a name no glob matches yet, truncated: seen, the new lines put; then the
      // last put of the old content becomes durable (the truncation left an orphan for it).
      fs::copy_file(Path("a.log"), Path("a.copying"));
      ASSERT_EQ(truncate(Path("a.log").c_str(), 0), 0);
      AppendLines("a.log", 400, 410);
      flow->PollNow();
      ASSERT_TRUE(stream_->Sync().ok());
      flow->PollNow();
      AppendLines("0.log", 1000, 1010);
      flow->PollNow();  // put, not durable: the copy's move below waits for it
      fs::rename(Path("a.copying"), Path("a.1.log"));
      flow->PollNow();  // the copy continues the orphan
    } else {
      fs::copy_file(Path("a.log"), Path("a.1.log"));
      flow->PollNow();                    // the copy is held: a.log delivers their lines
      ASSERT_TRUE(stream_->Sync().ok());  // lines 300-399 durable; the flow has not looked yet
      ASSERT_EQ(truncate(Path("a.log").c_str(), 0), 0);
      AppendLines("a.log", 400, 410);
      AppendLines("0.log", 1000, 1010);  // read before a.log (names sort): in the batch first
      flow->PollNow();  // the copy released, its move joined to the batch; not yet durable
    }
    KillNowAndRestart(std::move(flow), o);
    auto c = Count();
    for (int i = 0; i < 410; ++i) ASSERT_EQ(c[i], 1) << i;
    for (int i = 1000; i < 1010; ++i) ASSERT_EQ(c[i], 1) << i;
  }
}

TEST_F(FlowTagsTest, AFileOnlyATagNamesIsFoundAfterARenameOutOfTheGlobs) {
  // A file first put after the last checkpoint written (a full disk refused the later ones),
  // then a kill, and a rotation that renames it out of the globs while the daemon is down, its
  // writer appending on: only the stream's tag names it, without a path. It is found by inode
  // in the globs' directories and drained from the tag's position.
  FlowOptions o = Options("*.log");
  auto flow = StartFlow(o);
  const std::string before = SaveCheckpoint(*flow);  // names no file
  AppendLines("a.log", 0, 100);
  flow->PollNow();
  StopFlow(std::move(flow));
  PutBack(dir_ / "cp" / "test.json", before);
  fs::rename(Path("a.log"), Path("a.log.1"));
  AppendLines("a.log.1", 100, 150);
  flow = StartFlow(o);
  flow->PollNow();
  flow->PollNow();
  EXPECT_EQ(flow->stats().resumed_from_stream, 1u);
  StopFlow(std::move(flow));
  ExpectExactlyOnce(150);
}

TEST_F(FlowTagsTest, ACopyCheckpointedAtItsStartIsStillRecognisedAsACopy) {
  // A copytruncate copy the agent had found but not yet told a copy (reads were paused: a full
  // disk) is in the checkpoint at offset 0. After a restart it is matched against what is known
  // of its content (the original's checkpoint) like a file without a checkpoint, not read again.
  FlowOptions o = Options("*.log");
  AppendLines("a.log", 0, 400);
  auto flow = StartFlow(o);
  flow->PollNow();
  StopFlow(std::move(flow));
  fs::copy_file(Path("a.log"), Path("a.1.log"));
  ASSERT_EQ(truncate(Path("a.log").c_str(), 0), 0);
  AppendLines("a.log", 400, 420);
  AddCheckpointOf("a.1.log", 0);
  flow = StartFlow(o);
  flow->PollNow();
  flow->PollNow();
  StopFlow(std::move(flow));
  ExpectExactlyOnce(420);
}

TEST_F(FlowTagsTest, ACopyBehindWhatTheStreamHoldsOfItsContentGoesOnFromThere) {
  // A copytruncate copy whose own checkpoint names only what was durable as its original's
  // when it took over (line 250), while the stream holds the original's content to line 300
  // (its last put, tagged): after a restart the copy goes on from line 300.
  FlowOptions o = Options("*.log");
  AppendLines("a.log", 0, 300);
  RunOnce(o);  // a.log's checkpoint: line 300
  fs::copy_file(Path("a.log"), Path("a.1.log"));
  ASSERT_EQ(truncate(Path("a.log").c_str(), 0), 0);
  AppendLines("a.log", 300, 320);
  uint64_t line_250 = 0;
  for (int i = 0; i < 250; ++i) line_250 += ("line-" + std::to_string(i) + "\n").size();
  AddCheckpointOf("a.1.log", line_250);
  RunOnce(o);
  ExpectExactlyOnce(320);
}

TEST_F(FlowTagsTest, ACopyGoesOnFromWhatWasReadFurthestOfItsContent) {
  // One content known twice when the daemon starts: its checkpoint (line 300) and a file that
  // held it and is seen changed before anything of it was read (offset 0: at a restart, the file
  // truncated between its fingerprint's read and its checkpoint's check, campaign trial 16). A
  // copy of that content goes on from line 300, not from its start.
  FlowOptions o = Options("*.log");
  AppendLines("a.log", 0, 300);
  RunOnce(o);  // a.log's checkpoint: line 300
  fs::copy_file(Path("a.log"), Path("keep.tmp"));
  fs::copy_file(Path("a.log"), Path("x.log"));
  AddCheckpointOf("x.log", 0);  // x.log: that content, nothing of it read
  ASSERT_EQ(truncate(Path("x.log").c_str(), 0), 0);
  AppendLines("x.log", 1000, 1010);
  ASSERT_EQ(truncate(Path("a.log").c_str(), 0), 0);
  AppendLines("a.log", 300, 320);
  fs::rename(Path("keep.tmp"), Path("z.log"));  // the copy, met after both
  RunOnce(o);
  EXPECT_EQ(NotOnce({{0, 320}, {1000, 1010}}), 0);
}

TEST_F(FlowTagsTest, ACopyOfContentShorterThanAFingerprintGoesOnWhereItsTagSays) {
  // A file's content put while it was shorter than a fingerprint (180 bytes), a kill before a
  // checkpoint names it, and a copytruncate while the daemon is down: after the restart the
  // copy continues where the tag says that content ends, not from its start (campaign trial
  // 681: a content known by the first 780 bytes only was read again from its copy).
  FlowOptions o = Options("*.log");
  auto flow = StartFlow(o);
  const std::string before = SaveCheckpoint(*flow);  // names no file
  AppendLines("a.log", 100, 120);
  flow->PollNow();  // put, its tag names a.log at 180 with a 180-byte fingerprint
  flow->PollNow();
  StopFlow(std::move(flow));
  PutBack(dir_ / "cp" / "test.json", before);
  AppendLines("a.log", 120, 130);
  fs::copy_file(Path("a.log"), Path("a.1.log"));
  ASSERT_EQ(truncate(Path("a.log").c_str(), 0), 0);
  AppendLines("a.log", 130, 140);
  RunOnce(o);
  EXPECT_EQ(NotOnce({{100, 140}}), 0);
}

TEST_F(FlowTagsTest, ACopyFoundEmptyAtStartBeforeItsOriginalIsNotReadAgain) {
  // `cp` has just created the copy (empty) when the daemon starts, and its name sorts before
  // its original's: the start-up scan meets it before the file it may copy. It is held as a
  // copy being written, then goes on where its original's reading stopped (campaign trial
  // 676: such a copy was read from its start, 274 lines twice).
  FlowOptions o = Options("*.log");
  AppendLines("a.log", 0, 300);
  RunOnce(o);  // a.log's checkpoint: line 300
  { std::ofstream(Path("a.1.log")); }
  auto flow = StartFlow(o);
  fs::copy_file(Path("a.log"), Path("a.1.log"), fs::copy_options::overwrite_existing);
  ASSERT_EQ(truncate(Path("a.log").c_str(), 0), 0);
  AppendLines("a.log", 300, 310);
  flow->PollNow();
  flow->PollNow();
  StopFlow(std::move(flow));
  EXPECT_EQ(NotOnce({{0, 310}}), 0);
}

TEST_F(FlowTagsTest, AFileTruncatedAndRefilledWhileBeingReadIsNotReadOnAsItsOldContent) {
  // The reader is behind (2,000 lines to read in 4 KiB blocks, puts of 100 records between
  // them) when copytruncate copies the file, truncates it and the writer refills it past the
  // reader's offset: the next block read at that offset holds the new content's bytes. They are
  // not taken for the old content's (campaign trial 606 of the sealed trials, whose 1 KiB lines
  // refill a file fast: 19 lines twice from the original, and its copy read again from its
  // start); the copy goes on where the old content's reading stopped, the file from its start.
  OpenBroker();
  broker::Stream* const real = stream_;
  DyingStream stream(real, 1000000);
  stream_ = &stream;
  FlowOptions o = Options("*.log");
  o.read_block_size = 4096;
  o.batch_max_records = 100;
  AppendLines("a.log", 0, 2000);
  auto flow = StartFlow(o);
  stream.BeforeNextPut([&] {
    CopyTruncate("a.log", "a.1.log");
    AppendLines("a.log", 5000, 8000);
  });
  for (int i = 0; i < 6; ++i) flow->PollNow();
  StopFlow(std::move(flow));
  stream_ = real;
  EXPECT_EQ(NotOnce({{0, 2000}, {5000, 8000}}), 0);
  EXPECT_EQ(Count().count(-1), 0u);  // no piece of a line read at the old offset
}

TEST_F(FlowTagsTest, APutAfterItsFileWasTruncatedUnseenNamesTheBytesItRead) {
  // Lines read, and the file copied and truncated before their put, which the flow has not seen
  // yet: the put's tag names the file's old content with the hash of the bytes before its end
  // as they were read (the file no longer has them), so that a copy checkpointed behind that
  // position goes on from it after a kill (campaign trial 862: that hash missing, a copy's last
  // 11 lines were put again).
  OpenBroker();
  broker::Stream* const real = stream_;
  DyingStream dying(real, 1000000);
  stream_ = &dying;
  FlowOptions o = Options("*.log");
  AppendLines("a.log", 0, 300);
  const uint64_t end = fs::file_size(Path("a.log"));
  struct stat st;
  ASSERT_EQ(stat(Path("a.log").c_str(), &st), 0);
  auto flow = StartFlow(o);
  dying.BeforeNextListShards([&] { CopyTruncate("a.log", "a.1.log"); });  // after the read
  flow->PollNow();
  flow->PollNow();
  StopFlow(std::move(flow));
  stream_ = real;
  int named = 0;
  for (const broker::ShardInfo& shard : stream_->ListShards()) {
    broker::ReadBatch batch;
    ASSERT_TRUE(stream_->Read(shard.index, 0, {}, &batch).ok());
    for (const broker::RecordView& r : batch.records) {
      PositionTag tag;
      if (r.tag.empty() || !DecodePositionTag(r.tag, &tag)) continue;
      for (const FileCheckpoint& c : tag.positions) {
        if (c.id.ino != static_cast<uint64_t>(st.st_ino) || c.offset != end) continue;
        ++named;
        EXPECT_EQ(c.prefix_len, kPrefixCheckBytes);
        int fd = open(Path("a.1.log").c_str(), O_RDONLY);
        auto h = HashRange(fd, end - kPrefixCheckBytes, end);
        close(fd);
        ASSERT_TRUE(h.ok());
        EXPECT_EQ(c.prefix_hash, *h);
      }
    }
  }
  EXPECT_EQ(named, 1);
  EXPECT_EQ(NotOnce({{0, 300}}), 0);
}

TEST_F(FlowTagsTest, ACheckpointAheadOfTheNewestTagInItsContentStands) {
  // The stream holds a file's lines 0..349 and its newest tag past the checkpoint's scan point
  // names line 300 (the put of lines 300..349 left no tag, as a put whose tag-bearing record was
  // refused leaves none); the checkpoint names line 350 in the same content. The restart goes
  // on from the checkpoint (kept as an orphan of that content, which the file adopts as the one
  // read furthest): a tag only ever moves a file on past its checkpoint, never back.
  FlowOptions o = Options("*.log");
  auto flow = StartFlow(o);
  const std::string before = SaveCheckpoint(*flow);  // names no file; scans from the start
  AppendLines("a.log", 0, 300);
  flow->PollNow();  // put, tagged: a.log at line 300
  flow->PollNow();
  StopFlow(std::move(flow));
  AppendLines("a.log", 300, 350);
  std::vector<std::string> lines;
  for (int i = 300; i < 350; ++i) lines.push_back("line-" + std::to_string(i));
  const std::string key = Path("a.log");
  std::vector<broker::PutRecordIn> in;
  for (const auto& l : lines) in.push_back({key, l, std::nullopt});
  std::vector<broker::PutRecordOut> out;
  ASSERT_TRUE(stream_->PutBatch(in, &out, nullptr).ok());  // the put that left no tag
  PutBack(dir_ / "cp" / "test.json", before);
  uint64_t line_350 = 0;
  for (int i = 0; i < 350; ++i) line_350 += ("line-" + std::to_string(i) + "\n").size();
  AddCheckpointOf("a.log", line_350);
  AppendLines("a.log", 350, 360);
  RunOnce(o);
  EXPECT_EQ(NotOnce({{0, 360}}), 0);
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
  o.deleted_wait = std::chrono::milliseconds(5000);  // pauses below are longer than the default
  AppendLines("a.log", 0, 100);
  auto flow = StartFlow(o);
  flow->PollNow();
  // The writer keeps its descriptor; the name goes (rm, or a rotation that deletes).
  int w = open(Path("a.log").c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(w, 0);
  ASSERT_EQ(unlink(Path("a.log").c_str()), 0);
  flow->PollNow();  // read to its end, seen deleted
  for (int round = 0; round < 3; ++round) {
    clock_.Advance(2500);  // a pause in the writing, shorter than the quiet that lets go
    std::string lines;
    for (int i = 100 + round * 50; i < 150 + round * 50; ++i) {
      lines += "line-" + std::to_string(i) + "\n";
    }
    ASSERT_EQ(write(w, lines.data(), lines.size()), static_cast<ssize_t>(lines.size()));
    flow->PollNow();
  }
  close(w);
  clock_.Advance(5500);
  flow->PollNow();
  flow->PollNow();
  EXPECT_EQ(flow->stats().files_open, 0u);  // quiet: let go, its space freed
  StopFlow(std::move(flow));
  ExpectExactlyOnce(250);
}

}  // namespace
}  // namespace sluice::agent
