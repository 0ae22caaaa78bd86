#include "presence/event_pipeline.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "presence/clock.h"
#include "presence/event_recorder.h"
#include "presence/memory_store.h"
#include "presence/presence.h"

namespace presence {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// "join alice 1", "interval 5 +[u4,u5] -[] x[]", "interval 30 refresh".
std::vector<std::string> Summary(const std::vector<PresenceEvent>& events) {
  std::vector<std::string> out;
  for (const PresenceEvent& e : events) {
    std::string line(EventTypeName(e.type));
    if (!e.user_id.empty()) absl::StrAppend(&line, " ", e.user_id);
    absl::StrAppend(&line, " ", e.occupancy);
    if (e.type == EventType::kInterval) {
      if (e.here_now_refresh) {
        absl::StrAppend(&line, " refresh");
      } else {
        absl::StrAppend(&line, " +[", absl::StrJoin(e.joined, ","), "] -[",
                        absl::StrJoin(e.left, ","), "] x[",
                        absl::StrJoin(e.timed_out, ","), "]");
      }
    }
    out.push_back(line);
  }
  return out;
}

class EventPipelineTest : public testing::Test {
 protected:
  explicit EventPipelineTest(EventPipelineOptions options = Options())
      : store_(NewMemoryStore(StoreOptions(), &clock_)),
        presence_(store_.get(), StoreOptions().limits),
        pipeline_(options, &clock_) {
    store_->AddListener(&pipeline_);
    pipeline_.AddListener(&events_);
  }
  ~EventPipelineTest() override {
    pipeline_.RemoveListener(&events_);
    store_->RemoveListener(&pipeline_);
  }

  static EventPipelineOptions Options() {
    EventPipelineOptions options;
    options.announce_max = 3;
    options.interval = absl::Seconds(10);
    return options;
  }
  static MemoryStoreOptions StoreOptions() {
    MemoryStoreOptions options;
    options.limits.min_timeout_seconds = 1;
    return options;
  }

  void Join(const std::string& user, uint32_t timeout = 300) {
    HeartbeatRequest request;
    request.user_id = user;
    request.channels = {"room"};
    request.timeout_seconds = timeout;
    ASSERT_TRUE(presence_.Heartbeat(request).ok());
  }
  void Leave(const std::string& user) {
    LeaveRequest request;
    request.user_id = user;
    request.channels = {"room"};
    ASSERT_TRUE(presence_.Leave(request).ok());
  }
  void Advance(absl::Duration d) {
    clock_.Advance(d);
    ASSERT_TRUE(store_->ExpireSessions().ok());
    pipeline_.Tick();
  }

  SimulatedClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  std::unique_ptr<PresenceStore> store_;
  Presence presence_;
  EventPipeline pipeline_;
  EventRecorder events_;
};

TEST_F(EventPipelineTest, ActiveAndInactiveFrameAChannelsLife) {
  Join("alice");
  Join("bob");
  Leave("alice");
  Leave("bob");
  Join("carol");
  std::vector<PresenceEvent> events = events_.Take();
  EXPECT_THAT(
      Summary(events),
      ElementsAre("active 1", "join alice 1", "join bob 2", "leave alice 1",
                  "leave bob 0", "inactive 0", "active 1", "join carol 1"));
  // Consecutive within an epoch, from 1; a new epoch after inactive.
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(events[i].sequence & 0xffffffffu, i + 1) << i;
    EXPECT_EQ(events[i].sequence >> 32, events[0].sequence >> 32);
  }
  EXPECT_GT(events[6].sequence, events[5].sequence);
  EXPECT_EQ(events[6].sequence & 0xffffffffu, 1u);
  EXPECT_EQ(pipeline_.tracked_channels(), 1u);
  Leave("carol");
  EXPECT_EQ(pipeline_.tracked_channels(), 0u);  // Nothing kept for it.
}

TEST_F(EventPipelineTest, TimeoutOfTheLastUserMakesTheChannelInactive) {
  Join("alice", 5);
  events_.Take();
  Advance(absl::Seconds(5));
  EXPECT_THAT(Summary(events_.Take()),
              ElementsAre("timeout alice 0", "inactive 0"));
}

