// ${VAR} substitution, durations and sizes as config values.
#include "agent/config/env_subst.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "agent/config/config.h"

namespace sluice::config {
namespace {

std::string Expand(std::string_view raw) {
  Result<std::string> out = ExpandVariables(raw);
  return out.ok() ? *out : "ERROR: " + out.status().message();
}

TEST(EnvSubstTest, ExpandsVariablesDefaultsAndEscapes) {
  setenv("SLUICE_T_A", "alpha", 1);
  setenv("SLUICE_T_EMPTY", "", 1);
  unsetenv("SLUICE_T_UNSET");
  EXPECT_EQ(Expand("plain"), "plain");
  EXPECT_EQ(Expand("${SLUICE_T_A}"), "alpha");
  EXPECT_EQ(Expand("x-${SLUICE_T_A}-${SLUICE_T_A}-y"), "x-alpha-alpha-y");
  EXPECT_EQ(Expand("${SLUICE_T_UNSET:-fallback}"), "fallback");
  EXPECT_EQ(Expand("${SLUICE_T_UNSET:-}"), "");
  EXPECT_EQ(Expand("${SLUICE_T_EMPTY:-used}"), "used");
  EXPECT_EQ(Expand("${SLUICE_T_A:-unused}"), "alpha");
  EXPECT_EQ(Expand("$${SLUICE_T_A}"), "${SLUICE_T_A}");
  EXPECT_EQ(Expand("cost $5 and $$"), "cost $5 and $");
  EXPECT_EQ(Expand("end$"), "end$");
  EXPECT_EQ(Expand("${SLUICE_T_UNSET}"),
            "ERROR: environment variable SLUICE_T_UNSET is not set and has no default (write "
            "${SLUICE_T_UNSET:-value} to give one)");
  EXPECT_EQ(Expand("${SLUICE_T_A"),
            "ERROR: unterminated \"${\" (write \"$$\" for a literal \"$\")");
  EXPECT_EQ(Expand("${}"),
            "ERROR: \"${}\" is not a variable reference (use ${NAME} or ${NAME:-default})");
}

TEST(EnvSubstTest, SubstitutesBeforeTyping) {
  setenv("SLUICE_T_SHARDS", "7", 1);
  setenv("SLUICE_T_DIR", "/srv/sluice", 1);
  unsetenv("SLUICE_T_UNSET");
  Result<Config> r = LoadConfigText(
      "data_dir: ${SLUICE_T_DIR}/data\n"
      "streams: [{name: s, shards: '${SLUICE_T_SHARDS}', retention: '${SLUICE_T_UNSET:-48h}'}]\n"
      "deliveries: [{name: d, stream: s, sink: {type: file, path: '${SLUICE_T_DIR}/out'}}]\n",
      "t.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->data_dir, "/srv/sluice/data");
  EXPECT_EQ(r->streams[0].shards, 7);
  EXPECT_EQ(r->streams[0].retention_hours, 48);
  EXPECT_EQ(r->deliveries[0].sink.options[0].value, "/srv/sluice/out");
}

TEST(EnvSubstTest, SubstitutedValueIsStillChecked) {
  setenv("SLUICE_T_SHARDS", "9999", 1);
  Result<Config> r =
      LoadConfigText("data_dir: d\nstreams: [{name: s, shards: '${SLUICE_T_SHARDS}'}]\n", "t.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "t.yaml:2:29: streams[0].shards: 9999 is out of range 1..1000");
}

TEST(EnvSubstTest, AllMissingVariablesAreReported) {
  unsetenv("SLUICE_T_X");
  unsetenv("SLUICE_T_Y");
  Result<Config> r =
      LoadConfigText("data_dir: ${SLUICE_T_X}\nplugin_dirs: ['${SLUICE_T_Y}']\n", "t.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "t.yaml:1:11: data_dir: environment variable SLUICE_T_X is not set and has no "
            "default (write ${SLUICE_T_X:-value} to give one)\n"
            "t.yaml:2:15: plugin_dirs[0]: environment variable SLUICE_T_Y is not set and has no "
            "default (write ${SLUICE_T_Y:-value} to give one)");
}

struct UnitCase {
  const char* yaml_value;
  int64_t fsync_interval_ms;
};

TEST(ConfigUnitsTest, DurationsInEveryUnit) {
  const UnitCase cases[] = {{"250ms", 250}, {"30s", 30000}, {"1m", 60000}, {"0", 0}};
  for (const UnitCase& c : cases) {
    std::string yaml = std::string("data_dir: d\nbroker: {iterator_ttl: 2h}\nsources: []\n") +
                       "deliveries: [{name: a, direct_put: true, sink: {type: file}, "
                       "retry_duration: " +
                       c.yaml_value + "}]\n";
    Result<Config> r = LoadConfigText(yaml, "u.yaml");
    ASSERT_TRUE(r.ok()) << c.yaml_value << ": " << r.status().message();
    EXPECT_EQ(r->deliveries[0].retry_duration->count(), c.fsync_interval_ms) << c.yaml_value;
    EXPECT_EQ(r->broker.iterator_ttl.count(), 7200000);
  }
}

TEST(ConfigUnitsTest, SizesInEveryUnit) {
  const std::pair<const char*, uint64_t> cases[] = {{"512KiB", 512u << 10}, {"5MiB", 5u << 20},
                                                    {"1GiB", 1ull << 30},   {"2KB", 2000},
                                                    {"1024", 1024},         {"100B", 100}};
  for (const auto& [text, bytes] : cases) {
    Result<Config> r =
        LoadConfigText(std::string("data_dir: d\nbroker: {disk_quota: ") + text + "}\n", "u.yaml");
    ASSERT_TRUE(r.ok()) << text << ": " << r.status().message();
    EXPECT_EQ(r->broker.disk_quota, bytes) << text;
  }
}

TEST(ConfigUnitsTest, RangeBoundsAreInclusive) {
  EXPECT_TRUE(LoadConfigText("data_dir: d\nstreams: [{name: s, shards: 1000, retention: 8760h}]\n",
                             "u.yaml")
                  .ok());
  EXPECT_TRUE(
      LoadConfigText("data_dir: d\nstreams: [{name: s, shards: 1, retention: 1d}]\n", "u.yaml")
          .ok());
  Result<Config> r = LoadConfigText(
      "data_dir: d\nstreams: [{name: s, shards: 1001, retention: 8761h}]\n", "u.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "u.yaml:2:29: streams[0].shards: 1001 is out of range 1..1000\n"
            "u.yaml:2:46: streams[0].retention: \"8761h\" is out of range 24h..8760h");
}

}  // namespace
}  // namespace sluice::config
