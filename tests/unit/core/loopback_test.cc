#include "core/loopback.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

TEST(LoopbackTest, LoopbackHostsWithOrWithoutAPort) {
  for (const char* h : {"127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LocalHost",
                        "127.0.0.1:4567", "localhost:80", "[::1]:4195"}) {
    EXPECT_TRUE(IsLoopbackHost(h)) << h;
  }
}

TEST(LoopbackTest, EverythingElseIsNot) {
  for (const char* h :
       {"", "0.0.0.0", "10.0.0.1", "::", "[::2]:80", "127.example.com", "127.0.0.1.evil.com",
        "localhost.evil.com", "evil.com:127", "127.0.0.1:port", "[::1]x", "127.1", "[::1"}) {
    EXPECT_FALSE(IsLoopbackHost(h)) << h;
  }
}

}  // namespace
}  // namespace sluice