TEST_F(EventPipelineTest, AboveAnnounceMaxJoinsAndLeavesBecomeIntervals) {
  for (const char* user : {"u1", "u2", "u3", "u4", "u5"}) Join(user);
  EXPECT_THAT(Summary(events_.Take()),
              ElementsAre("active 1", "join u1 1", "join u2 2", "join u3 3"));
  Advance(absl::Seconds(9));
  EXPECT_THAT(events_.Take(), IsEmpty());
  Advance(absl::Seconds(1));
  EXPECT_THAT(Summary(events_.Take()),
              ElementsAre("interval 5 +[u4,u5] -[] x[]"));

  Leave("u1");
  Join("u6");
  EXPECT_THAT(events_.Take(), IsEmpty());
  Advance(absl::Seconds(10));
  EXPECT_THAT(Summary(events_.Take()),
              ElementsAre("interval 5 +[u6] -[u1] x[]"));
  // With nothing new, the interval still reports the occupancy.
  Advance(absl::Seconds(10));
  EXPECT_THAT(Summary(events_.Take()), ElementsAre("interval 5 +[] -[] x[]"));

  // Falling back to announce_max: the pending part, then per-user events.
  Leave("u2");
  EXPECT_THAT(events_.Take(), IsEmpty());
  Leave("u3");
  EXPECT_THAT(Summary(events_.Take()),
              ElementsAre("interval 4 +[] -[u2] x[]", "leave u3 3"));
  Advance(absl::Seconds(30));
  EXPECT_THAT(events_.Take(), IsEmpty());
  Join("u7");
  EXPECT_THAT(Summary(events_.Take()), ElementsAre());  // 4 > 3 again.
}

TEST_F(EventPipelineTest, TimeoutsInIntervalModeAreListed) {
  for (const char* user : {"u1", "u2", "u3"}) Join(user);
  Join("short", 5);
  Join("u5");
  events_.Take();
  Advance(absl::Seconds(5));
  EXPECT_THAT(events_.Take(), IsEmpty());
  Advance(absl::Seconds(5));
  EXPECT_THAT(Summary(events_.Take()),
              ElementsAre("interval 4 +[short,u5] -[] x[short]"));
}

TEST_F(EventPipelineTest, StateChangesStayIndividualInIntervalMode) {
  for (const char* user : {"u1", "u2", "u3", "u4"}) Join(user);
  events_.Take();
  SetStateRequest request;
  request.user_id = "u4";
  request.channels = {"room"};
  request.state = R"({"typing":true})";
  ASSERT_TRUE(presence_.SetState(request).ok());
  std::vector<PresenceEvent> events = events_.Take();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, EventType::kStateChange);
  EXPECT_EQ(events[0].state, R"({"typing":true})");
  EXPECT_EQ(events[0].sequence & 0xffffffffu, 5u);  // active, 3 joins, this.
}

class SmallListsTest : public EventPipelineTest {
 protected:
  SmallListsTest() : EventPipelineTest(SmallLists()) {}
  static EventPipelineOptions SmallLists() {
    EventPipelineOptions options = Options();
    options.interval_lists_max_bytes = 20;
    return options;
  }
};

TEST_F(SmallListsTest, ListsTooLargeAskForAHereNowRefresh) {
  for (int i = 0; i < 10; ++i) Join(absl::StrCat("user-", i));
  events_.Take();
  Advance(absl::Seconds(10));
  EXPECT_THAT(Summary(events_.Take()), ElementsAre("interval 10 refresh"));
  Join("x");
  Advance(absl::Seconds(10));
  // The next interval lists again when it can.
  EXPECT_THAT(Summary(events_.Take()), ElementsAre("interval 11 +[x] -[] x[]"));
}

TEST_F(EventPipelineTest, GroupChangesPassThrough) {
  ASSERT_TRUE(presence_.AddChannelsToGroup("g", {"b", "a"}).ok());
  ASSERT_TRUE(presence_.DeleteGroup("g").ok());
  std::vector<GroupChange> changes = events_.TakeGroupChanges();
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].group, "g");
  EXPECT_THAT(changes[0].channels, ElementsAre("a", "b"));
  EXPECT_THAT(changes[1].channels, IsEmpty());
}

}  // namespace
}  // namespace presence
