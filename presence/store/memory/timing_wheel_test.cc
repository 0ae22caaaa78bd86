#include "presence/store/memory/timing_wheel.h"

#include <cstdint>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace presence {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

std::vector<uint32_t> AdvanceTo(TimingWheel& wheel, uint32_t now) {
  std::vector<uint32_t> fired;
  wheel.Advance(now, [&](uint32_t node) { fired.push_back(node); });
  return fired;
}

TEST(TimingWheelTest, FiresAtDeadlineNeverBefore) {
  TimingWheel wheel(4, /*now=*/100);
  wheel.Schedule(1, 105);
  wheel.Schedule(2, 103);
  EXPECT_THAT(AdvanceTo(wheel, 102), IsEmpty());
  EXPECT_THAT(AdvanceTo(wheel, 103), ElementsAre(2));
  EXPECT_THAT(AdvanceTo(wheel, 104), IsEmpty());
  EXPECT_THAT(AdvanceTo(wheel, 110), ElementsAre(1));
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(TimingWheelTest, DeadlinesBeyondOneRotationWait) {
  TimingWheel wheel(4, 0);  // 16 slots.
  wheel.Schedule(7, 40);    // Same slot as 8, 24.
  for (uint32_t t = 1; t < 40; ++t)
    ASSERT_THAT(AdvanceTo(wheel, t), IsEmpty()) << t;
  EXPECT_THAT(AdvanceTo(wheel, 40), ElementsAre(7));
}

TEST(TimingWheelTest, RescheduleAndCancel) {
  TimingWheel wheel(4, 0);
  wheel.Schedule(1, 5);
  wheel.Schedule(2, 5);
  wheel.Schedule(3, 5);
  wheel.Schedule(1, 9);  // Moved later.
  wheel.Cancel(2);
  wheel.Cancel(2);  // No-op.
  EXPECT_FALSE(wheel.IsScheduled(2));
  EXPECT_TRUE(wheel.IsScheduled(1));
  EXPECT_EQ(wheel.Deadline(1), 9u);
  EXPECT_THAT(AdvanceTo(wheel, 5), ElementsAre(3));
  EXPECT_THAT(AdvanceTo(wheel, 9), ElementsAre(1));
}

TEST(TimingWheelTest, AlreadyDueFiresOnNextAdvance) {
  TimingWheel wheel(4, 50);
  wheel.Schedule(1, 10);
  EXPECT_THAT(AdvanceTo(wheel, 51), ElementsAre(1));
}

TEST(TimingWheelTest, LongJumpVisitsEverySlotOnce) {
  TimingWheel wheel(4, 0);
  for (uint32_t n = 0; n < 100; ++n) wheel.Schedule(n, 1 + n * 3);
  EXPECT_EQ(wheel.size(), 100u);
  std::vector<uint32_t> fired = AdvanceTo(wheel, 1000);
  EXPECT_EQ(fired.size(), 100u);
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(TimingWheelTest, TicksWrapAround) {
  const uint32_t start = 0xfffffff0u;
  TimingWheel wheel(4, start);
  wheel.Schedule(1, start + 0x20);  // Wraps past zero.
  EXPECT_THAT(AdvanceTo(wheel, start + 0x1f), IsEmpty());
  EXPECT_THAT(AdvanceTo(wheel, start + 0x20), ElementsAre(1));
}

TEST(TimingWheelTest, FireMaySchedule) {
  TimingWheel wheel(4, 0);
  wheel.Schedule(1, 2);
  std::vector<uint32_t> fired;
  wheel.Advance(3, [&](uint32_t node) {
    fired.push_back(node);
    wheel.Schedule(2, 4);
  });
  EXPECT_THAT(fired, ElementsAre(1));
  EXPECT_THAT(AdvanceTo(wheel, 4), UnorderedElementsAre(2));
}

}  // namespace
}  // namespace presence
