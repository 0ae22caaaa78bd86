// WebhookQueue: FIFO order, drop-oldest with drop counting, closing, and
// concurrent producers. Times are made up; nothing sleeps.
#include "service/webhooks/webhook_queue.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace presence {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// An arbitrary point of the monotonic clock, and later ones.
WebhookQueue::Time At(int seconds) {
  return WebhookQueue::Time() + std::chrono::hours(1000) +
         std::chrono::seconds(seconds);
}

WebhookQueue::Json Json(absl::string_view text) {
  return std::make_shared<const std::string>(text);
}

std::vector<std::string> Texts(const std::vector<WebhookQueue::Json>& jsons) {
  std::vector<std::string> texts;
  for (const WebhookQueue::Json& json : jsons) texts.push_back(*json);
  return texts;
}

TEST(WebhookQueueTest, PopsOldestFirst) {
  WebhookQueue queue(10);
  queue.Push(Json("1"), At(1));
  queue.Push(Json("2"), At(2));
  queue.Push(Json("3"), At(3));
  EXPECT_THAT(Texts(queue.PopOldest(2)), ElementsAre("1", "2"));
  queue.Push(Json("4"), At(4));
  EXPECT_THAT(Texts(queue.PopOldest(10)), ElementsAre("3", "4"));
  EXPECT_THAT(queue.PopOldest(10), IsEmpty());
  EXPECT_EQ(queue.size(), 0u);
}

TEST(WebhookQueueTest, PushReportsTheSize) {
  WebhookQueue queue(10);
  const WebhookQueue::PushResult first = queue.Push(Json("1"), At(1));
  EXPECT_TRUE(first.queued);
  EXPECT_FALSE(first.dropped_oldest);
  EXPECT_EQ(first.size, 1u);
  EXPECT_EQ(first.untaken_drops, 0u);
  EXPECT_EQ(queue.Push(Json("2"), At(2)).size, 2u);
}

TEST(WebhookQueueTest, PeekShowsTheOldestPush) {
  WebhookQueue queue(10);
  EXPECT_EQ(queue.Peek().size, 0u);
  queue.Push(Json("1"), At(5));
  queue.Push(Json("2"), At(7));
  WebhookQueue::Head head = queue.Peek();
  EXPECT_EQ(head.size, 2u);
  EXPECT_EQ(head.oldest, At(5));
  queue.PopOldest(1);
  head = queue.Peek();
  EXPECT_EQ(head.size, 1u);
  EXPECT_EQ(head.oldest, At(7));
}

TEST(WebhookQueueTest, KeepsEachEventsPosition) {
  WebhookQueue queue(2);
  EXPECT_EQ(queue.Peek().oldest_position, 0u);
  queue.Push(Json("1"), At(1), 11);
  queue.Push(Json("2"), At(2), 12);
  EXPECT_EQ(queue.Peek().oldest_position, 11u);
  queue.Push(Json("3"), At(3), 13);  // Drops 11.
  EXPECT_EQ(queue.Peek().oldest_position, 12u);
  uint64_t first = 0;
  EXPECT_THAT(Texts(queue.PopOldest(1, &first)), ElementsAre("2"));
  EXPECT_EQ(first, 12u);
  EXPECT_EQ(queue.Peek().oldest_position, 13u);
  queue.PopOldest(1);
  EXPECT_THAT(queue.PopOldest(1, &first), IsEmpty());
  EXPECT_EQ(first, 0u);
  EXPECT_EQ(queue.Peek().oldest_position, 0u);
}

TEST(WebhookQueueTest, FullQueueDropsTheOldestAndCountsIt) {
  WebhookQueue queue(3);
  for (int i = 1; i <= 3; ++i) {
    EXPECT_FALSE(queue.Push(Json(absl::StrCat(i)), At(i)).dropped_oldest);
  }
  const WebhookQueue::PushResult fourth = queue.Push(Json("4"), At(4));
  EXPECT_TRUE(fourth.queued);
  EXPECT_TRUE(fourth.dropped_oldest);
  EXPECT_EQ(fourth.size, 3u);
  EXPECT_EQ(fourth.untaken_drops, 1u);
  EXPECT_EQ(queue.Push(Json("5"), At(5)).untaken_drops, 2u);

  EXPECT_EQ(queue.Peek().oldest, At(3));
  EXPECT_EQ(queue.untaken_drops(), 2u);
  EXPECT_THAT(Texts(queue.PopOldest(10)), ElementsAre("3", "4", "5"));
}

