#include "presence/store/memory/name_table.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/string_view.h"
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
  ids.reserve(100);
  for (int i = 0; i < 100; ++i)
    ids.push_back(names.Acquire("n" + std::to_string(i)));
  bool reused = false;
  for (NameTable::Id id : ids) reused |= id == a;
  EXPECT_TRUE(reused);
}

TEST(NameTableTest, ReleaseManyDropsOneReferencePerId) {
  NameTable names;
  // 100 names over every shard, more than one chunk; even ones hold two
  // references, and n0 appears twice in the batch (two references).
  std::vector<NameTable::Id> batch;
  for (int i = 0; i < 100; ++i) {
    const std::string name = "n" + std::to_string(i);
    const NameTable::Id id = names.Acquire(name);
    if (i % 2 == 0) names.AddRef(id);
    batch.push_back(id);
  }
  batch.push_back(batch[0]);
  const uint64_t frees_before = [&] {
    uint64_t sum = 0;
    for (size_t s = 0; s < NameTable::kShards; ++s) sum += names.Frees(s);
    return sum;
  }();
  names.ReleaseMany(batch.data(), batch.size());
  uint64_t frees_after = 0;
  for (size_t s = 0; s < NameTable::kShards; ++s) frees_after += names.Frees(s);
  EXPECT_EQ(frees_after - frees_before, 51u);  // Odd ones and n0.
  EXPECT_EQ(names.size(), 49u);
  for (int i = 0; i < 100; ++i) {
    const std::string name = "n" + std::to_string(i);
    if (i % 2 == 1 || i == 0) {
      EXPECT_EQ(names.Find(name), NameTable::kNoId) << name;
    } else {
      EXPECT_EQ(names.Find(name), batch[i]) << name;
      EXPECT_EQ(names.Name(batch[i]), name);
    }
  }
  // Freed names come back (new ids are fine) and are found.
  const NameTable::Id again = names.Acquire("n1");
  EXPECT_EQ(names.Find("n1"), again);
}

TEST(NameTableTest, FindManyFindsWhatFindFinds) {
  NameTable names;
  std::vector<std::string> all;
  std::vector<NameTable::Id> held;
  for (int i = 0; i < 200; ++i) {
    all.push_back("n" + std::to_string(i));
    if (i % 3 != 0) held.push_back(names.Acquire(all.back()));
  }
  std::vector<absl::string_view> views(all.begin(), all.end());
  std::vector<NameTable::Id> ids(all.size());
  std::vector<uint64_t> frees(all.size());
  names.FindMany(views.data(), views.size(), ids.data(), frees.data());
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(ids[i], names.Find(all[i])) << all[i];
    EXPECT_EQ(frees[i], names.Frees(NameTable::ShardOf(all[i])));
  }
  for (NameTable::Id id : held) names.Release(id);
}

TEST(NameTableTest, FreesCountsFreedNamesPerShard) {
  NameTable names;
  const NameTable::Id a = names.Acquire("a");
  const size_t shard = NameTable::ShardOf(a);
  const uint64_t before = names.Frees(shard);
  names.AddRef(a);
  names.Release(a);  // Still referenced: not freed.
  EXPECT_EQ(names.Frees(shard), before);
  names.Release(a);
  EXPECT_EQ(names.Frees(shard), before + 1);
}

TEST(NameTableTest, ConcurrentAcquireAndRelease) {
  NameTable names;
  std::vector<std::thread> threads;
  threads.reserve(4);
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
