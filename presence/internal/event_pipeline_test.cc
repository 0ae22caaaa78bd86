// EventPipeline on its own, fed raw events by hand. The conformance suite
// (presence/testing/store_conformance.cc) checks the same behaviour through
// real stores.
#include "presence/internal/event_pipeline.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "presence/clock.h"
#include "presence/testing/event_recorder.h"

namespace presence {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::string Line(const PresenceEvent& e) {
  std::string line =
      absl::StrCat(EventTypeName(e.type), " ", e.user_id, " ", e.occupancy,
                   " #", e.sequence >> 32, ".", e.sequence & 0xffffffffu);
  if (e.type == EventType::kInterval) {
    absl::StrAppend(&line, e.here_now_refresh ? " refresh" : "", " +[",
                    absl::StrJoin(e.joined, ","), "] -[",
                    absl::StrJoin(e.left, ","), "] x[",
                    absl::StrJoin(e.timed_out, ","), "]");
  }
  return line;
}

class EventPipelineTest : public testing::Test {
 protected:
  explicit EventPipelineTest(size_t lists_max_bytes = 1000)
      : pipeline_(Options(lists_max_bytes), &clock_) {
    pipeline_.AddListener(&events_);
  }
  ~EventPipelineTest() override { pipeline_.RemoveListener(&events_); }

  static EventOptions Options(size_t lists_max_bytes) {
    EventOptions options;
    options.announce_max = 2;
    options.interval = absl::Seconds(10);
    options.interval_lists_max_bytes = lists_max_bytes;
    return options;
  }

  // Feeds a raw store event of channel "c" in store epoch `epoch`.
  void Raw(EventType type, const std::string& user, uint32_t occupancy,
           uint32_t epoch = 7) {
    PresenceEvent event;
    event.type = type;
    event.channel = "c";
    event.user_id = user;
    event.occupancy = occupancy;
    event.time = clock_.Now();
    event.sequence = uint64_t{epoch} << 32 | ++raw_count_;
    pipeline_.OnEvent(event);
  }

  std::vector<std::string> Take() {
    std::vector<std::string> lines;
    for (const PresenceEvent& e : events_.Take()) lines.push_back(Line(e));
    return lines;
  }

  SimulatedClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  EventPipeline pipeline_;
  EventRecorder events_;
  uint32_t raw_count_ = 0;
};

TEST_F(EventPipelineTest, FramesAChannelWithActiveAndInactive) {
  Raw(EventType::kJoin, "a", 1);
  Raw(EventType::kStateChange, "a", 1);
  Raw(EventType::kLeave, "a", 0);
  EXPECT_THAT(Take(), ElementsAre("active  1 #7.1", "join a 1 #7.2",
                                  "state-change a 1 #7.3", "leave a 0 #7.4",
                                  "inactive  0 #7.5"));
  EXPECT_EQ(pipeline_.tracked_channels(), 0u);
  Raw(EventType::kJoin, "b", 1, /*epoch=*/8);
  EXPECT_THAT(Take(), ElementsAre("active  1 #8.1", "join b 1 #8.2"));
}

TEST_F(EventPipelineTest, IntervalsReplacePerUserEventsAboveAnnounceMax) {
  Raw(EventType::kJoin, "a", 1);
  Raw(EventType::kJoin, "b", 2);
  Raw(EventType::kJoin, "c", 3);
  Raw(EventType::kTimeout, "a", 2);  // Back to 2: pending, then per-user.
  EXPECT_THAT(Take(),
              ElementsAre("active  1 #7.1", "join a 1 #7.2", "join b 2 #7.3",
                          "interval  3 #7.4 +[c] -[] x[]", "timeout a 2 #7.5"));
  Raw(EventType::kJoin, "d", 3);
  clock_.Advance(absl::Seconds(10) - absl::Nanoseconds(1));
  pipeline_.Tick();
  EXPECT_THAT(Take(), IsEmpty());
  clock_.Advance(absl::Nanoseconds(1));
  pipeline_.Tick();
  pipeline_.Tick();  // Nothing more is due.
  EXPECT_THAT(Take(), ElementsAre("interval  3 #7.6 +[d] -[] x[]"));
}

TEST_F(EventPipelineTest, ALateTickDoesNotBurst) {
  for (uint32_t i = 1; i <= 3; ++i) Raw(EventType::kJoin, absl::StrCat(i), i);
  Take();
  clock_.Advance(absl::Seconds(55));
  pipeline_.Tick();
  pipeline_.Tick();
  EXPECT_EQ(Take().size(), 1u);
  clock_.Advance(absl::Seconds(10));
  pipeline_.Tick();
  EXPECT_EQ(Take().size(), 1u);
}

class SmallListsTest : public EventPipelineTest {
 protected:
  SmallListsTest() : EventPipelineTest(/*lists_max_bytes=*/10) {}
};

TEST_F(SmallListsTest, ListsOverTheCapBecomeARefreshAndAreNotKept) {
  Raw(EventType::kJoin, "a", 1);
  Raw(EventType::kJoin, "b", 2);
  Raw(EventType::kJoin, "long-name", 3);
  Raw(EventType::kJoin, "x", 4);
  Take();
  clock_.Advance(absl::Seconds(10));
  pipeline_.Tick();
  EXPECT_THAT(Take(), ElementsAre("interval  4 #7.4 refresh +[] -[] x[]"));
  Raw(EventType::kLeave, "x", 3);
  clock_.Advance(absl::Seconds(10));
  pipeline_.Tick();
  EXPECT_THAT(Take(), ElementsAre("interval  3 #7.5 +[] -[x] x[]"));
}

}  // namespace
}  // namespace presence
