#include "presence/store/memory/member_tree.h"

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "presence/store/memory/name_table.h"

namespace presence {
namespace {

bool NotAfter(uint32_t a, uint32_t b) {
  return static_cast<int32_t>(a - b) <= 0;
}

// The tree against a std::map (the model) under a random mix of inserts,
// erases, deadline changes, pages and expiries.
class MemberTreeModelTest : public testing::TestWithParam<int> {
 protected:
  ~MemberTreeModelTest() override {
    for (const auto& [name, record] : model_) names_.Release(record.user);
  }

  std::string RandomName() {
    // Mixed lengths (inline and heap names), shared prefixes.
    const int n = static_cast<int>(rng_() % universe_);
    return n % 3 == 0 ? absl::StrCat("user-", n)
                      : absl::StrCat("u", n % 7, "-long-prefix-", n);
  }

  void Insert(const std::string& name, uint32_t deadline) {
    const NameTable::Id id = names_.Acquire(name);
    const bool inserted = tree_.Insert(name, {id, deadline}, names_);
    ASSERT_EQ(inserted, model_.count(name) == 0) << name;
    if (!inserted) {
      names_.Release(id);
      return;
    }
    model_[name] = {id, deadline};
  }

  void Erase(const std::string& name) {
    MemberRecord erased;
    const NameTable::Id id = names_.Find(name);
    const bool found = id != NameTable::kNoId && rng_() % 2 == 0
                           ? tree_.Erase(name, id, names_, &erased)
                           : tree_.Erase(name, names_, &erased);
    ASSERT_EQ(found, model_.count(name) == 1) << name;
    if (!found) return;
    EXPECT_EQ(erased.user, model_[name].user);
    EXPECT_EQ(erased.deadline, model_[name].deadline);
    names_.Release(erased.user);
    model_.erase(name);
  }

  void CheckPage(size_t offset, size_t limit) {
    std::vector<std::string> got;
    tree_.ForRange(offset, limit, [&](const MemberRecord& r) {
      got.push_back(std::string(names_.Name(r.user)));
    });
    std::vector<std::string> want;
    size_t rank = 0;
    for (const auto& [name, record] : model_) {
      if (rank >= offset && rank < offset + limit) want.push_back(name);
      ++rank;
    }
    ASSERT_EQ(got, want) << "offset " << offset << " limit " << limit;
  }

  // Times out what is due at `now`, as the store does: by name, or all at
  // once.
  void Expire(uint32_t now, bool at_once) {
    std::vector<MemberRecord> due;
    if (at_once) {
      tree_.EraseDue(now, &due);
      std::vector<std::string> want;
      for (const auto& [name, record] : model_) {
        if (NotAfter(record.deadline, now)) want.push_back(name);
      }
      std::vector<std::string> got;
      for (const MemberRecord& r : due) {
        got.push_back(std::string(names_.Name(r.user)));
        names_.Release(r.user);
      }
      ASSERT_EQ(got, want) << "erased at " << now;
      for (const std::string& name : want) model_.erase(name);
      if (!tree_.empty()) {
        ASSERT_FALSE(NotAfter(tree_.bound(), now));
      }
      return;
    }
    tree_.CollectDue(now, &due);
    std::vector<std::string> want;
    for (const auto& [name, record] : model_) {
      if (NotAfter(record.deadline, now)) want.push_back(name);
    }
    std::vector<std::string> got;
    for (const MemberRecord& r : due)
      got.push_back(std::string(names_.Name(r.user)));
    ASSERT_EQ(got, want) << "due at " << now;
    for (const std::string& name : want) Erase(name);
    tree_.RefreshBound(now);
    if (!tree_.empty()) {
      ASSERT_FALSE(NotAfter(tree_.bound(), now));
    }
  }

