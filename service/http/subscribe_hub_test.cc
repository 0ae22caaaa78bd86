#include "service/http/subscribe_hub.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace presence {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

class RecordingWaiter : public SubscribeHub::Waiter {
 public:
  void Wake(std::vector<SubscribeHub::Delivery> deliveries,
            uint64_t cursor) override {
    ++wakes;
    this->deliveries = std::move(deliveries);
    this->cursor = cursor;
  }
  int wakes = 0;
  std::vector<SubscribeHub::Delivery> deliveries;
  uint64_t cursor = 0;
};

std::shared_ptr<const PubNubEncodedEvent> Event(
    const std::string& channel,
    const std::string& payload = R"({"action":"join"})") {
  return std::make_shared<const PubNubEncodedEvent>(channel, payload);
}

// What a poll got: "<channel>@<subscription>" per delivery.
std::vector<std::string> Names(
    const std::vector<SubscribeHub::Delivery>& deliveries) {
  std::vector<std::string> names;
  for (const auto& d : deliveries) {
    names.push_back(d.event->channel() + "@" + d.subscription);
  }
  return names;
}

class SubscribeHubTest : public ::testing::Test {
 protected:
  SubscribeHub::Options Options() {
    SubscribeHub::Options options;
    options.now = [this] { return now_; };
    return options;
  }

  SubscribeHub::Query Channels(std::vector<std::string> channels,
                               uint64_t after) {
    SubscribeHub::Query query;
    query.channels = std::move(channels);
    query.after = after;
    return query;
  }

  absl::Time Later() { return now_ + absl::Seconds(60); }

  absl::Time now_ = absl::FromUnixSeconds(1800000000);
};

TEST_F(SubscribeHubTest, NumbersEventsStrictlyIncreasingOnce) {
  SubscribeHub hub(Options());
  const uint64_t start = hub.NextTimetoken();
  auto a = Event("a");
  auto b = Event("b");
  hub.OnEvent(a);
  hub.OnEvent(b);
  EXPECT_EQ(a->timetoken(), start + 1);  // The clock stood still.
  EXPECT_EQ(b->timetoken(), start + 2);
  // The same event brought by a group sink keeps its number and is kept once.
  hub.OnGroupEvent("cg", a);
  EXPECT_EQ(a->timetoken(), start + 1);
  EXPECT_EQ(hub.history_events(), 2u);
  EXPECT_GT(hub.NextTimetoken(), b->timetoken());
}

TEST_F(SubscribeHubTest, AnswersWhatTheHistoryHoldsAfterTheTimetoken) {
  SubscribeHub hub(Options());
  const uint64_t cursor = hub.NextTimetoken();
  auto a1 = Event("a");
  auto b1 = Event("b");
  auto a2 = Event("a");
  for (const auto& e : {a1, b1, a2}) hub.OnEvent(e);

  auto waiter = std::make_shared<RecordingWaiter>();
  SubscribeHub::PollResult result =
      hub.Poll(Channels({"a", "b"}, cursor), waiter, Later());
  ASSERT_TRUE(result.ready);
  EXPECT_THAT(Names(result.deliveries),
              ElementsAre("a@a-pnpres", "b@b-pnpres", "a@a-pnpres"));
  EXPECT_EQ(result.cursor, a2->timetoken());

  result = hub.Poll(Channels({"a"}, a1->timetoken()), waiter, Later());
  ASSERT_TRUE(result.ready);
  EXPECT_THAT(Names(result.deliveries), ElementsAre("a@a-pnpres"));
  EXPECT_EQ(waiter->wakes, 0);
  EXPECT_EQ(hub.waiters(), 0u);
}

TEST_F(SubscribeHubTest, WakesAWaiterWithTheFirstEventOfItsChannels) {
  SubscribeHub hub(Options());
  auto waiter = std::make_shared<RecordingWaiter>();
  SubscribeHub::PollResult result =
      hub.Poll(Channels({"a"}, hub.NextTimetoken()), waiter, Later());
  EXPECT_FALSE(result.ready);
  EXPECT_EQ(hub.waiters(), 1u);

  hub.OnEvent(Event("b"));
  EXPECT_EQ(waiter->wakes, 0);
  auto a = Event("a");
  hub.OnEvent(a);
  EXPECT_EQ(waiter->wakes, 1);
  EXPECT_THAT(Names(waiter->deliveries), ElementsAre("a@a-pnpres"));
  EXPECT_EQ(waiter->cursor, a->timetoken());
  EXPECT_EQ(hub.waiters(), 0u);
  hub.OnEvent(Event("a"));  // Woken once only.
  EXPECT_EQ(waiter->wakes, 1);
}

