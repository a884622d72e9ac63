#include "broker/api/audit_log.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace sluice::broker::api {
namespace {

namespace fs = std::filesystem;

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sluice-audit-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::vector<std::string> Lines(const fs::path& p) {
    std::ifstream in(p);
    std::vector<std::string> out;
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }

  fs::path dir_;
};

TEST_F(AuditLogTest, OneJsonLinePerCallWithEveryField) {
  AuditEntry e;
  e.time_ms = 1765061884123;  // 2025-12-06T22:58:04.123Z
  e.request_id = "0000000000000001-5f3a1b2c";
  e.source = "127.0.0.1:51234";
  e.principal = "AKIDREADER";
  e.action = "kinesis:GetRecords";
  e.resource = "arn:aws:kinesis:us-east-1:000000000000:stream/app \"x\"";
  e.result = "AccessDeniedException";
  e.status = 400;
  e.tls = true;
  EXPECT_EQ(AuditLog::Line(e),
            "{\"time\":\"2025-12-06T22:58:04.123Z\",\"request_id\":\"0000000000000001-5f3a1b2c\","
            "\"source\":\"127.0.0.1:51234\",\"principal\":\"AKIDREADER\",\"action\":\"kinesis:"
            "GetRecords\",\"resource\":\"arn:aws:kinesis:us-east-1:000000000000:stream/app "
            "\\\"x\\\"\",\"result\":\"AccessDeniedException\",\"status\":400,\"tls\":true}\n");
  e.records = 500;
  e.result = "ok";
  rapidjson::Document d;
  std::string line = AuditLog::Line(e);
  d.Parse(line.c_str());
  ASSERT_FALSE(d.HasParseError());
  EXPECT_EQ(d["records"].GetInt(), 500);
}

TEST_F(AuditLogTest, RotatesPastMaxSizeKeepingTheNewestFiles) {
  auto log = AuditLog::Open({dir_, 1000, 2});
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  struct stat st;
  ASSERT_EQ(stat((dir_ / "audit.log").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  AuditEntry e;
  e.action = "kinesis:PutRecords";
  e.result = "ok";
  std::vector<std::string> ids;
  for (int i = 0; i < 40; ++i) ids.push_back("req-" + std::to_string(i));
  for (const std::string& id : ids) {
    e.request_id = id;
    (*log)->Record(e);
  }
  EXPECT_EQ((*log)->lines(), 40u);
  EXPECT_EQ((*log)->write_errors(), 0u);
  EXPECT_TRUE(fs::exists(dir_ / "audit.log.1"));
  EXPECT_TRUE(fs::exists(dir_ / "audit.log.2"));
  EXPECT_FALSE(fs::exists(dir_ / "audit.log.3"));
  for (const char* f : {"audit.log", "audit.log.1", "audit.log.2"}) {
    EXPECT_LE(fs::file_size(dir_ / f), 1000u) << f;
  }
  // The newest lines are in audit.log, the ones before in .1 then .2, none twice.
  std::vector<std::string> all;
  for (const char* f : {"audit.log.2", "audit.log.1", "audit.log"}) {
    for (const std::string& l : Lines(dir_ / f)) all.push_back(l);
  }
  ASSERT_FALSE(all.empty());
  EXPECT_NE(all.back().find("\"request_id\":\"req-39\""), std::string::npos);
  for (size_t i = 1; i < all.size(); ++i) {
    EXPECT_NE(all[i], all[i - 1]);
  }
}

TEST_F(AuditLogTest, ConcurrentCallsNeverTearALine) {
  auto log = AuditLog::Open({dir_, 64 << 20, 1});
  ASSERT_TRUE(log.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      AuditEntry e;
      std::string principal = "AKID" + std::string(200, static_cast<char>('A' + t));
      e.principal = principal;
      e.action = "kinesis:PutRecords";
      e.result = "ok";
      for (int i = 0; i < 2000; ++i) (*log)->Record(e);
    });
  }
  for (auto& th : threads) th.join();
  auto lines = Lines(dir_ / "audit.log");
  ASSERT_EQ(lines.size(), 8000u);
  for (const std::string& l : lines) {
    rapidjson::Document d;
    d.Parse(l.c_str());
    ASSERT_FALSE(d.HasParseError()) << l;
  }
}

}  // namespace
}  // namespace sluice::broker::api