  std::mt19937_64 rng_{static_cast<uint64_t>(GetParam())};
  int universe_ = 3000;
  NameTable names_;
  MemberTree tree_;
  std::map<std::string, MemberRecord> model_;
};

TEST_P(MemberTreeModelTest, AgreesWithAMap) {
  // Deadlines start near the top of the tick range, so they wrap.
  uint32_t now = 0xffffffffu - 5000;
  for (int step = 0; step < 40000; ++step) {
    const int op = static_cast<int>(rng_() % 100);
    if (op < 45) {
      ASSERT_NO_FATAL_FAILURE(
          Insert(RandomName(), now + 1 + static_cast<uint32_t>(rng_() % 500)));
    } else if (op < 75) {
      ASSERT_NO_FATAL_FAILURE(Erase(RandomName()));
    } else if (op < 88) {
      // A heartbeat: a later or earlier deadline.
      const std::string name = RandomName();
      MemberRecord* record = tree_.Find(name, names_);
      ASSERT_EQ(record != nullptr, model_.count(name) == 1);
      const NameTable::Id id = names_.Find(name);
      if (id != NameTable::kNoId) {
        ASSERT_EQ(tree_.Find(name, id, names_), record);
      }
      if (record == nullptr) continue;
      const uint32_t deadline = now + 1 + static_cast<uint32_t>(rng_() % 500);
      const bool lower = static_cast<int32_t>(deadline - record->deadline) < 0;
      record->deadline = deadline;
      if (lower) tree_.LowerBound(name, deadline, names_);
      model_[name].deadline = deadline;
    } else if (op < 95) {
      const size_t offset = rng_() % (model_.size() + 10);
      ASSERT_NO_FATAL_FAILURE(CheckPage(offset, rng_() % 100));
    } else {
      now += static_cast<uint32_t>(rng_() % 40);
      ASSERT_NO_FATAL_FAILURE(Expire(now, rng_() % 2 == 0));
    }
    ASSERT_EQ(tree_.size(), model_.size());
    if (step % 500 == 0 || op >= 95) {
      ASSERT_EQ(tree_.CheckInvariants(names_), "") << "step " << step;
    }
  }
  ASSERT_EQ(tree_.CheckInvariants(names_), "");
  ASSERT_NO_FATAL_FAILURE(CheckPage(0, model_.size()));
  // Drain it: merges down to an empty tree.
  std::vector<std::string> all;
  for (const auto& [name, record] : model_) all.push_back(name);
  std::shuffle(all.begin(), all.end(), rng_);
  for (size_t i = 0; i < all.size(); ++i) {
    ASSERT_NO_FATAL_FAILURE(Erase(all[i]));
    if (i % 97 == 0) {
      ASSERT_EQ(tree_.CheckInvariants(names_), "");
    }
  }
  EXPECT_TRUE(tree_.empty());
  EXPECT_EQ(tree_.MemoryBytes(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Seeds, MemberTreeModelTest, testing::Range(1, 6));

TEST(MemberTreeTest, AscendingAndDescendingInsertsStayOrderedAndDense) {
  for (bool ascending : {true, false}) {
    NameTable names;
    MemberTree tree;
    std::vector<NameTable::Id> ids;
    const int n = 20000;
    for (int i = 0; i < n; ++i) {
      const int k = ascending ? i : n - 1 - i;
      const std::string name = absl::StrFormat("user-%06d", k);
      ids.push_back(names.Acquire(name));
      ASSERT_TRUE(tree.Insert(name, {ids.back(), 100}, names));
    }
    ASSERT_EQ(tree.CheckInvariants(names), "");
    ASSERT_EQ(tree.size(), static_cast<size_t>(n));
    int rank = 5000;
    tree.ForRange(5000, 3, [&](const MemberRecord& r) {
      EXPECT_EQ(names.Name(r.user), absl::StrFormat("user-%06d", rank++));
    });
    // Shifting into siblings before splitting keeps leaves well filled.
    EXPECT_LT(tree.MemoryBytes(), n * 8 * 10 / 7) << ascending;
    tree.Clear();
    for (NameTable::Id id : ids) names.Release(id);
  }
}

TEST(MemberTreeTest, EraseDueEmptiesWholeSubtrees) {
  NameTable names;
  MemberTree tree;
  std::vector<NameTable::Id> ids;
  // Runs of due and not due records, long enough to empty whole leaves and
  // inner nodes.
  for (int i = 0; i < 50000; ++i) {
    const std::string name = absl::StrFormat("user-%06d", i);
    ids.push_back(names.Acquire(name));
    tree.Insert(name, {ids.back(), (i / 3000) % 2 == 0 ? 10u : 20u}, names);
  }
  std::vector<MemberRecord> due;
  tree.EraseDue(10, &due);
  EXPECT_EQ(tree.CheckInvariants(names), "");
  EXPECT_EQ(due.size() + tree.size(), 50000u);
  EXPECT_EQ(tree.bound(), 20u);
  tree.EraseDue(20, &due);
  EXPECT_TRUE(tree.empty());
  EXPECT_EQ(due.size(), 50000u);
  for (NameTable::Id id : ids) names.Release(id);
}

TEST(MemberTreeTest, BoundsFollowLowerDeadlinesAndRefresh) {
  NameTable names;
  MemberTree tree;
  std::vector<NameTable::Id> ids;
  for (int i = 0; i < 1000; ++i) {
    const std::string name = absl::StrCat("u", i);
    ids.push_back(names.Acquire(name));
    tree.Insert(name, {ids.back(), 1000u + i}, names);
  }
  EXPECT_EQ(tree.bound(), 1000u);
  // Raising deadlines in place leaves the bound a (stale) lower bound...
  for (int i = 0; i < 1000; ++i) {
    tree.Find(absl::StrCat("u", i), names)->deadline = 5000u + i;
  }
  EXPECT_EQ(tree.bound(), 1000u);
  std::vector<MemberRecord> due;
  tree.CollectDue(4000, &due);
  EXPECT_TRUE(due.empty());
  // ... until refreshed.
  tree.RefreshBound(4000);
  EXPECT_EQ(tree.bound(), 5000u);
  // Lowering one pulls the bound down.
  tree.Find("u500", names)->deadline = 10;
  tree.LowerBound("u500", 10, names);
  EXPECT_EQ(tree.bound(), 10u);
  tree.CollectDue(10, &due);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(names.Name(due[0].user), "u500");
  EXPECT_EQ(tree.CheckInvariants(names), "");
  tree.Clear();
  for (NameTable::Id id : ids) names.Release(id);
}

TEST(MemberTreeTest, FlagBitsAreIgnoredForOrder) {
  NameTable names;
  MemberTree tree;
  const NameTable::Id b = names.Acquire("b");
  const NameTable::Id a = names.Acquire("a");
  ASSERT_TRUE(tree.Insert("b", {b | (1u << 31), 1}, names));
  ASSERT_TRUE(tree.Insert("a", {a | (1u << 30), 1}, names));
  ASSERT_NE(tree.Find("a", names), nullptr);
  EXPECT_EQ(tree.Find("a", names)->user & MemberTree::kIdMask, a);
  std::vector<std::string> order;
  tree.ForRange(0, 2, [&](const MemberRecord& r) {
    order.push_back(std::string(names.Name(r.user & MemberTree::kIdMask)));
  });
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b"}));
  tree.Clear();
  names.Release(a);
  names.Release(b);
}

}  // namespace
}  // namespace presence