TEST_F(SubscribeHubTest, GroupPollsCatchUpThroughTheGroupsChannels) {
  SubscribeHub hub(Options());
  const uint64_t cursor = hub.NextTimetoken();
  hub.OnEvent(Event("x"));
  hub.OnEvent(Event("y"));
  hub.OnEvent(Event("z"));
  SubscribeHub::Query query = Channels({"y"}, cursor);
  query.groups.push_back({"cg", {"x", "y"}});
  SubscribeHub::PollResult result =
      hub.Poll(query, std::make_shared<RecordingWaiter>(), Later());
  ASSERT_TRUE(result.ready);
  // y is asked for directly and through cg: once, as itself.
  EXPECT_THAT(Names(result.deliveries),
              ElementsAre("x@cg-pnpres", "y@y-pnpres"));
}

TEST_F(SubscribeHubTest, GroupWaitersAreWokenByTheirGroupsSink) {
  SubscribeHub hub(Options());
  auto waiter = std::make_shared<RecordingWaiter>();
  SubscribeHub::Query query;
  query.after = hub.NextTimetoken();
  query.groups.push_back({"cg", {}});
  ASSERT_FALSE(hub.Poll(query, waiter, Later()).ready);
  auto event = Event("new-member");
  hub.OnEvent(event);  // The firehose: not a channel the waiter named.
  EXPECT_EQ(waiter->wakes, 0);
  hub.OnGroupEvent("other", event);
  EXPECT_EQ(waiter->wakes, 0);
  hub.OnGroupEvent("cg", event);
  EXPECT_EQ(waiter->wakes, 1);
  EXPECT_THAT(Names(waiter->deliveries), ElementsAre("new-member@cg-pnpres"));
  EXPECT_EQ(waiter->cursor, event->timetoken());
}

TEST_F(SubscribeHubTest, CancelledWaitersAreNotWoken) {
  SubscribeHub hub(Options());
  auto waiter = std::make_shared<RecordingWaiter>();
  SubscribeHub::Query query = Channels({"a"}, hub.NextTimetoken());
  query.groups.push_back({"cg", {"a"}});
  ASSERT_FALSE(hub.Poll(query, waiter, Later()).ready);
  hub.Cancel(waiter.get());
  EXPECT_EQ(hub.waiters(), 0u);
  auto event = Event("a");
  hub.OnEvent(event);
  hub.OnGroupEvent("cg", event);
  EXPECT_EQ(hub.ExpireWaiters(Later()), 0u);
  EXPECT_EQ(waiter->wakes, 0);
  hub.Cancel(waiter.get());  // Again: a no-op.
}

TEST_F(SubscribeHubTest, ExpiredWaitersGetAnEmptyAnswerWithAFreshCursor) {
  SubscribeHub hub(Options());
  auto early = std::make_shared<RecordingWaiter>();
  auto late = std::make_shared<RecordingWaiter>();
  const uint64_t cursor = hub.NextTimetoken();
  ASSERT_FALSE(
      hub.Poll(Channels({"a"}, cursor), early, now_ + absl::Seconds(5)).ready);
  ASSERT_FALSE(
      hub.Poll(Channels({"a"}, cursor), late, now_ + absl::Seconds(9)).ready);
  EXPECT_EQ(hub.ExpireWaiters(now_ + absl::Seconds(4)), 0u);
  EXPECT_EQ(hub.ExpireWaiters(now_ + absl::Seconds(5)), 1u);
  EXPECT_EQ(early->wakes, 1);
  EXPECT_THAT(early->deliveries, IsEmpty());
  EXPECT_GT(early->cursor, cursor);
  EXPECT_EQ(late->wakes, 0);
  EXPECT_EQ(hub.waiters(), 1u);
}

TEST_F(SubscribeHubTest, DrainAnswersEveryWaiterAndLaterPollsAtOnce) {
  SubscribeHub hub(Options());
  auto waiter = std::make_shared<RecordingWaiter>();
  const uint64_t cursor = hub.NextTimetoken();
  ASSERT_FALSE(hub.Poll(Channels({"a"}, cursor), waiter, Later()).ready);
  hub.Drain();
  EXPECT_EQ(waiter->wakes, 1);
  EXPECT_THAT(waiter->deliveries, IsEmpty());
  EXPECT_EQ(hub.waiters(), 0u);
  SubscribeHub::PollResult result = hub.Poll(
      Channels({"a"}, cursor), std::make_shared<RecordingWaiter>(), Later());
  EXPECT_TRUE(result.ready);
  EXPECT_THAT(result.deliveries, IsEmpty());
  EXPECT_GT(result.cursor, cursor);
}

