#include "service/limits/watcher_limits.h"

#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace presence {
namespace {

using ::testing::HasSubstr;

TEST(WatcherLimitsTest, PerClientLimitRefusesTheNextWatchOfThatClientOnly) {
  WatcherLimits limits({/*per_client=*/2, /*total=*/0});
  WatchLimit refused;
  absl::StatusOr<WatchSlot> a1 = limits.Acquire("ip:10.0.0.1", &refused);
  absl::StatusOr<WatchSlot> a2 = limits.Acquire("ip:10.0.0.1", &refused);
  ASSERT_TRUE(a1.ok() && a2.ok());
  absl::StatusOr<WatchSlot> a3 = limits.Acquire("ip:10.0.0.1", &refused);
  ASSERT_EQ(a3.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(refused, WatchLimit::kPerClient);
  EXPECT_THAT(a3.status().message(), HasSubstr("--max_watchers_per_client=2"));
  EXPECT_TRUE(limits.Acquire("ip:10.0.0.2", &refused).ok());
  EXPECT_EQ(limits.of("ip:10.0.0.1"), 2u);
  EXPECT_EQ(limits.of("ip:10.0.0.2"), 0u);  // Its slot was destroyed.
  EXPECT_EQ(limits.total(), 2u);
}

TEST(WatcherLimitsTest, ASlotIsFreedWhenTheWatchEnds) {
  WatcherLimits limits({/*per_client=*/1, /*total=*/0});
  WatchLimit refused;
  absl::StatusOr<WatchSlot> first = limits.Acquire("user:alice", &refused);
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(limits.Acquire("user:alice", &refused).ok());
  first->Release();
  first->Release();  // Idempotent.
  EXPECT_EQ(limits.of("user:alice"), 0u);
  EXPECT_EQ(limits.clients(), 0u);  // Nothing kept for idle clients.
  {
    absl::StatusOr<WatchSlot> again = limits.Acquire("user:alice", &refused);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(limits.total(), 1u);
  }
  EXPECT_EQ(limits.total(), 0u);
}

TEST(WatcherLimitsTest, TotalLimitRefusesEveryClient) {
  WatcherLimits limits({/*per_client=*/0, /*total=*/3});
  WatchLimit refused;
  std::vector<WatchSlot> slots;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<WatchSlot> slot = limits.Acquire("ip:10.0.0.1", &refused);
    ASSERT_TRUE(slot.ok());
    slots.push_back(*std::move(slot));
  }
  absl::StatusOr<WatchSlot> refused_slot =
      limits.Acquire("ip:10.0.0.9", &refused);
  ASSERT_EQ(refused_slot.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(refused, WatchLimit::kTotal);
  EXPECT_THAT(refused_slot.status().message(), HasSubstr("--max_watchers=3"));
  slots.pop_back();
  EXPECT_TRUE(limits.Acquire("ip:10.0.0.9", &refused).ok());
}

TEST(WatcherLimitsTest, MovedSlotsReleaseOnce) {
  WatcherLimits limits({/*per_client=*/5, /*total=*/5});
  WatchLimit refused;
  absl::StatusOr<WatchSlot> slot = limits.Acquire("user:bob", &refused);
  ASSERT_TRUE(slot.ok());
  WatchSlot moved = *std::move(slot);
  WatchSlot assigned;
  assigned = std::move(moved);
  EXPECT_EQ(limits.total(), 1u);
  EXPECT_EQ(limits.of("user:bob"), 1u);
  assigned = WatchSlot();
  EXPECT_EQ(limits.total(), 0u);
  EXPECT_EQ(limits.of("user:bob"), 0u);
}

TEST(WatcherLimitsTest, OffCountsNothing) {
  WatcherLimits limits({/*per_client=*/0, /*total=*/0});
  WatchLimit refused;
  std::vector<WatchSlot> slots;
  for (int i = 0; i < 1000; ++i) {
    absl::StatusOr<WatchSlot> slot = limits.Acquire("ip:10.0.0.1", &refused);
    ASSERT_TRUE(slot.ok());
    slots.push_back(*std::move(slot));
  }
  EXPECT_EQ(limits.total(), 0u);
}

}  // namespace
}  // namespace presence
