// DurableAcks: held answers go out once their stream is committed, with one commit shared by all
// the puts that waited while the previous one ran, and a failed commit turns them into errors.
#include "broker/api/durable_acks.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "broker/api/kinesis_api.h"

namespace sluice::broker::api {
namespace {

class CountingResponder final : public http::HttpResponder {
 public:
  explicit CountingResponder(std::vector<int>* statuses) : statuses_(statuses) {}
  void Complete(http::HttpResponse response) override { statuses_->push_back(response.status); }

 private:
  std::vector<int>* statuses_;
};

class DurableAcksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sluice_durable_acks_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    BrokerOptions bo;
    bo.data_dir = dir_;
    auto b = Broker::Open(bo);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    broker_ = std::move(*b);
    StreamOptions so;
    so.name = "s";
    so.shards = 2;
    so.fsync_interval = std::chrono::hours(1);  // nothing but the held puts commits
    auto s = broker_->CreateStream(so);
    ASSERT_TRUE(s.ok());
    stream_ = *s;
    ASSERT_EQ(uv_loop_init(&loop_), 0);
  }
  void TearDown() override {
    EXPECT_EQ(uv_loop_close(&loop_), 0);
    broker_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Puts one record and returns what its answer must wait for.
  DurableWait Put() {
    std::string key = "k" + std::to_string(puts_++);
    PutRecordIn in{key, "data", std::nullopt};
    std::vector<PutRecordOut> out;
    EXPECT_TRUE(stream_->PutBatch(std::span<const PutRecordIn>(&in, 1), &out).ok());
    return WaitFor(*stream_, stream_->WriteGeneration());
  }

  std::filesystem::path dir_;
  std::unique_ptr<Broker> broker_;
  Stream* stream_ = nullptr;
  uv_loop_t loop_;
  int puts_ = 0;
};

TEST_F(DurableAcksTest, PutsThatWaitedTogetherShareOneCommit) {
  std::vector<int> statuses;
  auto acks = DurableAcks::Create(&loop_, broker_.get(), [](http::HttpResponse*, const Status&) {
    ADD_FAILURE() << "no commit fails here";
  });
  ASSERT_TRUE(acks.ok());
  constexpr int kPuts = 100;
  {
    // While the removal lock is held, the commit thread waits in its first commit (of at most
    // the first put); every later put queues behind it.
    std::unique_lock<std::shared_mutex> hold(StreamRemovalLock());
    for (int i = 0; i < kPuts; ++i) {
      DurableWait wait = Put();
      ASSERT_EQ(wait.stream, "s");  // interval stream, not yet committed: held
      http::HttpResponse r;
      r.status = 200;
      (*acks)->Hold(wait, std::make_shared<CountingResponder>(&statuses), std::move(r));
    }
    EXPECT_TRUE(statuses.empty());
  }
  while (statuses.size() < kPuts) uv_run(&loop_, UV_RUN_ONCE);
  EXPECT_EQ(statuses, std::vector<int>(kPuts, 200));
  EXPECT_LE((*acks)->commits(), 2u);
  EXPECT_EQ((*acks)->held(), static_cast<uint64_t>(kPuts));
  EXPECT_EQ(stream_->DurableGeneration(), stream_->WriteGeneration());
  // Once committed, a put's answer needs no wait.
  EXPECT_TRUE(WaitFor(*stream_, stream_->WriteGeneration()).stream.empty());
  (*acks)->Stop(nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
}

TEST_F(DurableAcksTest, NeverStreamsAreAnsweredAtOnce) {
  StreamOptions so;
  so.name = "n";
  so.fsync = FsyncPolicy::kNever;
  auto s = broker_->CreateStream(so);
  ASSERT_TRUE(s.ok());
  PutRecordIn in{"k", "data", std::nullopt};
  std::vector<PutRecordOut> out;
  ASSERT_TRUE((*s)->PutBatch(std::span<const PutRecordIn>(&in, 1), &out).ok());
  EXPECT_TRUE(WaitFor(**s, (*s)->WriteGeneration()).stream.empty());
}

TEST_F(DurableAcksTest, StopAnswersEveryHeldPut) {
  std::vector<int> statuses;
  auto acks = DurableAcks::Create(&loop_, broker_.get(), [](http::HttpResponse*, const Status&) {});
  ASSERT_TRUE(acks.ok());
  for (int i = 0; i < 10; ++i) {
    http::HttpResponse r;
    r.status = 200;
    (*acks)->Hold(Put(), std::make_shared<CountingResponder>(&statuses), std::move(r));
  }
  bool closed = false;
  (*acks)->Stop([&] { closed = true; });
  EXPECT_EQ(statuses.size(), 10u);  // answered before Stop returns
  uv_run(&loop_, UV_RUN_DEFAULT);
  EXPECT_TRUE(closed);
  EXPECT_EQ(stream_->DurableGeneration(), stream_->WriteGeneration());
}

}  // namespace
}  // namespace sluice::broker::api