TEST_F(SubscribeHubTest, HistoryIsBoundedAndPollsBeforeItAreCountedAsGaps) {
  SubscribeHub::Options options = Options();
  options.max_events = 3;
  SubscribeHub hub(options);
  const uint64_t cursor = hub.NextTimetoken();
  std::vector<std::shared_ptr<const PubNubEncodedEvent>> events;
  for (const char* channel : {"a", "b", "a", "b", "a"}) {
    events.push_back(Event(channel));
    hub.OnEvent(events.back());
  }
  EXPECT_EQ(hub.history_events(), 3u);
  SubscribeHub::PollResult result =
      hub.Poll(Channels({"a", "b"}, cursor),
               std::make_shared<RecordingWaiter>(), Later());
  // What is left: the last three.
  EXPECT_THAT(Names(result.deliveries),
              ElementsAre("a@a-pnpres", "b@b-pnpres", "a@a-pnpres"));
  EXPECT_EQ(result.deliveries.front().timetoken, events[2]->timetoken());
  EXPECT_EQ(hub.gaps(), 1u);
  // A poll after what was dropped has no gap.
  hub.Poll(Channels({"a"}, events[1]->timetoken()),
           std::make_shared<RecordingWaiter>(), Later());
  EXPECT_EQ(hub.gaps(), 1u);
  // Nor a handshake.
  hub.Poll(Channels({"a"}, 0), nullptr, Later());
  EXPECT_EQ(hub.gaps(), 1u);
}

TEST_F(SubscribeHubTest, HistoryForgetsEventsOlderThanTheRetention) {
  SubscribeHub::Options options = Options();
  options.retention = absl::Minutes(5);
  SubscribeHub hub(options);
  const uint64_t cursor = hub.NextTimetoken();
  hub.OnEvent(Event("a"));
  now_ += absl::Minutes(4);
  hub.OnEvent(Event("b"));
  now_ += absl::Minutes(2);
  hub.ExpireWaiters(now_);
  EXPECT_EQ(hub.history_events(), 1u);
  SubscribeHub::PollResult result =
      hub.Poll(Channels({"a", "b"}, cursor), nullptr, Later());
  EXPECT_THAT(Names(result.deliveries), ElementsAre("b@b-pnpres"));
  EXPECT_EQ(hub.gaps(), 1u);
}

TEST_F(SubscribeHubTest, PollsFromBeforeTheProcessOrALostFeedAreGaps) {
  SubscribeHub hub(Options());
  hub.Poll(Channels({"a"}, TimetokenAt(now_ - absl::Seconds(1))), nullptr,
           Later());
  EXPECT_EQ(hub.gaps(), 1u);
  const uint64_t cursor = hub.NextTimetoken();
  hub.Poll(Channels({"a"}, cursor), nullptr, Later());
  EXPECT_EQ(hub.gaps(), 1u);
  hub.OnEventsLost();
  hub.Poll(Channels({"a"}, cursor), nullptr, Later());
  EXPECT_EQ(hub.gaps(), 2u);
}

TEST_F(SubscribeHubTest, AnswersAtMostMaxEventsPerAnswer) {
  SubscribeHub::Options options = Options();
  options.max_events_per_answer = 2;
  SubscribeHub hub(options);
  const uint64_t cursor = hub.NextTimetoken();
  std::vector<std::shared_ptr<const PubNubEncodedEvent>> events;
  for (int i = 0; i < 3; ++i) {
    events.push_back(Event("a"));
    hub.OnEvent(events.back());
  }
  SubscribeHub::PollResult result =
      hub.Poll(Channels({"a"}, cursor), nullptr, Later());
  EXPECT_EQ(result.deliveries.size(), 2u);
  EXPECT_EQ(result.cursor, events[1]->timetoken());
  result = hub.Poll(Channels({"a"}, result.cursor), nullptr, Later());
  EXPECT_EQ(result.deliveries.size(), 1u);
  EXPECT_EQ(result.cursor, events[2]->timetoken());
}

TEST_F(SubscribeHubTest, IgnoresEventsWithoutAPubNubAction) {
  SubscribeHub hub(Options());
  auto waiter = std::make_shared<RecordingWaiter>();
  ASSERT_FALSE(
      hub.Poll(Channels({"a"}, hub.NextTimetoken()), waiter, Later()).ready);
  auto active = Event("a", "");  // What active/inactive encode to.
  hub.OnEvent(active);
  hub.OnGroupEvent("cg", active);
  EXPECT_EQ(waiter->wakes, 0);
  EXPECT_EQ(hub.history_events(), 0u);
  EXPECT_EQ(active->timetoken(), 0u);
}

}  // namespace
}  // namespace presence
