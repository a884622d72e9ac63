// Producer tags (PutTag): written with a batch's last appended record, in the same write, read
// back beside records that never show them.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "broker/format.h"
#include "broker_test_util.h"
#include "core/base64.h"

namespace sluice::broker {
namespace {

class TagTest : public ::testing::TestWithParam<bool> {  // param: a sealed stream
 protected:
  void Open() {
    broker_.reset();
    BrokerOptions o;
    o.data_dir = dir_.path();
    o.clock = &clock_;
    if (GetParam()) {
      auto k = Keyring::Parse("k1 " + Base64Encode(std::string(32, 'k')) + "\n", "ring");
      ASSERT_TRUE(k.ok()) << k.status().ToString();
      o.keyring = std::make_shared<const Keyring>(std::move(*k));
    }
    auto b = Broker::Open(o);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    broker_ = std::move(*b);
  }
  Stream* Make(int shards, CapacityMode mode = CapacityMode::kUnlimited) {
    StreamOptions so;
    so.name = "t";
    so.shards = shards;
    so.mode = mode;
    so.encryption.enabled = GetParam();
    auto s = broker_->CreateStream(so);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? *s : nullptr;
  }
  // Every record of every shard: (shard, offset) -> (data, tag).
  std::map<std::pair<uint32_t, uint64_t>, std::pair<std::string, std::string>> All(Stream* s) {
    std::map<std::pair<uint32_t, uint64_t>, std::pair<std::string, std::string>> all;
    for (const ShardInfo& sh : s->ListShards()) {
      ReadBatch b;
      uint64_t at = 0;
      while (true) {
        EXPECT_TRUE(s->Read(sh.index, at, ReadLimits{}, &b).ok());
        if (b.records.empty()) break;
        for (const RecordView& r : b.records) {
          all[{sh.index, r.offset}] = {std::string(r.data), std::string(r.tag)};
        }
        at = b.next_offset;
      }
    }
    return all;
  }

  testing::TempDir dir_;
  FakeClock clock_{1700000000000};
  std::unique_ptr<Broker> broker_;
};

TEST_P(TagTest, RidesOnTheLastRecordOfTheLastShardWrittenAndNowhereElse) {
  Open();
  Stream* s = Make(4);
  // Small and large (written from the caller's memory) records, some with event times.
  std::vector<std::string> data, keys;
  for (int i = 0; i < 200; ++i) {
    data.push_back(i % 50 == 7 ? std::string(70000, 'a' + i % 26) : testing::Cat("rec-", i));
    keys.push_back(testing::Cat("key-", i));
  }
  std::vector<PutRecordIn> in;
  for (int i = 0; i < 200; ++i) {
    in.push_back({keys[i], data[i], std::nullopt, i % 3 == 0 ? int64_t{1000} + i : kNoEventTime});
  }
  const std::string tag_bytes = "position of file 1 at 4096" + std::string(300, 'x');
  PutTag tag{tag_bytes};
  std::vector<PutRecordOut> out;
  ASSERT_TRUE(s->PutBatch(in, &out, &tag).ok());
  ASSERT_TRUE(tag.written);
  // The last shard appended to is the highest one the batch touched (routes in hash order);
  // the tag is on that shard's last record of the batch.
  uint32_t last_shard = 0;
  for (const PutRecordOut& o : out) last_shard = std::max(last_shard, o.shard_index);
  EXPECT_EQ(tag.shard_index, last_shard);
  uint64_t last_offset = 0;
  for (const PutRecordOut& o : out) {
    if (o.shard_index == last_shard) last_offset = std::max(last_offset, o.offset);
  }
  EXPECT_EQ(tag.offset, last_offset);
  // An untagged batch after it, then a second tag on a one-shard batch.
  std::vector<PutRecordOut> out2;
  ASSERT_TRUE(s->PutBatch(std::span(in).subspan(0, 10), &out2).ok());
  PutTag tag2{"second"};
  ASSERT_TRUE(s->PutBatch(std::span(in).subspan(5, 1), &out2, &tag2).ok());
  ASSERT_TRUE(tag2.written);
  for (int round = 0; round < 2; ++round) {  // as written, then after a restart (recovery)
    auto all = All(s);
    ASSERT_EQ(all.size(), 211u);
    size_t tagged = 0;
    for (const auto& [at, rec] : all) {
      if (rec.second.empty()) continue;
      ++tagged;
      if (at == std::make_pair(tag.shard_index, tag.offset)) {
        EXPECT_EQ(rec.second, tag_bytes);
      } else {
        EXPECT_EQ(at, std::make_pair(tag2.shard_index, tag2.offset));
        EXPECT_EQ(rec.second, "second");
        EXPECT_EQ(rec.first, data[5]);
      }
    }
    EXPECT_EQ(tagged, 2u);
    for (size_t i = 0; i < in.size(); ++i) {  // the data does not hold the tag
      EXPECT_EQ(all[std::make_pair(out[i].shard_index, out[i].offset)].first, data[i]) << i;
    }
    broker_.reset();
    Open();
    auto again = broker_->GetStream("t");
    ASSERT_TRUE(again.ok());
    s = *again;
  }
}

TEST_P(TagTest, NotWrittenWhenARecordIsRefusedAndRefusedWhenMalformed) {
  Open();
  Stream* s = Make(1, CapacityMode::kProvisioned);
  std::vector<std::string> data(500, std::string(10, 'd'));
  std::vector<PutRecordIn> in;
  for (const auto& d : data) in.push_back({"k", d, std::nullopt});
  std::vector<PutRecordOut> out;
  ASSERT_TRUE(s->PutBatch(in, &out).ok());
  ASSERT_TRUE(s->PutBatch(in, &out).ok());
  // The shard's 1,000 records a second are taken: this batch is refused, and its tag with it.
  PutTag tag{"refused"};
  ASSERT_TRUE(s->PutBatch(std::span(in).subspan(0, 3), &out, &tag).ok());
  EXPECT_FALSE(out[0].status.ok());
  EXPECT_FALSE(tag.written);
  for (const auto& [at, rec] : All(s)) EXPECT_TRUE(rec.second.empty()) << at.second;
  // Empty and oversized tags are the caller's bug: the batch is refused whole.
  PutTag empty{""};
  EXPECT_EQ(s->PutBatch(std::span(in).subspan(0, 1), &out, &empty).code(), Code::kInvalidArgument);
  const std::string big(format::kMaxTagBytes + 1, 't');
  PutTag too_big{big};
  EXPECT_EQ(s->PutBatch(std::span(in).subspan(0, 1), &out, &too_big).code(),
            Code::kInvalidArgument);
  clock_.Advance(2000);
  const std::string largest(format::kMaxTagBytes, 'm');
  PutTag max{largest};
  ASSERT_TRUE(s->PutBatch(std::span(in).subspan(0, 1), &out, &max).ok());
  EXPECT_TRUE(max.written);
  auto all = All(s);
  EXPECT_EQ(all.rbegin()->second.second, largest);
}

INSTANTIATE_TEST_SUITE_P(PlainAndSealed, TagTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Sealed" : "Plain"; });

}  // namespace
}  // namespace sluice::broker
