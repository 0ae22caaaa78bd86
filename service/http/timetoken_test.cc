#include "service/http/timetoken.h"

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace presence {
namespace {

TEST(TimetokenTest, IsUnixTimeInHundredsOfNanoseconds) {
  EXPECT_EQ(TimetokenAt(absl::UnixEpoch()), 0u);
  EXPECT_EQ(TimetokenAt(absl::FromUnixMillis(1500)), 15000000u);
  EXPECT_EQ(TimetokenAt(absl::FromUnixNanos(1234)), 12u);  // Truncated.
  EXPECT_EQ(TimetokenAt(absl::UnixEpoch() - absl::Seconds(1)), 0u);
  // The recorded pair from PubNub: p.t 14720341194420285 with the event's
  // timestamp 1472034119 (seconds).
  EXPECT_EQ(TimetokenAt(absl::FromUnixSeconds(1472034119)) / 10000000,
            14720341194420285u / 10000000);
}

TEST(TimetokenTest, IsSeventeenDigitsToday) {
  const std::string now = TimetokenString(TimetokenAt(absl::Now()));
  EXPECT_EQ(now.size(), 17u) << now;
  EXPECT_EQ(TimetokenString(14720341195231188u), "14720341195231188");
}

TEST(TimetokenTest, ClockIsStrictlyIncreasing) {
  TimetokenClock clock;
  const absl::Time t = absl::FromUnixSeconds(1800000000);
  const uint64_t first = clock.Next(t);
  EXPECT_EQ(first, TimetokenAt(t));
  EXPECT_EQ(clock.Next(t), first + 1);  // Same instant.
  EXPECT_EQ(clock.Next(t - absl::Seconds(5)),
            first + 2);  // Clock stepped back.
  EXPECT_EQ(clock.Next(t + absl::Seconds(1)), TimetokenAt(t) + 10000000);
  EXPECT_EQ(clock.last(), TimetokenAt(t) + 10000000);
}

TEST(TimetokenTest, ParsesQueryValues) {
  EXPECT_EQ(ParseTimetoken(""), 0u);
  EXPECT_EQ(ParseTimetoken("0"), 0u);
  EXPECT_EQ(ParseTimetoken("14720341195231188"), 14720341195231188u);
  EXPECT_EQ(ParseTimetoken("-1"), std::nullopt);
  EXPECT_EQ(ParseTimetoken("12a"), std::nullopt);
  EXPECT_EQ(ParseTimetoken(" 1"), std::nullopt);
  EXPECT_EQ(ParseTimetoken("99999999999999999999"), std::nullopt);
}

}  // namespace
}  // namespace presence
