#include "flow_test_util.h"

#include <unistd.h>

#include <chrono>

namespace sluice::agent {

namespace fs = std::filesystem;

void FlowTest::SetUp() {
  dir_ =
      fs::temp_directory_path() / ("sluice_flow_" + std::to_string(getpid()) + "_" +
                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(dir_);
  fs::create_directories(dir_ / "logs");
  ASSERT_EQ(uv_loop_init(&loop_), 0);
  OpenBroker();
}

void FlowTest::TearDown() {
  stream_ = nullptr;
  broker_.reset();
  EXPECT_EQ(uv_loop_close(&loop_), 0);
  fs::remove_all(dir_);
}

void FlowTest::OpenBroker(broker::FsyncPolicy fsync, broker::CapacityMode mode, int shards) {
  stream_ = nullptr;
  broker_.reset();
  broker::BrokerOptions bo;
  bo.data_dir = dir_ / "data";
  bo.clock = &broker_clock_;
  auto b = broker::Broker::Open(bo);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  broker_ = std::move(*b);
  auto s = broker_->GetStream("logs");
  if (s.ok() && ((*s)->options().fsync != fsync || (*s)->options().mode != mode ||
                 (*s)->ListShards().size() != static_cast<size_t>(shards))) {
    ASSERT_TRUE(broker_->DeleteStream("logs").ok());
    s = broker_->GetStream("logs");
  }
  if (!s.ok()) {
    broker::StreamOptions so;
    so.name = "logs";
    so.shards = shards;
    so.fsync = fsync;
    so.mode = mode;
    s = broker_->CreateStream(so);
  }
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  stream_ = *s;
}

FlowOptions FlowTest::Options(const std::string& glob) {
  FlowOptions o;
  o.name = "test";
  o.paths = {Path(glob)};
  o.stream = "logs";
  o.initial_position = InitialPosition::kStartOfFile;
  o.partition_key = PartitionKeyKind::kFile;
  o.checkpoint_interval = std::chrono::milliseconds(0);
  return o;
}

std::unique_ptr<Flow> FlowTest::StartFlow(const FlowOptions& o) {
  auto f = Flow::Create(&loop_, o, stream_, dir_ / "cp", &clock_);
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  if (!f.ok()) return nullptr;
  Status st = (*f)->Start();
  EXPECT_TRUE(st.ok()) << st.ToString();
  return std::move(*f);
}

void FlowTest::StopFlow(std::unique_ptr<Flow> flow) {
  int closed = 0;
  flow->Stop([&] { ++closed; });
  uv_run(&loop_, UV_RUN_DEFAULT);
  EXPECT_EQ(closed, 1);
  flow.reset();
}

void FlowTest::AppendLines(const std::string& rel, int from, int to, const std::string& prefix) {
  std::ofstream out(Path(rel), std::ios::app | std::ios::binary);
  for (int i = from; i < to; ++i) out << prefix << i << '\n';
}

std::vector<std::string> FlowTest::ReadAll() {
  std::vector<std::string> all;
  for (const broker::ShardInfo& s : stream_->ListShards()) {
    uint64_t from = 0;
    while (true) {
      broker::ReadBatch b;
      Status st = stream_->Read(s.index, from, broker::ReadLimits{}, &b);
      EXPECT_TRUE(st.ok()) << st.ToString();
      if (!st.ok() || b.records.empty()) break;
      for (const auto& r : b.records) all.emplace_back(r.data);
      from = b.next_offset;
    }
  }
  return all;
}

std::map<int, int> FlowTest::Count() {
  std::map<int, int> c;
  for (const std::string& r : ReadAll()) {
    if (r.rfind("line-", 0) == 0) {
      ++c[std::stoi(r.substr(5))];
    } else {
      ++c[-1];
    }
  }
  return c;
}

void FlowTest::ExpectExactlyOnce(int n) {
  std::map<int, int> c = Count();
  int missing = 0, dup = 0;
  for (int i = 0; i < n; ++i) {
    auto it = c.find(i);
    if (it == c.end()) ++missing;
    if (it != c.end() && it->second > 1) ++dup;
  }
  EXPECT_EQ(missing, 0) << "lines missing";
  EXPECT_EQ(dup, 0) << "lines duplicated";
  EXPECT_EQ(c.count(-1), 0u) << "unexpected records";
  EXPECT_EQ(c.size(), static_cast<size_t>(n));
}

void FlowTest::RunLoopUntilPut(Flow* flow, uint64_t records, int64_t broker_ms_per_turn) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (flow->stats().records_put < records && std::chrono::steady_clock::now() < deadline) {
    uv_run(&loop_, UV_RUN_ONCE);
    if (broker_ms_per_turn > 0) broker_clock_.Advance(broker_ms_per_turn);
  }
}

}  // namespace sluice::agent
