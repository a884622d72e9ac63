// Every codec round-trips through a stock decoder: gzip -t / gzip -dc, unzip -t / unzip -p, and
// the snappy library's own raw decoder under our parser of the framing and Hadoop formats.
#include "buffer/codec.h"

#include <gtest/gtest.h>
#include <snappy.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "core/crc32c.h"

namespace sluice::buffer {
namespace {

std::string Sample(size_t n) {
  std::mt19937_64 rng(7);
  std::string s;
  while (s.size() < n) {
    s += "127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET /item/" +
         std::to_string(rng() % 100000) + " HTTP/1.0\" 200 " + std::to_string(rng() % 5000) + "\n";
  }
  s.resize(n);
  return s;
}

std::filesystem::path TempFile(const std::string& name) {
  return std::filesystem::temp_directory_path() /
         ("sluice-codec-" + std::to_string(::getpid()) + "-" + name);
}

void WriteFile(const std::filesystem::path& p, const std::string& data) {
  std::ofstream(p, std::ios::binary).write(data.data(), static_cast<std::streamsize>(data.size()));
}

std::string Shell(const std::string& cmd, int* rc) {
  std::string out;
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) {
    *rc = -1;
    return out;
  }
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  *rc = ::pclose(f);
  return out;
}

uint32_t Be32(const std::string& s, size_t p) {
  return (uint32_t(uint8_t(s[p])) << 24) | (uint32_t(uint8_t(s[p + 1])) << 16) |
         (uint32_t(uint8_t(s[p + 2])) << 8) | uint32_t(uint8_t(s[p + 3]));
}

class GzipTest : public ::testing::TestWithParam<GzipBackend> {};

TEST_P(GzipTest, StockGzipDecodes) {
  std::string in = Sample(3 << 20);
  ObjectEncoder enc(Compression::kGzip, GetParam());
  std::string out;
  ASSERT_TRUE(enc.Encode(in, &out).ok());
  EXPECT_LT(out.size(), in.size() / 2);
  auto p = TempFile("x.gz");
  WriteFile(p, out);
  int rc;
  Shell("gzip -t " + p.string(), &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(Shell("gzip -dc " + p.string(), &rc), in);
  // Encoding again with the same encoder reuses its state and gives a valid member again.
  ASSERT_TRUE(enc.Encode("second", &out).ok());
  WriteFile(p, out);
  EXPECT_EQ(Shell("gzip -dc " + p.string(), &rc), "second");
  std::filesystem::remove(p);
}

INSTANTIATE_TEST_SUITE_P(Backends, GzipTest,
                         ::testing::Values(GzipBackend::kZlib, GzipBackend::kLibdeflate,
                                           GzipBackend::kIsal));

TEST(CodecTest, ZipIsOneEntryArchive) {
  std::string in = Sample(1 << 20);
  ObjectEncoder enc(Compression::kZip);
  std::string out;
  ASSERT_TRUE(enc.Encode(in, &out, "app-1-2024-01-02-03-04-05-id", 1704164645000).ok());
  auto p = TempFile("x.zip");
  WriteFile(p, out);
  int rc;
  std::string listing = Shell("unzip -t " + p.string(), &rc);
  EXPECT_EQ(rc, 0) << listing;
  EXPECT_NE(listing.find("testing: app-1-2024-01-02-03-04-05-id"), std::string::npos) << listing;
  EXPECT_EQ(Shell("unzip -p " + p.string(), &rc), in);
  std::filesystem::remove(p);
}

// Parses google/snappy framing_format.txt and checks every CRC; decodes with snappy itself.
std::string DecodeFraming(const std::string& s) {
  std::string out;
  EXPECT_EQ(s.substr(0, 10), std::string("\xff\x06\x00\x00sNaPpY", 10));
  size_t p = 10;
  while (p < s.size()) {
    uint8_t type = uint8_t(s[p]);
    size_t len = uint8_t(s[p + 1]) | (uint8_t(s[p + 2]) << 8) | (uint8_t(s[p + 3]) << 16);
    uint32_t masked = uint32_t(uint8_t(s[p + 4])) | (uint32_t(uint8_t(s[p + 5])) << 8) |
                      (uint32_t(uint8_t(s[p + 6])) << 16) | (uint32_t(uint8_t(s[p + 7])) << 24);
    std::string body = s.substr(p + 8, len - 4), chunk;
    if (type == 0x00) {
      EXPECT_TRUE(snappy::Uncompress(body.data(), body.size(), &chunk));
    } else {
      EXPECT_EQ(type, 0x01);
      chunk = body;
    }
    EXPECT_LE(chunk.size(), 65536u);
    EXPECT_EQ(crc32c::Unmask(masked), crc32c::Value(chunk.data(), chunk.size()));
    out += chunk;
    p += 4 + len;
  }
  return out;
}

TEST(CodecTest, SnappyFramingFormat) {
  std::string in = Sample(300000);
  ObjectEncoder enc(Compression::kSnappy);
  std::string out;
  ASSERT_TRUE(enc.Encode(in, &out).ok());
  EXPECT_LT(out.size(), in.size());
  EXPECT_EQ(DecodeFraming(out), in);
  // Incompressible data goes in uncompressed chunks.
  std::string noise(100000, '\0');
  std::mt19937 rng(1);
  for (char& c : noise) c = static_cast<char>(rng());
  ASSERT_TRUE(enc.Encode(noise, &out).ok());
  EXPECT_EQ(DecodeFraming(out), noise);
}

TEST(CodecTest, HadoopSnappyBlocks) {
  std::string in = Sample(600000);
  ObjectEncoder enc(Compression::kHadoopSnappy);
  std::string out;
  ASSERT_TRUE(enc.Encode(in, &out).ok());
  std::string back;
  size_t p = 0;
  while (p < out.size()) {
    uint32_t raw = Be32(out, p), clen = Be32(out, p + 4);
    std::string block;
    ASSERT_TRUE(snappy::Uncompress(out.data() + p + 8, clen, &block));
    EXPECT_EQ(block.size(), raw);
    back += block;
    p += 8 + clen;
  }
  EXPECT_EQ(back, in);
}

TEST(CodecTest, NamesAndExtensions) {
  EXPECT_EQ(CompressionExtension(Compression::kGzip), ".gz");
  EXPECT_EQ(CompressionExtension(Compression::kNone), "");
  EXPECT_EQ(ContentEncoding(Compression::kNone), "");
  EXPECT_EQ(*ParseCompression("hadoop_snappy"), Compression::kHadoopSnappy);
  EXPECT_FALSE(ParseCompression("lz4").ok());
}

}  // namespace
}  // namespace sluice::buffer
