// Encryption at rest: sealed segments (AES-256-GCM chunks under a wrapped data key per segment).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>

#include "broker/file_util.h"
#include "broker/format.h"
#include "broker/segment.h"
#include "broker_test_util.h"
#include "core/base64.h"
#include "core/crc32c.h"

namespace sluice::broker {
namespace {

std::string KeyLine(const std::string& id, char fill) {
  return id + " " + Base64Encode(std::string(32, fill)) + "\n";
}

std::shared_ptr<const Keyring> Ring(const std::string& text) {
  auto k = Keyring::Parse(text, "ring");
  EXPECT_TRUE(k.ok()) << k.status().ToString();
  return std::make_shared<const Keyring>(std::move(*k));
}

class EncryptionTest : public testing::BrokerTest {
 protected:
  BrokerOptions Keyed(const std::string& ring = KeyLine("k1", 'a')) {
    BrokerOptions o = Options();
    o.keyring = Ring(ring);
    return o;
  }
  Stream* MakeSealed(const std::string& name, int shards = 1, const std::string& key_id = "") {
    StreamOptions so;
    so.name = name;
    so.shards = shards;
    so.encryption = {true, key_id};
    auto s = broker_->CreateStream(so);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? *s : nullptr;
  }
  std::filesystem::path ShardDir(const std::string& stream) {
    return dir_.path() / "streams" / stream / "shardId-000000000000";
  }
  std::vector<std::filesystem::path> Segments(const std::string& stream) {
    std::vector<std::filesystem::path> out;
    for (auto& e : std::filesystem::directory_iterator(ShardDir(stream))) {
      if (e.path().extension() == ".log") out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  // Every byte under the data directory.
  std::string AllBytes() {
    std::string all;
    for (auto& e : std::filesystem::recursive_directory_iterator(dir_.path())) {
      if (e.is_regular_file()) all += *ReadWholeFile(e.path());
    }
    return all;
  }
  // Puts `n` records "secret-<prefix><i>-..." with partition keys "pkey-<prefix><i>".
  void PutSecrets(Stream* s, int n, const std::string& prefix, size_t pad = 40) {
    std::vector<std::string> data, keys;
    for (int i = 0; i < n; ++i) {
      data.push_back(testing::Cat("secret-" + prefix, i, "-") + std::string(pad, 'p'));
      keys.push_back(testing::Cat("pkey-" + prefix, i));
    }
    std::vector<PutRecordIn> in;
    for (int i = 0; i < n; ++i) in.push_back({keys[i], data[i], uint128{0}});
    std::vector<PutRecordOut> out;
    ASSERT_TRUE(s->PutBatch(in, &out).ok());
    for (const auto& o : out) ASSERT_TRUE(o.status.ok()) << o.status.ToString();
  }
  static std::string Marker(const std::string& d) { return d.substr(0, d.find('-', 7)); }
};

TEST_F(EncryptionTest, RoundTripWithNoPlaintextOnDisk) {
  OpenBroker(Keyed());
  Stream* s = MakeSealed("enc");
  // Batches of small records, records past the zero-copy size, and one near the 1 MiB limit
  // (chunks are cut at 256 KiB of frames).
  for (int b = 0; b < 8; ++b) PutSecrets(s, 250, testing::Cat("b", b, "x"));
  PutSecrets(s, 20, "big", 50000);
  PutSecrets(s, 1, "huge", (1 << 20) - 100);
  ASSERT_TRUE(s->Sync().ok());
  auto got = ReadAll(s, 0);
  ASSERT_EQ(got.size(), 2021u);
  EXPECT_EQ(Marker(got[0]), "secret-b0x0");
  EXPECT_EQ(Marker(got[1999]), "secret-b7x249");
  EXPECT_EQ(Marker(got[2020]), "secret-huge0");
  EXPECT_EQ(got[2020].size(), std::string("secret-huge0-").size() + (1 << 20) - 100);
  broker_.reset();  // indexes written too
  std::string disk = AllBytes();
  EXPECT_EQ(disk.find("secret-"), std::string::npos);
  EXPECT_EQ(disk.find("pkey-"), std::string::npos);
  EXPECT_EQ(disk.find("pppppppp"), std::string::npos);
  // After a restart: the header's data key unwraps, every chunk opens.
  OpenBroker(Keyed());
  s = *broker_->GetStream("enc");
  EXPECT_EQ(ReadAll(s, 0), got);
  EXPECT_TRUE(s->options().encryption.enabled);
  // The partition keys and offsets come back too.
  ReadBatch b;
  ASSERT_TRUE(s->Read(0, 1234, ReadLimits{3, 10 << 20}, &b).ok());
  ASSERT_EQ(b.records.size(), 3u);
  EXPECT_EQ(b.records[0].offset, 1234u);
  EXPECT_EQ(b.records[0].partition_key, "pkey-b4x234");
  EXPECT_EQ(b.next_offset, 1237u);
}

TEST_F(EncryptionTest, ReadsStartInsideChunksAndHonourLimits) {
  OpenBroker(Keyed());
  Stream* s = MakeSealed("enc");
  for (int b = 0; b < 4; ++b) PutSecrets(s, 500, testing::Cat("b", b, "x"), 900);
  std::vector<std::string> all = ReadAll(s, 0);
  ASSERT_EQ(all.size(), 2000u);
  // From every 37th offset, a few records at a time, byte limits too.
  for (uint64_t from = 0; from < 2000; from += 37) {
    ReadBatch b;
    ASSERT_TRUE(s->Read(0, from, ReadLimits{5, 10 << 20}, &b).ok());
    ASSERT_EQ(b.records.size(), std::min<size_t>(5, 2000 - from)) << from;
    for (size_t i = 0; i < b.records.size(); ++i) {
      EXPECT_EQ(b.records[i].offset, from + i);
      EXPECT_EQ(b.records[i].data, all[from + i]);
    }
    ASSERT_TRUE(s->Read(0, from, ReadLimits{10000, 2000}, &b).ok());
    EXPECT_EQ(b.records.size(), std::min<size_t>(2, 2000 - from)) << from;
    EXPECT_EQ(b.records[0].offset, from);
  }
}

TEST_F(EncryptionTest, AtTimestampUsesChunkTimes) {
  OpenBroker(Keyed());
  Stream* s = MakeSealed("enc");
  int64_t t0 = clock_.NowMs();
  PutSecrets(s, 300, "a");
  clock_.Advance(10000);
  PutSecrets(s, 300, "b");
  clock_.Advance(10000);
  PutSecrets(s, 300, "c");
  EXPECT_EQ(*s->OffsetAtTimestamp(0, t0), 0u);
  EXPECT_EQ(*s->OffsetAtTimestamp(0, t0 + 5000), 300u);
  EXPECT_EQ(*s->OffsetAtTimestamp(0, t0 + 20000), 600u);
  EXPECT_EQ(*s->OffsetAtTimestamp(0, t0 + 30000), 900u);
}

TEST_F(EncryptionTest, StartAndStopSwitchSegments) {
  OpenBroker(Keyed());
  Stream* s = MakeStream("mix", 1);
  PutSecrets(s, 100, "plain1x");
  ASSERT_TRUE(s->SetEncryption({true, "k1"}).ok());
  PutSecrets(s, 100, "sealedx");
  ASSERT_TRUE(s->SetEncryption({false, ""}).ok());
  PutSecrets(s, 100, "plain2x");
  auto got = ReadAll(s, 0);
  ASSERT_EQ(got.size(), 300u);
  EXPECT_EQ(Marker(got[100]), "secret-sealedx0");
  EXPECT_EQ(Marker(got[299]), "secret-plain2x99");
  broker_.reset();
  auto segs = Segments("mix");
  ASSERT_EQ(segs.size(), 3u);
  std::vector<uint16_t> versions;
  for (const auto& p : segs) {
    versions.push_back(format::Get16(ReadWholeFile(p)->data() + format::kSegVersionAt));
  }
  EXPECT_EQ(versions, (std::vector<uint16_t>{1, 2, 1}));
  std::string disk = AllBytes();
  EXPECT_NE(disk.find("secret-plain1x0-"), std::string::npos);
  EXPECT_EQ(disk.find("secret-sealedx"), std::string::npos);
  OpenBroker(Keyed());
  s = *broker_->GetStream("mix");
  EXPECT_EQ(ReadAll(s, 0), got);
  EXPECT_FALSE(s->options().encryption.enabled);
}

TEST_F(EncryptionTest, EncryptionOfAnEmptyStreamReplacesItsSegment) {
  OpenBroker(Keyed());
  Stream* s = MakeStream("fresh", 1);
  ASSERT_TRUE(s->SetEncryption({true, ""}).ok());
  PutSecrets(s, 10, "x");
  EXPECT_EQ(Segments("fresh").size(), 1u);
  EXPECT_EQ(ReadAll(s, 0).size(), 10u);
  EXPECT_EQ(AllBytes().find("secret-"), std::string::npos);
}

TEST_F(EncryptionTest, KeyRotationAndMissingKeys) {
  OpenBroker(Keyed());
  Stream* s = MakeSealed("rot");  // the primary key: k1
  PutSecrets(s, 50, "one");
  // k2 joins the keyring and becomes the primary: the next append starts a segment under it.
  ASSERT_TRUE(broker_->SetKeyring(Ring(KeyLine("k1", 'a') + KeyLine("k2", 'b'))).ok());
  PutSecrets(s, 50, "two");
  EXPECT_EQ(ReadAll(s, 0).size(), 100u);
  auto segs = Segments("rot");
  ASSERT_EQ(segs.size(), 2u);
  auto key_id = [](const std::filesystem::path& p) {
    std::string h = *ReadWholeFile(p);
    return h.substr(format::kSegKeyIdAt, static_cast<uint8_t>(h[format::kSegKeyIdLenAt]));
  };
  EXPECT_EQ(key_id(segs[0]), "k1");
  EXPECT_EQ(key_id(segs[1]), "k2");
  // A stream naming k2 refuses a keyring without it.
  ASSERT_TRUE(s->SetEncryption({true, "k2"}).ok());
  Status st = broker_->SetKeyring(Ring(KeyLine("k1", 'a')));
  EXPECT_EQ(st.code(), Code::kNotFound) << st.ToString();
  EXPECT_EQ(s->SetEncryption({true, "k9"}).code(), Code::kNotFound);
  // Nor one without k1, which still wraps the first segment's data key.
  st = broker_->SetKeyring(Ring(KeyLine("k2", 'b')));
  EXPECT_EQ(st.code(), Code::kNotFound) << st.ToString();
  EXPECT_NE(st.ToString().find("master key k1"), std::string::npos) << st.ToString();
  broker_.reset();
  // Without k1 the older segment cannot be read: the broker does not open, and says why.
  auto b = Broker::Open(Keyed(KeyLine("k2", 'b')));
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().ToString().find("master key k1"), std::string::npos)
      << b.status().ToString();
  // Without any keyring either.
  b = Broker::Open(Options());
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().ToString().find("keyring"), std::string::npos) << b.status().ToString();
  // A key of the right id but other bytes does not unwrap the data key.
  b = Broker::Open(Keyed(KeyLine("k1", 'z') + KeyLine("k2", 'b')));
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().ToString().find("does not unwrap"), std::string::npos)
      << b.status().ToString();
  OpenBroker(Keyed(KeyLine("k1", 'a') + KeyLine("k2", 'b')));
  EXPECT_EQ(ReadAll(*broker_->GetStream("rot"), 0).size(), 100u);
}

TEST_F(EncryptionTest, RefusedWithoutAKeyring) {
  OpenBroker();
  StreamOptions so;
  so.name = "nokey";
  so.encryption = {true, ""};
  EXPECT_EQ(broker_->CreateStream(so).status().code(), Code::kInvalidArgument);
  Stream* s = MakeStream("plain", 1);
  EXPECT_EQ(s->SetEncryption({true, ""}).code(), Code::kInvalidArgument);
  OpenBroker(Keyed());
  so.encryption = {true, "absent"};
  EXPECT_EQ(broker_->CreateStream(so).status().code(), Code::kNotFound);
}

// Writes 10 batches of 30 records to a sealed stream and closes the broker; returns the file
// position of every chunk (one per batch) and the file size at the end.
class SealedRecoveryTest : public EncryptionTest {
 protected:
  std::vector<uint64_t> WriteTen() {
    OpenBroker(Keyed());
    Stream* s = MakeSealed("c");
    for (int b = 0; b < 10; ++b) PutSecrets(s, 30, testing::Cat("b", b, "x"));
    EXPECT_TRUE(s->Sync().ok());
    broker_.reset();
    std::string file = *ReadWholeFile(Segments("c")[0]);
    std::vector<uint64_t> starts;
    uint64_t pos = format::Get16(file.data() + format::kSegHeaderLenAt);
    while (pos < file.size()) {
      starts.push_back(pos);
      pos += format::kChunkHeaderSize + format::Get32(file.data() + pos + format::kChunkLenAt);
    }
    EXPECT_EQ(starts.size(), 10u);
    starts.push_back(pos);
    return starts;
  }
  std::vector<std::string> Recovered() {
    OpenBroker(Keyed());
    auto got = ReadAll(*broker_->GetStream("c"), 0);
    for (auto& g : got) g = Marker(g);
    return got;
  }
  static std::vector<std::string> Batches(std::initializer_list<int> which) {
    std::vector<std::string> out;
    for (int b : which) {
      for (int i = 0; i < 30; ++i) out.push_back(testing::Cat(testing::Cat("secret-b", b, "x"), i));
    }
    return out;
  }
};

TEST_F(SealedRecoveryTest, TornTailIsCutAtEveryByte) {
  auto starts = WriteTen();
  std::filesystem::path seg = Segments("c")[0];
  std::string saved = *ReadWholeFile(seg);
  for (uint64_t cut = starts[8]; cut < starts.back(); cut += 7) {
    broker_.reset();
    ASSERT_TRUE(WriteFileAtomically(seg, std::string_view(saved).substr(0, cut)).ok());
    std::filesystem::remove(std::filesystem::path(seg).replace_extension(".index"));
    size_t complete = 0;
    while (complete + 1 < starts.size() && starts[complete + 1] <= cut) ++complete;
    auto got = Recovered();
    ASSERT_EQ(got.size(), complete * 30) << "cut at " << cut;
    // Appends go on, in a new segment: the recovered one is not appended to again.
    Stream* s = *broker_->GetStream("c");
    PutSecrets(s, 5, "new");
    auto after = ReadAll(s, 0);
    ASSERT_EQ(after.size(), complete * 30 + 5);
    EXPECT_EQ(Marker(after.back()), "secret-new4");
    EXPECT_EQ(Segments("c").size(), 2u);
    broker_.reset();
    std::filesystem::remove(Segments("c")[1]);
    std::filesystem::remove(std::filesystem::path(Segments("c")[0]).replace_extension(".index"));
  }
}

TEST_F(SealedRecoveryTest, DamagedOrTamperedChunksAreSkipped) {
  auto starts = WriteTen();
  std::filesystem::path seg = Segments("c")[0];
  std::string saved = *ReadWholeFile(seg);
  // A flipped byte anywhere in chunk 4 (header, ciphertext or tag): its CRC catches it at
  // recovery, and the other nine batches survive.
  for (uint64_t at = starts[4]; at < starts[5]; at += 97) {
    broker_.reset();
    std::string bad = saved;
    bad[at] ^= 0x5a;
    ASSERT_TRUE(WriteFileAtomically(seg, bad).ok());
    EXPECT_EQ(Recovered(), Batches({0, 1, 2, 3, 5, 6, 7, 8, 9})) << "flipped byte " << at;
  }
  // Tampering that keeps the CRC right (a ciphertext bit flipped, the CRC recomputed) is caught
  // by the GCM tag when read.
  broker_.reset();
  std::string bad = saved;
  bad[starts[6] + format::kChunkHeaderSize + 10] ^= 0x01;
  uint64_t end6 = starts[7];
  format::Put32(bad.data() + starts[6],
                crc32c::Mask(crc32c::Value(bad.data() + starts[6] + 4, end6 - starts[6] - 4)));
  ASSERT_TRUE(WriteFileAtomically(seg, bad).ok());
  EXPECT_EQ(Recovered(), Batches({0, 1, 2, 3, 4, 5, 7, 8, 9}));
}

// A batch larger than a chunk is sealed in several; a kill between them leaves its first chunks
// whole. Its last chunk marks the append's end (format::kChunkFlagWriteEnd), and recovery drops
// the chunks after the last mark, so a producer's tag (on the batch's last record) is in the log
// exactly when the whole batch is: the agent puts a batch cut so again without duplicates.
TEST_F(SealedRecoveryTest, ABatchCutBetweenItsChunksIsDroppedWhole) {
  OpenBroker(Keyed());
  Stream* s = MakeSealed("c");
  for (int b = 0; b < 3; ++b) PutSecrets(s, 8, testing::Cat("b", b, "x"), 100 << 10);
  ASSERT_TRUE(s->Sync().ok());
  broker_.reset();
  std::filesystem::path seg = Segments("c")[0];
  const std::string saved = *ReadWholeFile(seg);
  ASSERT_EQ(format::Get16(saved.data() + format::kSegFlagsAt),
            format::kSegFlagSealed | format::kSegFlagWriteEnds);
  std::vector<uint64_t> starts;  // every chunk's position, then the file's end
  std::vector<uint64_t> batch_ends;
  for (uint64_t pos = format::Get16(saved.data() + format::kSegHeaderLenAt); pos < saved.size();) {
    starts.push_back(pos);
    const uint32_t flags = format::Get32(saved.data() + pos + format::kChunkFlagsAt);
    pos += format::kChunkHeaderSize + format::Get32(saved.data() + pos + format::kChunkLenAt);
    if (flags == format::kChunkFlagWriteEnd) batch_ends.push_back(pos);
  }
  ASSERT_EQ(starts.size(), 12u);  // two 100 KiB records to a chunk: four chunks a batch
  ASSERT_EQ(batch_ends.size(), 3u);
  ASSERT_EQ(batch_ends.back(), saved.size());
  auto records_of = [](int batches) {
    std::vector<std::string> out;
    for (int b = 0; b < batches; ++b) {
      for (int i = 0; i < 8; ++i) out.push_back(testing::Cat(testing::Cat("secret-b", b, "x"), i));
    }
    return out;
  };
  // Cut at every chunk's end inside the last batch and inside its chunks: two batches survive.
  // The segment's first batch cut so: nothing survives.
  std::vector<uint64_t> cuts;
  for (size_t i = 1; i < starts.size(); ++i) {
    cuts.push_back(starts[i]);
    cuts.push_back(starts[i] - 1000);
  }
  for (uint64_t cut : cuts) {
    const auto whole = static_cast<int>(
        std::count_if(batch_ends.begin(), batch_ends.end(), [&](uint64_t e) { return e <= cut; }));
    broker_.reset();
    ASSERT_TRUE(WriteFileAtomically(seg, std::string_view(saved).substr(0, cut)).ok());
    std::filesystem::remove(std::filesystem::path(seg).replace_extension(".index"));
    ASSERT_EQ(Recovered(), records_of(whole)) << "cut at " << cut;
    broker_.reset();
    for (size_t i = 1; i < Segments("c").size(); ++i) std::filesystem::remove(Segments("c")[i]);
  }
  // `sluice decrypt` keeps the marks: the plain segment it gives ends each batch's last frame
  // with the write-end flag, and says so in its header.
  uint64_t torn = 0;
  auto plain = DecryptSegment(*Ring(KeyLine("k1", 'a')), saved, &torn);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(format::Get16(plain->data() + format::kSegFlagsAt), format::kSegFlagWriteEnds);
  std::vector<uint64_t> ends;
  uint64_t n = 0;
  for (size_t at = format::kSegmentHeaderSize; at < plain->size(); ++n) {
    Frame f;
    ASSERT_EQ(DecodeFrame(plain->data() + at, plain->size() - at, &f), FrameCheck::kOk);
    if (format::Get16(plain->data() + at + format::kFrameFlagsAt) & format::kFrameFlagWriteEnd) {
      ends.push_back(f.offset);
    }
    at += f.size;
  }
  EXPECT_EQ(n, 24u);
  EXPECT_EQ(ends, (std::vector<uint64_t>{7, 15, 23}));
}

}  // namespace
}  // namespace sluice::broker
