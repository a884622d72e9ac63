// SharedBytes: a byte buffer on the heap or in a shared memory file, found by address.
#include "buffer/shared_bytes.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>
#include <utility>

namespace sluice::buffer {
namespace {

std::string Bytes(size_t n, unsigned seed) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(static_cast<char>(i * seed + (i >> 11)));
  return s;
}

TEST(SharedBytesTest, OnTheHeapItIsAString) {
  SharedBytes b;
  EXPECT_FALSE(b.shared());
  EXPECT_TRUE(b.empty());
  b.reserve(100);
  b.append("hello ");
  b.append("world");
  EXPECT_EQ(std::string_view(b), "hello world");
  SharedRegion r;
  EXPECT_FALSE(FindRegion(b.data(), b.size(), &r));
  b.clear();
  EXPECT_EQ(b.size(), 0u);
}

TEST(SharedBytesTest, SharingKeepsTheBytesAndGrowingKeepsThemToo) {
  SharedBytes b;
  b.append("before ");
  ASSERT_TRUE(b.Share());
  EXPECT_TRUE(b.shared());
  EXPECT_EQ(std::string_view(b), "before ");
  std::string want = "before " + Bytes(5u << 20, 13);
  b.append(std::string_view(want).substr(7));
  EXPECT_EQ(std::string_view(b), want);
  SharedRegion r;
  ASSERT_TRUE(FindRegion(b.data() + 10, 100, &r));
  EXPECT_EQ(r.base, b.data());
  EXPECT_GE(r.size, b.size());
  EXPECT_TRUE(RegionExists(r.id));
  // The memory file holds the same bytes (what a child maps).
  void* p = mmap(nullptr, r.size, PROT_READ, MAP_SHARED, r.fd, 0);
  ASSERT_NE(p, MAP_FAILED);
  EXPECT_EQ(std::string_view(static_cast<const char*>(p), want.size()), want);
  munmap(p, r.size);
  // Cleared and refilled: the region stays (same id), no shrinking.
  uint64_t id = r.id;
  b.clear();
  b.append("x");
  ASSERT_TRUE(FindRegion(b.data(), 1, &r));
  EXPECT_EQ(r.id, id);
  EXPECT_EQ(std::string_view(b), "x");
}

TEST(SharedBytesTest, ARegionIsFoundOnlyForRangesInsideIt) {
  SharedBytes b;
  ASSERT_TRUE(b.Share());
  b.append(Bytes(10000, 3));
  SharedRegion r;
  ASSERT_TRUE(FindRegion(b.data(), 1, &r));
  EXPECT_TRUE(r.Contains(r.base, r.size));
  EXPECT_TRUE(r.Contains(r.base + r.size, 0));
  EXPECT_FALSE(r.Contains(r.base + r.size - 1, 2));
  EXPECT_FALSE(r.Contains(r.base - 1, 1));
  EXPECT_FALSE(r.Contains(r.base + 1, SIZE_MAX));
  EXPECT_FALSE(FindRegion(r.base + r.size - 1, 2, &r));
  int local = 0;
  EXPECT_FALSE(FindRegion(&local, sizeof(local), &r));
}

TEST(SharedBytesTest, MovingAndSwappingKeepEachRegionWithItsBytes) {
  SharedBytes a, b;
  ASSERT_TRUE(a.Share());
  a.append("in a region");
  b.append("on the heap");
  std::swap(a, b);
  EXPECT_FALSE(a.shared());
  EXPECT_TRUE(b.shared());
  EXPECT_EQ(std::string_view(a), "on the heap");
  EXPECT_EQ(std::string_view(b), "in a region");
  SharedRegion r;
  ASSERT_TRUE(FindRegion(b.data(), b.size(), &r));
  SharedBytes c(std::move(b));
  EXPECT_EQ(std::string_view(c), "in a region");
  ASSERT_TRUE(FindRegion(c.data(), c.size(), &r));
}

TEST(SharedBytesTest, ARegionEndsWithItsBuffer) {
  uint64_t id;
  {
    SharedBytes b;
    ASSERT_TRUE(b.Share());
    b.append("short-lived");
    SharedRegion r;
    ASSERT_TRUE(FindRegion(b.data(), b.size(), &r));
    id = r.id;
    EXPECT_TRUE(RegionExists(id));
  }
  EXPECT_FALSE(RegionExists(id));
  SharedBytes next;
  ASSERT_TRUE(next.Share());
  SharedRegion r;
  next.append("n");
  ASSERT_TRUE(FindRegion(next.data(), 1, &r));
  EXPECT_GT(r.id, id);  // ids are never reused
}

}  // namespace
}  // namespace sluice::buffer
