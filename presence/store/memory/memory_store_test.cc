#include "presence/store/memory/memory_store.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "presence/clock.h"
#include "presence/presence.h"
#include "presence/testing/store_conformance.h"

namespace presence {
namespace {

INSTANTIATE_TEST_SUITE_P(Memory, StoreConformanceTest,
                         testing::Values(StoreFactory{
                             "memory",
                             [](Clock* clock, const StoreConfig& config) {
                               MemoryStoreOptions options;
                               options.limits = config.limits;
                               options.events = config.events;
                               return NewMemoryStore(options, clock);
                             }}),
                         [](const testing::TestParamInfo<StoreFactory>& info) {
                           return info.param.name;
                         });

class MemoryStoreTest : public testing::Test {
 protected:
  MemoryStoreTest() {
    limits_.min_timeout_seconds = 1;
    MemoryStoreOptions options;
    options.limits = limits_;
    options.wheel_slot_bits = 8;  // A 2.56 s wheel: long timeouts rotate.
    options.events.announce_max = 1000;  // Every event individually.
    store_ = NewMemoryStore(options, &clock_);
    presence_ = std::make_unique<Presence>(store_.get(), limits_);
    store_->AddListener(&events_);
  }
  ~MemoryStoreTest() override { store_->RemoveListener(&events_); }

  void Join(const std::string& user, const std::string& channel,
            uint32_t timeout) {
    HeartbeatRequest request;
    request.user_id = user;
    request.channels = {channel};
    request.timeout_seconds = timeout;
    ASSERT_TRUE(presence_->Heartbeat(request).ok());
  }

  SimulatedClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  Limits limits_;
  std::unique_ptr<PresenceStore> store_;
  std::unique_ptr<Presence> presence_;
  EventRecorder events_;
};

TEST_F(MemoryStoreTest, TimeoutsLongerThanTheWheelFireOnTime) {
  Join("alice", "lobby", 3600);
  events_.Take();
  for (int s = 0; s < 3599; s += 7) {
    clock_.Advance(absl::Seconds(7));
    ASSERT_TRUE(store_->ExpireSessions().ok());
    if (clock_.Now() < absl::FromUnixSeconds(1'800'000'000 + 3600)) {
      ASSERT_TRUE(events_.Take().empty()) << s;
    }
  }
  clock_.Set(absl::FromUnixSeconds(1'800'000'000 + 3600));
  ASSERT_TRUE(store_->ExpireSessions().ok());
  std::vector<PresenceEvent> events = events_.Take();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, EventType::kTimeout);
  EXPECT_EQ(events[1].type, EventType::kInactive);
}

TEST_F(MemoryStoreTest, AStalledExpiryCatchesUpInOnePass) {
  for (int i = 0; i < 100; ++i) Join(absl::StrCat("u", i), "lobby", 1 + i % 5);
  events_.Take();
  clock_.Advance(absl::Hours(2));  // Many rotations of the small wheel.
  ASSERT_TRUE(store_->ExpireSessions().ok());
  int timeouts = 0;
  for (const PresenceEvent& e : events_.Take()) {
    timeouts += e.type == EventType::kTimeout;
  }
  EXPECT_EQ(timeouts, 100);
}

TEST_F(MemoryStoreTest, TimeoutsFireWithinOneTickOfTheDeadline) {
  Join("alice", "lobby", 1);
  clock_.Advance(absl::Seconds(1) + absl::Milliseconds(9));
  ASSERT_TRUE(store_->ExpireSessions().ok());
  // Fired at the first tick at or after the deadline.
  std::vector<PresenceEvent> events = events_.Take();
  ASSERT_EQ(events.size(), 4u);  // Active, join, timeout, inactive.
  EXPECT_EQ(events[2].type, EventType::kTimeout);
}

TEST_F(MemoryStoreTest, ManyUsersAndChannelsStayConsistent) {
  // Exercise slot reuse: join, leave and time out many memberships, then
  // check both indexes agree.
  for (int round = 0; round < 3; ++round) {
    for (int u = 0; u < 50; ++u) {
      for (int c = 0; c < 8; ++c) {
        Join(absl::StrCat("user", u), absl::StrCat("chan", (u + c) % 20),
             1 + c);
      }
    }
    LeaveRequest leave;
    leave.user_id = "user7";
    leave.channels = {"chan7", "chan8"};
    ASSERT_TRUE(presence_->Leave(leave).ok());
    absl::StatusOr<HereNowResult> all = presence_->HereNow(HereNowRequest());
    ASSERT_TRUE(all.ok());
    uint32_t memberships = 0;
    for (const auto& channel : all->channels) {
      for (const auto& occupant : channel.occupants) {
        absl::StatusOr<WhereNowResult> where =
            presence_->WhereNow({occupant.user_id});
        ASSERT_TRUE(where.ok());
        EXPECT_THAT(where->channels, testing::Contains(channel.name));
      }
      memberships += channel.occupancy;
    }
    EXPECT_EQ(memberships, 50u * 8 - 2);
    clock_.Advance(absl::Seconds(8));
    ASSERT_TRUE(store_->ExpireSessions().ok());
    EXPECT_EQ(presence_->HereNow(HereNowRequest())->total_channels, 0u);
  }
}

}  // namespace
}  // namespace presence
