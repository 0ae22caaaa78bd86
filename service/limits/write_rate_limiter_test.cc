#include "service/limits/write_rate_limiter.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "presence/clock.h"

namespace presence {
namespace {

class WriteRateLimiterTest : public testing::Test {
 protected:
  SimulatedClock clock_{absl::FromUnixSeconds(1'800'000'000)};
};

TEST_F(WriteRateLimiterTest, EachClientHasItsOwnBucket) {
  WriteRateLimiter limiter({/*rate=*/1, /*burst=*/2, /*max_clients=*/100},
                           &clock_);
  EXPECT_EQ(limiter.Admit("ip:10.0.0.1", 1), absl::ZeroDuration());
  EXPECT_EQ(limiter.Admit("ip:10.0.0.1", 1), absl::ZeroDuration());
  EXPECT_EQ(limiter.Admit("ip:10.0.0.1", 1), absl::Seconds(1));
  // Another client is unaffected.
  EXPECT_EQ(limiter.Admit("ip:10.0.0.2", 1), absl::ZeroDuration());
  EXPECT_EQ(limiter.clients(), 2u);

  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(limiter.Admit("ip:10.0.0.1", 1), absl::ZeroDuration());
  EXPECT_GT(limiter.Admit("ip:10.0.0.1", 1), absl::ZeroDuration());
}

TEST_F(WriteRateLimiterTest, ForgetsClientsWhoseBucketRefilled) {
  WriteRateLimiter limiter({/*rate=*/10, /*burst=*/10, /*max_clients=*/100000},
                           &clock_);
  for (int i = 0; i < 500; ++i) {
    limiter.Admit(absl::StrCat("ip:10.0.", i / 256, ".", i % 256), 1);
  }
  EXPECT_EQ(limiter.clients(), 500u);
  // 100 ms later every bucket is full again: the next calls drop them
  // (each shard's, from its least recently used end; 1000 new clients reach
  // every shard).
  clock_.Advance(absl::Milliseconds(100));
  for (int i = 0; i < 1000; ++i) {
    limiter.Admit(absl::StrCat("user:", i), 1);
  }
  EXPECT_EQ(limiter.clients(), 1000u);
  EXPECT_EQ(limiter.evictions(), 0u);
}

TEST_F(WriteRateLimiterTest, TheTableIsBounded) {
  // Buckets that stay empty for a long time (a slow rate): the table drops
  // the least recently used, and counts it.
  WriteRateLimiter limiter({/*rate=*/0.001, /*burst=*/1, /*max_clients=*/160},
                           &clock_);
  for (int i = 0; i < 10000; ++i) {
    limiter.Admit(absl::StrCat("ip:", i), 1);
  }
  EXPECT_LE(limiter.clients(), 160u);
  EXPECT_GE(limiter.evictions(), 10000u - 160u);
}

TEST_F(WriteRateLimiterTest, TheMostRecentClientsKeepTheirBuckets) {
  // Two buckets per shard.
  WriteRateLimiter limiter({/*rate=*/0.001, /*burst=*/1, /*max_clients=*/32},
                           &clock_);
  // Alice writes between every other client's write: always recent.
  EXPECT_EQ(limiter.Admit("user:alice", 1), absl::ZeroDuration());
  for (int i = 0; i < 1000; ++i) {
    limiter.Admit(absl::StrCat("ip:", i), 1);
    ASSERT_GT(limiter.Admit("user:alice", 1), absl::ZeroDuration()) << i;
  }
}

TEST_F(WriteRateLimiterTest, ConcurrentClientsAreCountedExactly) {
  WriteRateLimiter limiter({/*rate=*/0.001, /*burst=*/100,
                            /*max_clients=*/1000},
                           &clock_);
  std::vector<std::thread> threads;
  std::vector<int> admitted(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&limiter, &admitted, t] {
      for (int i = 0; i < 1000; ++i) {
        // Two threads per client.
        if (limiter.Admit(absl::StrCat("user:", t / 2), 1) ==
            absl::ZeroDuration()) {
          ++admitted[t];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int client = 0; client < 4; ++client) {
    EXPECT_EQ(admitted[2 * client] + admitted[2 * client + 1], 100) << client;
  }
}

}  // namespace
}  // namespace presence
