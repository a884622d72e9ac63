// The file sink through the real plugin host: atomic writes, idempotent keys, rejected keys.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "buffer/plugin_host.h"

namespace sluice::buffer {
namespace {

std::string ReadAll(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class FileSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sluice-file-sink-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    auto p = host_.Load("file");
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    SinkSection s;
    s.type = "file";
    s.path = "deliveries[0].sink";
    SinkOption o;
    o.key = "path";
    o.value = dir_.string();
    s.options.push_back(o);
    auto v = PluginHost::Validate(**p, s);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    auto inst = SinkInstance::Create(*p, *v, "t", &counters_);
    ASSERT_TRUE(inst.ok()) << inst.status().ToString();
    sink_ = std::move(*inst);
  }
  void TearDown() override {
    sink_.reset();
    std::filesystem::remove_all(dir_);
  }
  int Put(const std::string& key, const std::string& data, sluice_deliver_result* r) {
    sluice_batch b{};
    b.struct_size = sizeof(b);
    b.attempt = 1;
    b.batch_id = key.c_str();
    b.object_key = key.c_str();
    b.object_data = reinterpret_cast<const uint8_t*>(data.data());
    b.object_len = data.size();
    b.content_encoding = "";
    r->outcomes = nullptr;
    return sink_->Deliver(b, r);
  }

  PluginHost host_{{SLUICE_PLUGIN_DIR}};
  PluginCounters counters_;
  std::unique_ptr<SinkInstance> sink_;
  std::filesystem::path dir_;
};

TEST_F(FileSinkTest, WritesObjectUnderKey) {
  sluice_deliver_result r;
  ASSERT_EQ(Put("2024/01/02/03/app-1-2024-01-02-03-04-05-x", "hello\n", &r), SLUICE_DELIVER_OK);
  EXPECT_EQ(ReadAll(dir_ / "2024/01/02/03/app-1-2024-01-02-03-04-05-x"), "hello\n");
  EXPECT_EQ(counters_.Snapshot()["objects_written"], 1u);
  // No temporary file is left behind.
  int files = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(dir_)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST_F(FileSinkTest, SameKeyTwiceLeavesOneObject) {
  sluice_deliver_result r;
  ASSERT_EQ(Put("a/k", "first", &r), SLUICE_DELIVER_OK);
  ASSERT_EQ(Put("a/k", "second", &r), SLUICE_DELIVER_OK);
  EXPECT_EQ(ReadAll(dir_ / "a/k"), "second");
  int files = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(dir_)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST_F(FileSinkTest, RejectsEscapingKeys) {
  sluice_deliver_result r;
  EXPECT_EQ(Put("../escape", "x", &r), SLUICE_DELIVER_REJECT);
  EXPECT_STREQ(r.error_code, "File.BadKey");
  EXPECT_EQ(Put("/abs", "x", &r), SLUICE_DELIVER_REJECT);
}

TEST_F(FileSinkTest, Healthcheck) { EXPECT_TRUE(sink_->Healthcheck().ok()); }

// Two instances writing one key at once (a replay beside the delivery): each writes through a
// temporary of its own, so the key always holds one whole object, never a mix or a truncation.
TEST_F(FileSinkTest, TwoInstancesWritingOneKeyLeaveAWholeObject) {
  auto p = host_.Load("file");
  ASSERT_TRUE(p.ok());
  SinkSection s;
  s.type = "file";
  s.path = "deliveries[0].sink";
  for (auto [k, v] :
       {std::pair<std::string, std::string>{"path", dir_.string()}, {"fsync", "false"}}) {
    SinkOption o;
    o.key = k;
    o.value = v;
    s.options.push_back(o);
  }
  auto v = PluginHost::Validate(**p, s);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  auto a = SinkInstance::Create(*p, *v, "a", &counters_);
  auto b = SinkInstance::Create(*p, *v, "b", &counters_);
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string big(256 << 10, 'a'), small(1000, 'b');
  auto put = [](SinkInstance* sink, const std::string& data) {
    sluice_batch batch{};
    batch.struct_size = sizeof(batch);
    batch.attempt = 1;
    batch.batch_id = "k";
    batch.object_key = "same/k";
    batch.object_data = reinterpret_cast<const uint8_t*>(data.data());
    batch.object_len = data.size();
    batch.content_encoding = "";
    sluice_deliver_result r;
    r.outcomes = nullptr;
    return sink->Deliver(batch, &r);
  };
  for (int round = 0; round < 50; ++round) {
    int rc_b = -1;
    std::thread other([&] { rc_b = put(b->get(), small); });
    int rc_a = put(a->get(), big);
    other.join();
    ASSERT_EQ(rc_a, SLUICE_DELIVER_OK);
    ASSERT_EQ(rc_b, SLUICE_DELIVER_OK);
    std::string got = ReadAll(dir_ / "same/k");
    ASSERT_TRUE(got == big || got == small) << "round " << round << ": " << got.size() << " bytes";
  }
  int files = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(dir_)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);  // no temporary left behind
}

}  // namespace
}  // namespace sluice::buffer
