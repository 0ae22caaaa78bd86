#include "presence/store/memory/chunked_vector.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace presence {
namespace {

TEST(ChunkedVectorTest, GrowsWithoutMovingElements) {
  ChunkedVector<uint64_t> v;
  EXPECT_EQ(v.size(), 0u);
  v.EnsureSize(1);
  v[0] = 42;
  uint64_t* first = &v[0];
  v.EnsureSize(100000);
  EXPECT_GE(v.size(), 100000u);
  EXPECT_EQ(first, &v[0]);
  EXPECT_EQ(v[0], 42u);
  for (size_t i = 0; i < 100000; ++i) v[i] = i * 3;
  for (size_t i = 0; i < 100000; ++i) ASSERT_EQ(v[i], i * 3);
}

TEST(ChunkedVectorTest, NewElementsAreValueInitialised) {
  ChunkedVector<uint32_t> v;
  v.EnsureSize(5000);
  for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], 0u);
}

TEST(ChunkedVectorTest, WastesAtMostTheLastChunk) {
  ChunkedVector<uint32_t> v;
  v.EnsureSize(1000000);
  EXPECT_LT(v.size(), 2 * 1000000u);
  EXPECT_EQ(v.AllocatedBytes(), v.size() * sizeof(uint32_t));
}

}  // namespace
}  // namespace presence
