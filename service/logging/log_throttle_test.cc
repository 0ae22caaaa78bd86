// LogThrottle with made-up times: nothing sleeps.
#include "service/logging/log_throttle.h"

#include <chrono>

#include "gtest/gtest.h"

namespace presence {
namespace {

using std::chrono::seconds;

constexpr LogThrottle::Duration kInterval = seconds(10);

// An arbitrary point of the monotonic clock, and later ones.
LogThrottle::Time At(int s) {
  return LogThrottle::Time() + std::chrono::hours(1000) + seconds(s);
}

TEST(LogThrottleTest, FirstLineIsAllowed) {
  LogThrottle throttle(kInterval);
  EXPECT_EQ(throttle.NextAllowed("k"), LogThrottle::Time::min());
  EXPECT_TRUE(throttle.Allow("k", At(0)));
}

TEST(LogThrottleTest, OneLinePerInterval) {
  LogThrottle throttle(kInterval);
  ASSERT_TRUE(throttle.Allow("k", At(0)));
  EXPECT_EQ(throttle.NextAllowed("k"), At(10));
  EXPECT_FALSE(throttle.Allow("k", At(0)));
  EXPECT_FALSE(throttle.Allow("k", At(9)));
  EXPECT_FALSE(throttle.Allow("k", At(10) - std::chrono::nanoseconds(1)));
  // A refused line does not move the interval.
  EXPECT_EQ(throttle.NextAllowed("k"), At(10));
  EXPECT_TRUE(throttle.Allow("k", At(10)));
  EXPECT_EQ(throttle.NextAllowed("k"), At(20));
  // The interval counts from the last allowed line, not from a grid.
  EXPECT_TRUE(throttle.Allow("k", At(35)));
  EXPECT_FALSE(throttle.Allow("k", At(44)));
  EXPECT_TRUE(throttle.Allow("k", At(45)));
}

TEST(LogThrottleTest, KeysAreIndependent) {
  LogThrottle throttle(kInterval);
  ASSERT_TRUE(throttle.Allow("drops", At(0)));
  EXPECT_TRUE(throttle.Allow("failures", At(1)));
  EXPECT_FALSE(throttle.Allow("drops", At(2)));
  EXPECT_FALSE(throttle.Allow("failures", At(2)));
  EXPECT_EQ(throttle.NextAllowed("drops"), At(10));
  EXPECT_EQ(throttle.NextAllowed("failures"), At(11));
  EXPECT_EQ(throttle.NextAllowed("other"), LogThrottle::Time::min());
}

TEST(LogThrottleTest, CountsWhatItHeldBack) {
  LogThrottle throttle(kInterval);
  EXPECT_EQ(throttle.TakeHeldBack("k"), 0u);
  throttle.HoldBack("k");
  throttle.HoldBack("k");
  throttle.HoldBack("k", 5);
  throttle.HoldBack("other");
  EXPECT_EQ(throttle.TakeHeldBack("k"), 7u);
  EXPECT_EQ(throttle.TakeHeldBack("k"), 0u);
  EXPECT_EQ(throttle.TakeHeldBack("other"), 1u);
}

// The pattern of the webhook failure lines: the first failure is logged,
// the next ones within the interval are held back and reported by the next
// line that is allowed.
TEST(LogThrottleTest, ReportsHeldBackOccurrencesWithTheNextLine) {
  LogThrottle throttle(kInterval);
  const auto occur = [&throttle](int s) -> int {
    if (!throttle.Allow("k", At(s))) {
      throttle.HoldBack("k");
      return -1;  // Not logged.
    }
    return static_cast<int>(throttle.TakeHeldBack("k"));
  };
  EXPECT_EQ(occur(0), 0);
  EXPECT_EQ(occur(1), -1);
  EXPECT_EQ(occur(2), -1);
  EXPECT_EQ(occur(3), -1);
  EXPECT_EQ(occur(12), 3);
  EXPECT_EQ(occur(13), -1);
  EXPECT_EQ(occur(30), 1);
}

TEST(LogThrottleTest, ZeroIntervalAllowsEveryLine) {
  LogThrottle throttle(LogThrottle::Duration::zero());
  EXPECT_TRUE(throttle.Allow("k", At(0)));
  EXPECT_TRUE(throttle.Allow("k", At(0)));
}

}  // namespace
}  // namespace presence
