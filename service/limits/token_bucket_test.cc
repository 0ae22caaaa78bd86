#include "service/limits/token_bucket.h"

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace presence {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

TEST(TokenBucketTest, AdmitsTheBurstThenRefusesWithTheWait) {
  const TokenBucketPolicy policy{/*rate=*/2, /*burst=*/3};
  TokenBucket bucket(kStart, policy);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(bucket.Take(kStart, policy, 1), absl::ZeroDuration()) << i;
  }
  // One token comes back every 500 ms.
  EXPECT_EQ(bucket.Take(kStart, policy, 1), absl::Milliseconds(500));
  // A refusal takes nothing: the wait does not grow.
  EXPECT_EQ(bucket.Take(kStart, policy, 1), absl::Milliseconds(500));
}

TEST(TokenBucketTest, RefillsWithTimeUpToTheBurst) {
  const TokenBucketPolicy policy{/*rate=*/2, /*burst=*/3};
  TokenBucket bucket(kStart, policy);
  for (int i = 0; i < 3; ++i) bucket.Take(kStart, policy, 1);
  absl::Time now = kStart + absl::Milliseconds(499);
  EXPECT_EQ(bucket.Take(now, policy, 1), absl::Milliseconds(1));
  now = kStart + absl::Milliseconds(500);
  EXPECT_EQ(bucket.Take(now, policy, 1), absl::ZeroDuration());
  EXPECT_GT(bucket.Take(now, policy, 1), absl::ZeroDuration());

  // A long idle time refills the burst, not more.
  now += absl::Hours(1);
  EXPECT_TRUE(bucket.Full(now, policy));
  EXPECT_DOUBLE_EQ(bucket.Tokens(now, policy), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(bucket.Take(now, policy, 1), absl::ZeroDuration()) << i;
  }
  EXPECT_GT(bucket.Take(now, policy, 1), absl::ZeroDuration());
}

TEST(TokenBucketTest, RetryingAfterTheWaitIsAdmitted) {
  const TokenBucketPolicy policy{/*rate=*/3, /*burst=*/1};
  TokenBucket bucket(kStart, policy);
  absl::Time now = kStart;
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(bucket.Take(now, policy, 1), absl::ZeroDuration()) << i;
    const absl::Duration wait = bucket.Take(now, policy, 1);
    ASSERT_GT(wait, absl::ZeroDuration());
    ASSERT_LE(wait, absl::Milliseconds(334));  // 1/3 s, rounded up.
    now += wait;
  }
}

TEST(TokenBucketTest, CostCountsSeveralWrites) {
  const TokenBucketPolicy policy{/*rate=*/10, /*burst=*/10};
  TokenBucket bucket(kStart, policy);
  EXPECT_EQ(bucket.Take(kStart, policy, 7), absl::ZeroDuration());
  // 3 left; 5 more need 2 more tokens: 200 ms.
  EXPECT_EQ(bucket.Take(kStart, policy, 5), absl::Milliseconds(200));
  EXPECT_EQ(bucket.Take(kStart, policy, 3), absl::ZeroDuration());
}

TEST(TokenBucketTest, ACallLargerThanTheBurstWaitsForAFullBucketAndLeavesDebt) {
  const TokenBucketPolicy policy{/*rate=*/10, /*burst=*/10};
  TokenBucket bucket(kStart, policy);
  bucket.Take(kStart, policy, 1);
  // Needs the whole burst: 9 of 10 are there, 100 ms to go.
  EXPECT_EQ(bucket.Take(kStart, policy, 50), absl::Milliseconds(100));
  absl::Time now = kStart + absl::Milliseconds(100);
  EXPECT_EQ(bucket.Take(now, policy, 50), absl::ZeroDuration());
  // 40 tokens of debt: the next write waits 4.1 s (to reach one token).
  EXPECT_DOUBLE_EQ(bucket.Tokens(now, policy), -40);
  EXPECT_EQ(bucket.Take(now, policy, 1), absl::Milliseconds(4100));
  EXPECT_FALSE(bucket.Full(now + absl::Seconds(4), policy));
  EXPECT_TRUE(bucket.Full(now + absl::Seconds(5), policy));
}

TEST(TokenBucketTest, FractionalRates) {
  const TokenBucketPolicy policy{/*rate=*/0.5, /*burst=*/1};
  TokenBucket bucket(kStart, policy);
  EXPECT_EQ(bucket.Take(kStart, policy, 1), absl::ZeroDuration());
  EXPECT_EQ(bucket.Take(kStart, policy, 1), absl::Seconds(2));
}

TEST(TokenBucketTest, AClockGoingBackwardsRefillsNothing) {
  const TokenBucketPolicy policy{/*rate=*/1, /*burst=*/1};
  TokenBucket bucket(kStart, policy);
  bucket.Take(kStart, policy, 1);
  EXPECT_EQ(bucket.Take(kStart - absl::Seconds(10), policy, 1),
            absl::Seconds(1));
  EXPECT_EQ(bucket.Take(kStart + absl::Seconds(1), policy, 1),
            absl::ZeroDuration());
}

}  // namespace
}  // namespace presence
