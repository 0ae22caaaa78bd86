// WebhookCounters: each Add* moves its counters, Totals sum, and concurrent
// updates are all counted.
#include "service/webhooks/webhook_counters.h"

#include <cstdint>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace presence {
namespace {

TEST(WebhookCountersTest, StartAtZero) {
  const WebhookCounters counters;
  const WebhookCounters::Totals totals = counters.Load();
  EXPECT_EQ(totals.delivered_events, 0u);
  EXPECT_EQ(totals.dropped_events, 0u);
  EXPECT_EQ(totals.failed_events, 0u);
  EXPECT_EQ(totals.retries, 0u);
  EXPECT_EQ(totals.batches, 0u);
}

TEST(WebhookCountersTest, EachAddMovesItsCounters) {
  WebhookCounters counters;
  counters.AddDelivered(100);
  counters.AddDelivered(7);
  counters.AddDropped(3);
  counters.AddFailed(5);
  counters.AddFailed(0);
  counters.AddRetry();
  counters.AddRetry();
  const WebhookCounters::Totals totals = counters.Load();
  EXPECT_EQ(totals.delivered_events, 107u);
  EXPECT_EQ(totals.batches, 2u);  // One per AddDelivered.
  EXPECT_EQ(totals.dropped_events, 3u);
  EXPECT_EQ(totals.failed_events, 5u);
  EXPECT_EQ(totals.retries, 2u);
}

TEST(WebhookCountersTest, TotalsAddUp) {
  WebhookCounters first;
  first.AddDelivered(10);
  first.AddDropped(1);
  WebhookCounters second;
  second.AddDelivered(5);
  second.AddFailed(2);
  second.AddRetry();
  WebhookCounters::Totals sum;
  sum += first.Load();
  sum += second.Load();
  EXPECT_EQ(sum.delivered_events, 15u);
  EXPECT_EQ(sum.batches, 2u);
  EXPECT_EQ(sum.dropped_events, 1u);
  EXPECT_EQ(sum.failed_events, 2u);
  EXPECT_EQ(sum.retries, 1u);
}

TEST(WebhookCountersTest, ConcurrentUpdatesAreAllCounted) {
  WebhookCounters counters;
  constexpr int kThreads = 4;
  constexpr int kRounds = 10000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&counters] {
      for (int i = 0; i < kRounds; ++i) {
        counters.AddDelivered(2);
        counters.AddDropped(1);
        counters.AddFailed(1);
        counters.AddRetry();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const WebhookCounters::Totals totals = counters.Load();
  constexpr uint64_t kUpdates = uint64_t{kThreads} * kRounds;
  EXPECT_EQ(totals.delivered_events, 2 * kUpdates);
  EXPECT_EQ(totals.batches, kUpdates);
  EXPECT_EQ(totals.dropped_events, kUpdates);
  EXPECT_EQ(totals.failed_events, kUpdates);
  EXPECT_EQ(totals.retries, kUpdates);
}

}  // namespace
}  // namespace presence
