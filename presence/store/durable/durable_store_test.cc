#include "presence/store/durable/durable_store.h"

#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "presence/clock.h"
#include "presence/event.h"
#include "presence/presence.h"
#include "presence/store/durable/data_dir.h"
#include "presence/testing/event_recorder.h"

namespace presence {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

std::string NewDir() {
  static int counter = 0;
  const char* tmp = std::getenv("TEST_TMPDIR");
  return absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/durable_", getpid(), "_",
                      counter++);
}

class DurableStoreTest : public ::testing::Test {
 protected:
  DurableStoreTest() : clock_(absl::FromUnixSeconds(1700000000)) {
    options_.data_dir = NewDir();
    options_.snapshot_interval = absl::ZeroDuration();  // Tests call it.
    // Close() snapshots as the destructor would; Crash() does not.
    options_.snapshot_at_close = false;
  }

  // Opens the store (a new process's start) with listener `events_`.
  void Open() {
    presence_.reset();
    store_.reset();
    absl::StatusOr<std::unique_ptr<DurableStore>> store =
        NewDurableMemoryStore(MemoryStoreOptions(), options_, &clock_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    store_->AddListener(&events_);
    Limits limits;
    limits.min_timeout_seconds = 1;
    presence_ = std::make_unique<Presence>(store_.get(), limits);
  }

  // Ends the store as kill -9 would: no last snapshot.
  void Crash() {
    store_->RemoveListener(&events_);
    presence_.reset();
    store_.reset();
  }

  // Ends the store as a graceful shutdown does.
  void Close() {
    ASSERT_TRUE(store_->Snapshot().ok());
    store_->RemoveListener(&events_);
    presence_.reset();
    store_.reset();
  }

  void Beat(const std::string& user, const std::string& channel,
            uint32_t timeout = 60, const std::string& session = "") {
    HeartbeatRequest request;
    request.user_id = user;
    request.channels = {channel};
    request.timeout_seconds = timeout;
    request.session_id = session;
    ASSERT_TRUE(presence_->Heartbeat(request).ok());
  }

  HereNowResult HereNow() {
    HereNowRequest request;
    request.include_state = true;
    absl::StatusOr<HereNowResult> result = presence_->HereNow(request);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : HereNowResult();
  }

  // Events of membership (not interval or active) types, as "type:user".
  std::vector<std::string> Changes() {
    std::vector<std::string> out;
    for (const PresenceEvent& event : events_.Take()) {
      out.push_back(absl::StrCat(EventTypeName(event.type), ":", event.channel,
                                 ":", event.user_id));
    }
    return out;
  }

  SimulatedClock clock_;
  DurableStoreOptions options_;
  EventRecorder events_;
  std::unique_ptr<DurableStore> store_;
  std::unique_ptr<Presence> presence_;
};

TEST_F(DurableStoreTest, AcknowledgedGroupChangesSurviveACrash) {
  Open();
  ASSERT_TRUE(presence_->AddChannelsToGroup("g1", {"a", "b"}).ok());
  ASSERT_TRUE(presence_->AddChannelsToGroup("g2", {"c"}).ok());
  ASSERT_TRUE(presence_->RemoveChannelsFromGroup("g1", {"a"}).ok());
  ASSERT_TRUE(presence_->AddChannelsToGroup("g3", {"d"}).ok());
  ASSERT_TRUE(presence_->DeleteGroup("g3").ok());
  Crash();
  Open();
  EXPECT_THAT(*presence_->ListGroups(), ElementsAre("g1", "g2"));
  EXPECT_THAT(*presence_->ListChannelsInGroup("g1"), ElementsAre("b"));
  EXPECT_THAT(*presence_->ListChannelsInGroup("g2"), ElementsAre("c"));
  // And after a snapshot, which rewrites them.
  ASSERT_TRUE(store_->Snapshot().ok());
  ASSERT_TRUE(presence_->DeleteGroup("g2").ok());
  Crash();
  Open();
  EXPECT_THAT(*presence_->ListGroups(), ElementsAre("g1"));
}

TEST_F(DurableStoreTest, AGracefulRestartKeepsPresenceWithoutEvents) {
  Open();
  Beat("alice", "lobby");
  Beat("bob", "lobby", 120, "phone");
  Beat("bob", "lobby", 30, "web");
  SetStateRequest state;
  state.user_id = "alice";
  state.channels = {"lobby"};
  state.state = R"({"mood":"ok"})";
  ASSERT_TRUE(presence_->SetState(state).ok());
  Beat("carol", "kitchen");
  const HereNowResult before = HereNow();
  events_.Take();
  Close();
  clock_.Advance(absl::Seconds(5));
  Open();
  EXPECT_EQ(store_->restored_sessions(), 4u);
  const HereNowResult after = HereNow();
  ASSERT_THAT(after.channels, SizeIs(before.channels.size()));
  for (size_t i = 0; i < before.channels.size(); ++i) {
    EXPECT_EQ(after.channels[i].name, before.channels[i].name);
    EXPECT_EQ(after.channels[i].occupants, before.channels[i].occupants);
  }
  // A heartbeat extends, a leave leaves: no join, no active.
  Beat("alice", "lobby");
  ASSERT_TRUE(store_->ExpireSessions().ok());
  EXPECT_THAT(Changes(), IsEmpty());
  LeaveRequest leave;
  leave.user_id = "carol";
  leave.channels = {"kitchen"};
  ASSERT_TRUE(presence_->Leave(leave).ok());
  EXPECT_THAT(Changes(),
              ElementsAre("leave:kitchen:carol", "inactive:kitchen:"));
  // Sessions keep their own deadlines: bob's web session (30 s) ends, his
  // phone session (120 s) keeps him present.
  clock_.Advance(absl::Seconds(50));  // 55 s: past web's 30, not alice's 65.
  ASSERT_TRUE(store_->ExpireSessions().ok());
  EXPECT_THAT(Changes(), IsEmpty());
  clock_.Advance(absl::Seconds(70));  // 125 s: past alice's and phone's.
  ASSERT_TRUE(store_->ExpireSessions().ok());
  EXPECT_THAT(Changes(), ElementsAre("timeout:lobby:alice", "timeout:lobby:bob",
                                     "inactive:lobby:"));
}

TEST_F(DurableStoreTest, SessionsThatExpiredWhileDownTimeOutAfterTheStart) {
  Open();
  Beat("alice", "lobby", 10);
  Beat("bob", "lobby", 100);
  events_.Take();
  Close();
  clock_.Advance(absl::Seconds(30));
  Open();
  EXPECT_THAT(Changes(), IsEmpty());       // Nothing before the first sweep.
  clock_.Advance(absl::Milliseconds(10));  // The first sweep, a tick later.
  ASSERT_TRUE(store_->ExpireSessions().ok());
  std::vector<PresenceEvent> events = events_.Take();
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].type, EventType::kTimeout);
  EXPECT_EQ(events[0].user_id, "alice");
  EXPECT_EQ(events[0].occupancy, 1u);
  // Its own deadline, rounded up to the new store's tick.
  EXPECT_GE(events[0].deadline, absl::FromUnixSeconds(1700000000 + 10));
  EXPECT_LE(events[0].deadline,
            absl::FromUnixSeconds(1700000000 + 10) + absl::Milliseconds(10));
}

