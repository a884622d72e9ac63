#include "agent/tail/glob.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace sluice::agent {
namespace {

namespace fs = std::filesystem;

class GlobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sluice_glob_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Touch(const std::string& rel) {
    fs::create_directories((dir_ / rel).parent_path());
    std::ofstream(dir_ / rel) << "x\n";
  }
  std::string P(const std::string& rel) { return (dir_ / rel).string(); }
  std::vector<std::string> Expand(std::vector<std::string> inc, std::vector<std::string> exc = {}) {
    for (auto& s : inc) s = P(s);
    auto g = PathGlobs::Create(inc, exc);
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    std::vector<std::string> rel;
    for (auto& f : g->Expand().files) rel.push_back(fs::relative(f, dir_).string());
    return rel;
  }
  fs::path dir_;
};

TEST_F(GlobTest, StarQuestionAndBrackets) {
  Touch("a.log");
  Touch("b.log");
  Touch("c.txt");
  Touch("a1.log");
  Touch(".hidden.log");
  EXPECT_EQ(Expand({"*.log"}), (std::vector<std::string>{"a.log", "a1.log", "b.log"}));
  EXPECT_EQ(Expand({"?.log"}), (std::vector<std::string>{"a.log", "b.log"}));
  EXPECT_EQ(Expand({"[ab].log"}), (std::vector<std::string>{"a.log", "b.log"}));
  EXPECT_EQ(Expand({"[!a].*"}), (std::vector<std::string>{"b.log", "c.txt"}));
}

TEST_F(GlobTest, WildcardsInDirectoryComponents) {
  Touch("app1/logs/x.log");
  Touch("app2/logs/y.log");
  Touch("app2/other/z.log");
  EXPECT_EQ(Expand({"app*/logs/*.log"}),
            (std::vector<std::string>{"app1/logs/x.log", "app2/logs/y.log"}));
}

TEST_F(GlobTest, DoubleStarMatchesAnyDepthIncludingZero) {
  Touch("top.log");
  Touch("a/one.log");
  Touch("a/b/c/deep.log");
  Touch("a/b/c/deep.txt");
  EXPECT_EQ(Expand({"**/*.log"}),
            (std::vector<std::string>{"a/b/c/deep.log", "a/one.log", "top.log"}));
  EXPECT_EQ(Expand({"a/**/deep.log"}), (std::vector<std::string>{"a/b/c/deep.log"}));
}

TEST_F(GlobTest, ExcludeByNameOrPath) {
  Touch("a.log");
  Touch("a.log.gz");
  Touch("keep/b.log");
  Touch("skip/c.log");
  EXPECT_EQ(Expand({"**/*"}, {"*.gz", P("skip/**")}),
            (std::vector<std::string>{"a.log", "keep/b.log"}));
}

TEST_F(GlobTest, OverlappingGlobsListAFileOnce) {
  Touch("a.log");
  EXPECT_EQ(Expand({"*.log", "a.*", "**/a.log"}), (std::vector<std::string>{"a.log"}));
}

TEST_F(GlobTest, ReportsDirectoriesToWatch) {
  Touch("a/b/x.log");
  auto g = PathGlobs::Create({P("a/*/x.log")}, {});
  ASSERT_TRUE(g.ok());
  auto e = g->Expand();
  EXPECT_NE(std::find(e.directories.begin(), e.directories.end(), P("a")), e.directories.end());
  EXPECT_NE(std::find(e.directories.begin(), e.directories.end(), P("a/b")), e.directories.end());
}

TEST_F(GlobTest, MatchesWithoutFileSystem) {
  auto g = PathGlobs::Create({"/var/log/**/*.log"}, {"*.1.log"});
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(g->Matches("/var/log/a.log"));
  EXPECT_TRUE(g->Matches("/var/log/x/y/a.log"));
  EXPECT_FALSE(g->Matches("/var/log/a.1.log"));
  EXPECT_FALSE(g->Matches("/var/lib/a.log"));
  EXPECT_FALSE(g->Matches("var/log/a.log"));
}

TEST_F(GlobTest, RejectsBadGlobs) {
  EXPECT_FALSE(PathGlobs::Create({}, {}).ok());
  EXPECT_FALSE(PathGlobs::Create({"/var/**x/a"}, {}).ok());
  EXPECT_FALSE(PathGlobs::Create({"/var/**"}, {}).ok());
  auto r = PathGlobs::Create({"/ok/*.log", ""}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("paths[1]"), std::string::npos);
}

}  // namespace
}  // namespace sluice::agent
