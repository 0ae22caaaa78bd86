#include "presence/store/memory/name_table.h"

#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace presence {
namespace {

TEST(NameTableTest, InternsAndCountsReferences) {
  NameTable names;
  const NameTable::Id a = names.Acquire("alice");
  EXPECT_EQ(names.Acquire("alice"), a);
  EXPECT_EQ(names.Name(a), "alice");
  EXPECT_EQ(names.Find("alice"), a);
  EXPECT_EQ(names.size(), 1u);
  names.Release(a);
  EXPECT_EQ(names.Find("alice"), a);  // One reference left.
  names.Release(a);
  EXPECT_EQ(names.Find("alice"), NameTable::kNoId);
  EXPECT_EQ(names.size(), 0u);
}

TEST(NameTableTest, ShardOfNameMatchesShardOfId) {
  NameTable names;
  for (int i = 0; i < 1000; ++i) {
    const std::string name = "user-" + std::to_string(i);
    EXPECT_EQ(NameTable::ShardOf(names.Acquire(name)),
              NameTable::ShardOf(name));
  }
}

TEST(NameTableTest, FreedIdsAreReusedAndLongNamesSurvive) {
  NameTable names;
  const std::string long_name(80, 'x');
  const NameTable::Id a = names.Acquire(long_name);
  names.AddRef(a);
  names.Release(a);
  EXPECT_EQ(names.Name(a), long_name);
  names.Release(a);
  // Reuses a's slot when the new name hashes to the same shard.
  std::vector<NameTable::Id> ids;
  for (int i = 0; i < 100; ++i)
    ids.push_back(names.Acquire("n" + std::to_string(i)));
  bool reused = false;
  for (NameTable::Id id : ids) reused |= id == a;
  EXPECT_TRUE(reused);
}

TEST(NameTableTest, ConcurrentAcquireAndRelease) {
  NameTable names;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&names, t] {
      for (int i = 0; i < 20000; ++i) {
        const std::string name = "n" + std::to_string((i * 7 + t) % 500);
        const NameTable::Id id = names.Acquire(name);
        ASSERT_EQ(names.Name(id), name);
        names.Release(id);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(names.size(), 0u);
}

}  // namespace
}  // namespace presence
