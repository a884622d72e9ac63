// The file sink through the real plugin host: atomic writes, idempotent keys, rejected keys.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

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

}  // namespace
}  // namespace sluice::buffer
