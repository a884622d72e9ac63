// docs/configuration.md holds the reference generated from the schema tables, unchanged.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "agent/config/config.h"

namespace sluice::config {
namespace {

constexpr std::string_view kBegin = "<!-- BEGIN REFERENCE -->\n";
constexpr std::string_view kEnd = "<!-- END REFERENCE -->";

TEST(ReferenceTest, DocsMatchTheSchema) {
  std::ifstream in(SLUICE_SOURCE_DIR "/docs/configuration.md");
  ASSERT_TRUE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  std::string doc = ss.str();
  size_t begin = doc.find(kBegin);
  size_t end = doc.find(kEnd);
  ASSERT_NE(begin, std::string::npos);
  ASSERT_NE(end, std::string::npos);
  std::string block = doc.substr(begin + kBegin.size(), end - begin - kBegin.size());
  std::string expected = RenderReferenceMarkdown();
  if (block != expected) {
    // Leave the generated block next to the test binary so the doc can be updated from it.
    std::ofstream("configuration_reference.md") << expected;
  }
  EXPECT_TRUE(block == expected)
      << "docs/configuration.md is out of date: copy the generated block "
         "from configuration_reference.md in the test's directory";
}

TEST(ReferenceTest, EveryKeyIsDocumented) {
  std::string md = RenderReferenceMarkdown();
  for (const char* key :
       {"`data_dir`", "`plugin_dirs`", "`log.level`", "`admin.listen`", "`broker.api.listen`",
        "`broker.api.auth[].secret_access_key_file`", "`streams[].shards`",
        "`sources[].partition_key`", "`sources[].processing[].log_to_json.pattern`",
        "`deliveries[].buffer.interval`", "`deliveries[].sink`", "`deliveries[].backup.sink`"}) {
    EXPECT_NE(md.find(key), std::string::npos) << key;
  }
}

}  // namespace
}  // namespace sluice::config