TEST(WebhookQueueTest, TakeDropsResetsTheCount) {
  WebhookQueue queue(1);
  queue.Push(Json("1"), At(1));
  queue.Push(Json("2"), At(2));
  queue.Push(Json("3"), At(3));
  EXPECT_EQ(queue.TakeDrops(), 2u);
  EXPECT_EQ(queue.untaken_drops(), 0u);
  EXPECT_EQ(queue.TakeDrops(), 0u);
  // Counting starts again: the next drop is the first untaken one.
  EXPECT_EQ(queue.Push(Json("4"), At(4)).untaken_drops, 1u);
  EXPECT_EQ(queue.TakeDrops(), 1u);
}

TEST(WebhookQueueTest, PoppingMakesRoomWithoutDrops) {
  WebhookQueue queue(2);
  queue.Push(Json("1"), At(1));
  queue.Push(Json("2"), At(2));
  queue.PopOldest(1);
  EXPECT_FALSE(queue.Push(Json("3"), At(3)).dropped_oldest);
  EXPECT_EQ(queue.untaken_drops(), 0u);
  EXPECT_THAT(Texts(queue.PopOldest(2)), ElementsAre("2", "3"));
}

TEST(WebhookQueueTest, CloseDiscardsAndIgnoresLaterPushes) {
  WebhookQueue queue(2);
  queue.Push(Json("1"), At(1));
  queue.Push(Json("2"), At(2));
  queue.Push(Json("3"), At(3));
  EXPECT_EQ(queue.Close(), 2u);
  EXPECT_EQ(queue.size(), 0u);
  // Discarding is not dropping: only the overflow is counted.
  EXPECT_EQ(queue.untaken_drops(), 1u);

  const WebhookQueue::PushResult late = queue.Push(Json("4"), At(4));
  EXPECT_FALSE(late.queued);
  EXPECT_FALSE(late.dropped_oldest);
  EXPECT_EQ(late.size, 0u);
  EXPECT_EQ(queue.size(), 0u);
  EXPECT_EQ(queue.Close(), 0u);
}

TEST(WebhookQueueTest, SharesEventsWithoutCopying) {
  WebhookQueue first(10);
  WebhookQueue second(10);
  const WebhookQueue::Json json = Json("shared");
  first.Push(json, At(1));
  second.Push(json, At(1));
  EXPECT_EQ(first.PopOldest(1)[0].get(), json.get());
  EXPECT_EQ(second.PopOldest(1)[0].get(), json.get());
}

// Producers push "<thread>:<n>" concurrently; each one's events stay in
// order, and everything pushed is either popped or counted as dropped.
void RunProducers(size_t capacity, int threads, int events_per_thread) {
  WebhookQueue queue(capacity);
  std::vector<std::thread> producers;
  for (int t = 0; t < threads; ++t) {
    producers.emplace_back([&queue, t, events_per_thread] {
      for (int n = 1; n <= events_per_thread; ++n) {
        queue.Push(Json(absl::StrCat(t, ":", n)), At(n));
      }
    });
  }
  std::vector<std::string> popped;
  // The consumer pops while the producers push.
  while (popped.size() + queue.untaken_drops() <
         static_cast<size_t>(threads * events_per_thread)) {
    for (const std::string& text : Texts(queue.PopOldest(7))) {
      popped.push_back(text);
    }
  }
  for (std::thread& producer : producers) producer.join();
  for (const std::string& text : Texts(queue.PopOldest(capacity))) {
    popped.push_back(text);
  }
  EXPECT_EQ(popped.size() + queue.TakeDrops(),
            static_cast<size_t>(threads * events_per_thread));
  std::vector<int> last(threads, 0);
  for (const std::string& text : popped) {
    const std::vector<std::string> parts = absl::StrSplit(text, ':');
    ASSERT_EQ(parts.size(), 2u);
    int t = 0;
    int n = 0;
    ASSERT_TRUE(absl::SimpleAtoi(parts[0], &t));
    ASSERT_TRUE(absl::SimpleAtoi(parts[1], &n));
    EXPECT_GT(n, last[t]) << text;
    last[t] = n;
  }
}

TEST(WebhookQueueTest, ConcurrentProducersKeepTheirOrder) {
  RunProducers(/*capacity=*/100000, /*threads=*/4, /*events_per_thread=*/2000);
}

TEST(WebhookQueueTest, ConcurrentProducersOverflowingKeepTheirOrder) {
  RunProducers(/*capacity=*/16, /*threads=*/4, /*events_per_thread=*/2000);
}

}  // namespace
}  // namespace presence