TEST_F(DurableStoreTest, SequencesContinueWithoutRepeating) {
  Open();
  Beat("alice", "lobby");
  Beat("bob", "lobby");
  std::vector<PresenceEvent> first = events_.Take();
  ASSERT_FALSE(first.empty());
  const uint64_t last = first.back().sequence;
  ASSERT_TRUE(store_->Snapshot().ok());
  // Events after the snapshot are lost with a crash; the restart must not
  // number new events like them.
  Beat("carol", "lobby");
  const uint64_t lost = events_.Take().back().sequence;
  Crash();
  Open();  // Same second by the clock: the epoch must still move on.
  LeaveRequest leave;
  leave.user_id = "bob";
  leave.channels = {"lobby"};
  ASSERT_TRUE(presence_->Leave(leave).ok());
  std::vector<PresenceEvent> next = events_.Take();
  ASSERT_THAT(next, SizeIs(1));
  EXPECT_GT(next[0].sequence, last);
  EXPECT_GT(next[0].sequence, lost);
  EXPECT_EQ(next[0].sequence & 0xffffffffu, 1u);  // A new epoch.
  EXPECT_EQ(next[0].occupancy, 1u);               // alice (carol was lost).
}

TEST_F(DurableStoreTest, AChannelAboveAnnounceMaxStaysInIntervalMode) {
  Open();
  for (int i = 0; i < 30; ++i) Beat(absl::StrCat("user", i), "big");
  Close();
  Open();
  events_.Take();
  Beat("late", "big");
  EXPECT_THAT(Changes(), IsEmpty());  // Accumulated for the interval.
  clock_.Advance(absl::Seconds(11));
  ASSERT_TRUE(store_->ExpireSessions().ok());
  std::vector<PresenceEvent> events = events_.Take();
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].type, EventType::kInterval);
  EXPECT_EQ(events[0].occupancy, 31u);
  EXPECT_THAT(events[0].joined, ElementsAre("late"));
}

TEST_F(DurableStoreTest, WithoutASnapshotPresenceIsEmptyButGroupsStay) {
  Open();
  ASSERT_TRUE(presence_->AddChannelsToGroup("g", {"a"}).ok());
  Beat("alice", "a");
  Crash();
  Open();
  EXPECT_THAT(HereNow().channels, IsEmpty());
  EXPECT_THAT(*presence_->ListGroups(), ElementsAre("g"));
}

TEST_F(DurableStoreTest, DestroyingTheStoreSnapshotsIt) {
  options_.snapshot_at_close = true;
  Open();
  Beat("alice", "lobby");
  store_->RemoveListener(&events_);
  presence_.reset();
  store_.reset();
  Open();
  EXPECT_THAT(HereNow().channels, SizeIs(1));
}

TEST_F(DurableStoreTest, ListenersGetTheRestoredGroupsAsTheirReplay) {
  Open();
  ASSERT_TRUE(presence_->AddChannelsToGroup("g", {"a", "b"}).ok());
  Crash();
  events_.TakeGroupChanges();
  Open();
  std::vector<GroupChange> changes = events_.TakeGroupChanges();
  ASSERT_THAT(changes, SizeIs(1));
  EXPECT_EQ(changes[0].group, "g");
}

}  // namespace
}  // namespace presence
