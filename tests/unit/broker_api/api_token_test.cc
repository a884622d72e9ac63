#include "broker/api/api_token.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace sluice::broker::api {
namespace {

TEST(TokenCodecTest, RoundTripsAndRejectsForgeries) {
  TokenCodec codec(std::string(32, 'k'));
  TokenFields f;
  f.kind = kTokenListShards;
  f.issued_ms = 1700000000123;
  f.shard_index = 7;
  f.offset = 99;
  f.name = "my-stream";
  f.extra = "AT_LATEST";
  std::string token = codec.Encode(f);
  Result<TokenFields> back = codec.Decode(token, kTokenListShards);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->issued_ms, f.issued_ms);
  EXPECT_EQ(back->shard_index, 7u);
  EXPECT_EQ(back->offset, 99u);
  EXPECT_EQ(back->name, "my-stream");
  EXPECT_EQ(back->extra, "AT_LATEST");
  // Another kind, another key, a flipped byte, garbage: all refused.
  EXPECT_FALSE(codec.Decode(token, kTokenListStreams).ok());
  EXPECT_FALSE(TokenCodec(std::string(32, 'x')).Decode(token, kTokenListShards).ok());
  std::string flipped = token;
  flipped[4] = flipped[4] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(codec.Decode(flipped, kTokenListShards).ok());
  EXPECT_FALSE(codec.Decode("not base64!", kTokenListShards).ok());
  EXPECT_FALSE(codec.Decode("", kTokenListShards).ok());
}

// The key of a data directory: created once (0600, 32 bytes), the same for every later Open and
// every instance, replaced when the file is not a key.
TEST(TokenCodecTest, OpenKeepsTheDirectorysKey) {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("sluice_token_test_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  Result<TokenCodec> first = TokenCodec::Open(dir);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  TokenFields f;
  f.kind = kTokenListStreams;
  f.name = "s";
  std::string token = first->Encode(f);
  struct stat st {};
  ASSERT_EQ(::stat((dir / "api_token.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  Result<TokenCodec> second = TokenCodec::Open(dir);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  Result<TokenFields> back = second->Decode(token, kTokenListStreams);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->name, "s");
  // No temporary file is left behind.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
  // A cut-short key is replaced, and tokens of the old key are then refused.
  std::ofstream(dir / "api_token.key", std::ios::trunc) << "short";
  Result<TokenCodec> third = TokenCodec::Open(dir);
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  EXPECT_FALSE(third->Decode(token, kTokenListStreams).ok());
  EXPECT_EQ(std::filesystem::file_size(dir / "api_token.key"), 32u);
  std::filesystem::remove_all(dir);
  // A directory that does not exist is an error, not a process-local key.
  EXPECT_FALSE(TokenCodec::Open(dir / "missing").ok());
}

}  // namespace
}  // namespace sluice::broker::api
