// Test helpers: a temporary directory per test and a broker on a FakeClock.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "broker/broker.h"
#include "core/clock.h"

namespace sluice::broker::testing {

// prefix + n + suffix, built by appending (GCC 12 at -O3 warns falsely on chained operator+).
inline std::string Cat(std::string_view prefix, int64_t n, std::string_view suffix = "") {
  std::string out(prefix);
  out.append(std::to_string(n));
  out.append(suffix);
  return out;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sluice-broker-XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    EXPECT_NE(p, nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

class BrokerTest : public ::testing::Test {
 protected:
  BrokerOptions Options() {
    BrokerOptions o;
    o.data_dir = dir_.path();
    o.clock = &clock_;
    o.iterator_ttl = std::chrono::milliseconds(300000);
    return o;
  }
  void OpenBroker() { OpenBroker(Options()); }
  void OpenBroker(const BrokerOptions& o) {
    broker_.reset();
    auto b = Broker::Open(o);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    broker_ = std::move(*b);
  }
  Stream* MakeStream(const std::string& name, int shards,
                     FsyncPolicy fsync = FsyncPolicy::kInterval,
                     CapacityMode mode = CapacityMode::kUnlimited) {
    StreamOptions so;
    so.name = name;
    so.shards = shards;
    so.fsync = fsync;
    so.mode = mode;
    auto s = broker_->CreateStream(so);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? *s : nullptr;
  }
  // Puts `n` records "<prefix><i>" with one explicit hash key; returns their results.
  std::vector<PutRecordOut> PutN(Stream* s, int n, const std::string& prefix,
                                 std::optional<uint128> key = uint128{0}) {
    std::vector<std::string> data;
    for (int i = 0; i < n; ++i) data.push_back(prefix + std::to_string(i));
    std::vector<PutRecordIn> in;
    for (const auto& d : data) in.push_back({"pk", d, key});
    std::vector<PutRecordOut> out;
    EXPECT_TRUE(s->PutBatch(in, &out).ok());
    return out;
  }
  std::vector<std::string> ReadAll(Stream* s, uint32_t shard, uint64_t from = 0) {
    std::vector<std::string> got;
    ReadBatch b;
    for (;;) {
      Status st = s->Read(shard, from, ReadLimits{}, &b);
      EXPECT_TRUE(st.ok()) << st.ToString();
      if (!st.ok() || b.records.empty()) break;
      for (const auto& r : b.records) got.emplace_back(r.data);
      from = b.next_offset;
    }
    return got;
  }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<Broker> broker_;
};

}  // namespace sluice::broker::testing
