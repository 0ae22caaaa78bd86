#include "presence/testing/store_conformance.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"

namespace presence {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// "join alice@lobby 1": action, user, channel, occupancy after. Grouped by
// channel: order is promised within a channel, not across channels.
std::vector<std::string> Summary(std::vector<PresenceEvent> events) {
  std::stable_sort(events.begin(), events.end(),
                   [](const PresenceEvent& a, const PresenceEvent& b) {
                     return a.channel < b.channel;
                   });
  std::vector<std::string> out;
  for (const PresenceEvent& e : events) {
    std::string line =
        absl::StrCat(EventTypeName(e.type), e.user_id.empty() ? "" : " ",
                     e.user_id, "@", e.channel, " ", e.occupancy);
    if (!e.state.empty()) absl::StrAppend(&line, " ", e.state);
    out.push_back(std::move(line));
  }
  return out;
}

}  // namespace

StoreConfig StoreConformanceTest::TestConfig() {
  StoreConfig config;
  config.limits.min_timeout_seconds = 1;
  config.events.announce_max = 3;
  config.events.interval = absl::Seconds(10);
  config.events.interval_lists_max_bytes = 64;
  return config;
}

void StoreConformanceTest::SetUp() {
  store_ = GetParam().make(&clock_, config_);
  ASSERT_NE(store_, nullptr);
  presence_ = std::make_unique<Presence>(store_.get(), limits_);
  store_->AddListener(&events_);
}

void StoreConformanceTest::TearDown() {
  if (store_ != nullptr) store_->RemoveListener(&events_);
}

void StoreConformanceTest::Join(const std::string& user,
                                std::vector<std::string> channels,
                                uint32_t timeout_seconds,
                                const std::string& session) {
  HeartbeatRequest request;
  request.user_id = user;
  request.channels = std::move(channels);
  request.timeout_seconds = timeout_seconds;
  request.session_id = session;
  ASSERT_TRUE(presence_->Heartbeat(request).ok());
}

std::vector<PresenceEvent> StoreConformanceTest::TakeEvents() {
  EXPECT_TRUE(store_->SyncEvents().ok());
  return events_.Take();
}

std::vector<GroupChange> StoreConformanceTest::TakeGroupChanges() {
  EXPECT_TRUE(store_->SyncEvents().ok());
  return events_.TakeGroupChanges();
}

void StoreConformanceTest::Advance(absl::Duration d) {
  clock_.Advance(d);
  ASSERT_TRUE(store_->ExpireSessions().ok());
}

uint32_t StoreConformanceTest::Occupancy(const std::string& channel) {
  HereNowRequest request;
  request.channels = {channel};
  request.include_user_ids = false;
  absl::StatusOr<HereNowResult> result = presence_->HereNow(request);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? result->channels.at(0).occupancy : 0;
}

std::vector<std::string> StoreConformanceTest::Occupants(
    const std::string& channel, uint32_t limit, uint32_t offset) {
  HereNowRequest request;
  request.channels = {channel};
  request.limit = limit;
  request.offset = offset;
  absl::StatusOr<HereNowResult> result = presence_->HereNow(request);
  EXPECT_TRUE(result.ok()) << result.status();
  std::vector<std::string> ids;
  if (!result.ok()) return ids;
  for (const Occupant& o : result->channels.at(0).occupants)
    ids.push_back(o.user_id);
  return ids;
}

namespace {

LeaveRequest LeaveOf(const std::string& user, std::vector<std::string> channels,
                     const std::string& session = "") {
  LeaveRequest request;
  request.user_id = user;
  request.channels = std::move(channels);
  request.session_id = session;
  return request;
}

SetStateRequest SetStateOf(const std::string& user,
                           std::vector<std::string> channels,
                           const std::string& state) {
  SetStateRequest request;
  request.user_id = user;
  request.channels = std::move(channels);
  request.state = state;
  return request;
}

std::vector<std::string> WhereNow(Presence& presence, const std::string& user) {
  absl::StatusOr<WhereNowResult> result = presence.WhereNow({user});
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? result->channels : std::vector<std::string>{};
}

TEST_P(StoreConformanceTest, HeartbeatJoinsAndEmitsJoin) {
  Join("alice", {"lobby"});
  EXPECT_EQ(Occupancy("lobby"), 1u);
  EXPECT_THAT(Occupants("lobby"), ElementsAre("alice"));
  EXPECT_THAT(WhereNow(*presence_, "alice"), ElementsAre("lobby"));
  EXPECT_THAT(Summary(TakeEvents()),
              ElementsAre("active@lobby 1", "join alice@lobby 1"));
}

TEST_P(StoreConformanceTest, JoinOnSeveralChannelsEmitsOneJoinEach) {
  Join("alice", {"b", "a", "c"});
  EXPECT_THAT(Summary(TakeEvents()),
              ElementsAre("active@a 1", "join alice@a 1", "active@b 1",
                          "join alice@b 1", "active@c 1", "join alice@c 1"));
  EXPECT_THAT(WhereNow(*presence_, "alice"), ElementsAre("a", "b", "c"));
}

TEST_P(StoreConformanceTest, HeartbeatWithinWindowCausesNoEvents) {
  Join("alice", {"lobby"}, 60);
  TakeEvents();
  // A client that restarts within its window: heartbeats keep it present.
  for (int i = 0; i < 5; ++i) {
    Advance(absl::Seconds(50));
    Join("alice", {"lobby"}, 60);
  }
  Advance(absl::Seconds(59));
  EXPECT_EQ(Occupancy("lobby"), 1u);
  EXPECT_THAT(TakeEvents(), IsEmpty());
}

TEST_P(StoreConformanceTest, TimeoutFiresAtDeadlineNeverBefore) {
  Join("alice", {"lobby"}, 30);
  TakeEvents();
  Advance(absl::Seconds(30) - absl::Milliseconds(1));
  EXPECT_EQ(Occupancy("lobby"), 1u);
  EXPECT_THAT(TakeEvents(), IsEmpty());
  Advance(absl::Milliseconds(1));
  EXPECT_THAT(Summary(TakeEvents()),
              ElementsAre("timeout alice@lobby 0", "inactive@lobby 0"));
  EXPECT_EQ(Occupancy("lobby"), 0u);
  EXPECT_THAT(WhereNow(*presence_, "alice"), IsEmpty());
}

TEST_P(StoreConformanceTest, ReadsNeverCountAUserPastItsDeadline) {
  Join("alice", {"lobby"}, 30);
  TakeEvents();
  // No ExpireSessions() call: the answer must still be exact.
  clock_.Advance(absl::Seconds(31));
  EXPECT_EQ(Occupancy("lobby"), 0u);
  EXPECT_THAT(WhereNow(*presence_, "alice"), IsEmpty());
  EXPECT_THAT(Summary(TakeEvents()),
              ElementsAre("timeout alice@lobby 0", "inactive@lobby 0"));
}

TEST_P(StoreConformanceTest, HeartbeatAfterDeadlineIsTimeoutThenJoin) {
  Join("alice", {"lobby"}, 30);
  TakeEvents();
  clock_.Advance(absl::Seconds(31));
  Join("alice", {"lobby"}, 30);
  EXPECT_THAT(Summary(TakeEvents()),
              ElementsAre("timeout alice@lobby 0", "inactive@lobby 0",
                          "active@lobby 1", "join alice@lobby 1"));
}

// Found by the differential test (seed 1): the memory store emitted
// timeouts due together in its timing wheel's order.
TEST_P(StoreConformanceTest, TimeoutsDueTogetherComeByDeadlineThenUserId) {
  Join("keep", {"lobby"}, 60);
  Join("b", {"lobby"}, 5);
  Join("a", {"lobby"}, 5);
  Join("z", {"hall"}, 3);
  Join("y", {"hall"}, 4);
  Join("x", {"hall"}, 4);
  TakeEvents();
  Advance(absl::Seconds(5));
  EXPECT_THAT(
      Summary(TakeEvents()),
      ElementsAre("timeout z@hall 2", "timeout x@hall 1", "timeout y@hall 0",
                  "inactive@hall 0", "timeout a@lobby 2", "timeout b@lobby 1"));
}

TEST_P(StoreConformanceTest, TimeoutOfOneUserLeavesOthers) {
  Join("alice", {"lobby"}, 10);
  Join("bob", {"lobby"}, 100);
  TakeEvents();
  Advance(absl::Seconds(10));
  EXPECT_THAT(Summary(TakeEvents()), ElementsAre("timeout alice@lobby 1"));
  EXPECT_THAT(Occupants("lobby"), ElementsAre("bob"));
}

TEST_P(StoreConformanceTest, ShorterTimeoutReplacesLongerOne) {
  Join("alice", {"lobby"}, 300);
  Join("alice", {"lobby"}, 5);
  TakeEvents();
  Advance(absl::Seconds(5));
  EXPECT_THAT(Summary(TakeEvents()),
              ElementsAre("timeout alice@lobby 0", "inactive@lobby 0"));
}

TEST_P(StoreConformanceTest, LeaveEndsPresenceImmediately) {
  Join("alice", {"a", "b"});
  TakeEvents();
  absl::StatusOr<LeaveResult> left = presence_->Leave(LeaveOf("alice", {"a"}));
  ASSERT_TRUE(left.ok()) << left.status();
  EXPECT_THAT(left->channels, ElementsAre("a"));
  EXPECT_THAT(Summary(TakeEvents()),
              ElementsAre("leave alice@a 0", "inactive@a 0"));
  EXPECT_THAT(WhereNow(*presence_, "alice"), ElementsAre("b"));
  // Leaving again, or a channel never joined, changes nothing.
  left = presence_->Leave(LeaveOf("alice", {"a", "zzz"}));
  ASSERT_TRUE(left.ok());
  EXPECT_THAT(left->channels, IsEmpty());
  EXPECT_THAT(TakeEvents(), IsEmpty());
  // The session's deadline went with it: no later timeout on "a".
  Advance(absl::Seconds(60));
  EXPECT_THAT(Summary(TakeEvents()),
              ElementsAre("timeout alice@b 0", "inactive@b 0"));
}

TEST_P(StoreConformanceTest, UserStaysWhileAnySessionLives) {
  Join("alice", {"lobby"}, 60, "tab-1");
  Join("alice", {"lobby"}, 60, "tab-2");
  EXPECT_THAT(Summary(TakeEvents()),
              ElementsAre("active@lobby 1", "join alice@lobby 1"));
  EXPECT_EQ(Occupancy("lobby"), 1u);

  // One of two tabs closes: no leave.
  absl::StatusOr<LeaveResult> left =
      presence_->Leave(LeaveOf("alice", {"lobby"}, "tab-1"));
  ASSERT_TRUE(left.ok());
  EXPECT_THAT(left->channels, IsEmpty());
  EXPECT_THAT(TakeEvents(), IsEmpty());
  EXPECT_EQ(Occupancy("lobby"), 1u);

  left = presence_->Leave(LeaveOf("alice", {"lobby"}, "tab-2"));
  ASSERT_TRUE(left.ok());
  EXPECT_THAT(left->channels, ElementsAre("lobby"));
  EXPECT_THAT(Summary(TakeEvents()),
              ElementsAre("leave alice@lobby 0", "inactive@lobby 0"));
}

TEST_P(StoreConformanceTest, DefaultSessionIsOneSessionAmongOthers) {
  Join("alice", {"lobby"}, 60);
  Join("alice", {"lobby"}, 60, "phone");
  TakeEvents();
  ASSERT_TRUE(presence_->Leave(LeaveOf("alice", {"lobby"})).ok());
  EXPECT_THAT(TakeEvents(), IsEmpty());
  ASSERT_TRUE(presence_->Leave(LeaveOf("alice", {"lobby"}, "phone")).ok());
  EXPECT_THAT(Summary(TakeEvents()),
              ElementsAre("leave alice@lobby 0", "inactive@lobby 0"));
}

TEST_P(StoreConformanceTest, TimeoutWhenLastSessionPassesItsDeadline) {
  Join("alice", {"lobby"}, 10, "tab-1");
  Join("alice", {"lobby"}, 30, "tab-2");
  TakeEvents();
  Advance(absl::Seconds(15));  // tab-1 is gone, tab-2 is alive.
  EXPECT_EQ(Occupancy("lobby"), 1u);
  EXPECT_THAT(TakeEvents(), IsEmpty());
  Advance(absl::Seconds(15));
  EXPECT_THAT(Summary(TakeEvents()),
              ElementsAre("timeout alice@lobby 0", "inactive@lobby 0"));
}

TEST_P(StoreConformanceTest, LeaveOfLastLiveSessionLeavesDespiteExpiredOnes) {
  Join("alice", {"lobby"}, 10, "tab-1");
  Join("alice", {"lobby"}, 60, "tab-2");
  TakeEvents();
  Advance(absl::Seconds(20));
  ASSERT_TRUE(presence_->Leave(LeaveOf("alice", {"lobby"}, "tab-2")).ok());
  EXPECT_THAT(Summary(TakeEvents()),
              ElementsAre("leave alice@lobby 0", "inactive@lobby 0"));
}

TEST_P(StoreConformanceTest, ExpiredSessionDoesNotHoldPresenceLater) {
  Join("alice", {"lobby"}, 10, "tab-1");
  Join("alice", {"lobby"}, 60, "tab-2");
  Advance(absl::Seconds(20));
  Join("alice", {"lobby"}, 60, "tab-2");  // Keeps only tab-2 alive.
  TakeEvents();
  ASSERT_TRUE(presence_->Leave(LeaveOf("alice", {"lobby"}, "tab-2")).ok());
  EXPECT_THAT(Summary(TakeEvents()),
              ElementsAre("leave alice@lobby 0", "inactive@lobby 0"));
}

TEST_P(StoreConformanceTest, LeaveOfUnknownSessionChangesNothing) {
  Join("alice", {"lobby"}, 60, "tab-1");
  TakeEvents();
  absl::StatusOr<LeaveResult> left =
      presence_->Leave(LeaveOf("alice", {"lobby"}, "tab-9"));
  ASSERT_TRUE(left.ok());
  EXPECT_THAT(left->channels, IsEmpty());
  left = presence_->Leave(LeaveOf("alice", {"lobby"}));  // The default one.
  ASSERT_TRUE(left.ok());
  EXPECT_THAT(left->channels, IsEmpty());
  EXPECT_EQ(Occupancy("lobby"), 1u);
  EXPECT_THAT(TakeEvents(), IsEmpty());
}

TEST_P(StoreConformanceTest, SetStateReplacesTheWholeState) {
  Join("alice", {"lobby"});
  TakeEvents();
  absl::StatusOr<SetStateResult> set = presence_->SetState(
      SetStateOf("alice", {"lobby"}, R"({"mood":"happy","age":3})"));
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_THAT(set->channels, ElementsAre("lobby"));
  EXPECT_EQ(set->state, R"({"mood":"happy","age":3})");
  set =
      presence_->SetState(SetStateOf("alice", {"lobby"}, R"({"mood":"sad"})"));
  ASSERT_TRUE(set.ok());
  EXPECT_THAT(
      Summary(TakeEvents()),
      ElementsAre(R"(state-change alice@lobby 1 {"mood":"happy","age":3})",
                  R"(state-change alice@lobby 1 {"mood":"sad"})"));

  GetStateRequest get;
  get.user_id = "alice";
  get.channels = {"lobby"};
  absl::StatusOr<GetStateResult> got = presence_->GetState(get);
  ASSERT_TRUE(got.ok());
  EXPECT_THAT(got->states,
              ElementsAre(ChannelState{"lobby", R"({"mood":"sad"})"}));

  HereNowRequest here;
  here.channels = {"lobby"};
  here.include_state = true;
  absl::StatusOr<HereNowResult> listed = presence_->HereNow(here);
  ASSERT_TRUE(listed.ok());
  EXPECT_THAT(listed->channels.at(0).occupants,
              ElementsAre(Occupant{"alice", R"({"mood":"sad"})"}));
}

TEST_P(StoreConformanceTest, SettingTheSameStateAgainEmitsNothing) {
  Join("alice", {"lobby"});
  ASSERT_TRUE(
      presence_->SetState(SetStateOf("alice", {"lobby"}, R"({"a":1})")).ok());
  TakeEvents();
  ASSERT_TRUE(
      presence_->SetState(SetStateOf("alice", {"lobby"}, R"({ "a" : 1 })"))
          .ok());
  EXPECT_THAT(TakeEvents(), IsEmpty());
}

TEST_P(StoreConformanceTest, SetStateWhereAbsentFailsAndChangesNothing) {
  Join("alice", {"a"});
  TakeEvents();
  absl::StatusOr<SetStateResult> set =
      presence_->SetState(SetStateOf("alice", {"a", "b"}, R"({"x":1})"));
  EXPECT_EQ(set.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(set.status().message()), testing::HasSubstr("b"));
  EXPECT_THAT(TakeEvents(), IsEmpty());
  GetStateRequest get;
  get.user_id = "alice";
  get.channels = {"a", "b"};
  absl::StatusOr<GetStateResult> got = presence_->GetState(get);
  ASSERT_TRUE(got.ok());
  EXPECT_THAT(got->states, ElementsAre(ChannelState{"a", ""}));
}

TEST_P(StoreConformanceTest, StateIsDiscardedWithThePresence) {
  Join("alice", {"a", "b"}, 10);
  ASSERT_TRUE(
      presence_->SetState(SetStateOf("alice", {"a", "b"}, R"({"x":1})")).ok());
  ASSERT_TRUE(presence_->Leave(LeaveOf("alice", {"a"})).ok());
  Advance(absl::Seconds(10));  // b times out.
  Join("alice", {"a", "b"}, 10);
  GetStateRequest get;
  get.user_id = "alice";
  get.channels = {"a", "b"};
  absl::StatusOr<GetStateResult> got = presence_->GetState(get);
  ASSERT_TRUE(got.ok());
  EXPECT_THAT(got->states,
              ElementsAre(ChannelState{"a", ""}, ChannelState{"b", ""}));
}

TEST_P(StoreConformanceTest, SetStateOnGroupAppliesWhereUserIsPresent) {
  ASSERT_TRUE(presence_->AddChannelsToGroup("g", {"a", "b", "c"}).ok());
  Join("alice", {"a", "c"});
  TakeEvents();
  SetStateRequest request = SetStateOf("alice", {}, R"({"k":"v"})");
  request.channel_groups = {"g"};
  absl::StatusOr<SetStateResult> set = presence_->SetState(request);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_THAT(set->channels, ElementsAre("a", "c"));
  EXPECT_THAT(Summary(TakeEvents()),
              ElementsAre(R"(state-change alice@a 1 {"k":"v"})",
                          R"(state-change alice@c 1 {"k":"v"})"));
}

TEST_P(StoreConformanceTest, HeartbeatStatesApplyByChannelAndGroup) {
  ASSERT_TRUE(presence_->AddChannelsToGroup("g", {"a", "b"}).ok());
  HeartbeatRequest request;
  request.user_id = "alice";
  request.channels = {"a"};
  request.channel_groups = {"g"};
  request.states = {{"g", R"({"from":"group"})"},
                    {"a", R"({"from":"channel"})"}};
  ASSERT_TRUE(presence_->Heartbeat(request).ok());
  // A join carries the state it was made with.
  EXPECT_THAT(Summary(TakeEvents()),
              ElementsAre("active@a 1", R"(join alice@a 1 {"from":"channel"})",
                          "active@b 1", R"(join alice@b 1 {"from":"group"})"));
  // The same states again: nothing changed, nothing emitted.
  ASSERT_TRUE(presence_->Heartbeat(request).ok());
  EXPECT_THAT(TakeEvents(), IsEmpty());
  request.states = {{"a", R"({"from":"later"})"}};
  ASSERT_TRUE(presence_->Heartbeat(request).ok());
  EXPECT_THAT(Summary(TakeEvents()),
              ElementsAre(R"(state-change alice@a 1 {"from":"later"})"));
}

TEST_P(StoreConformanceTest, EmptyStateObjectClearsState) {
  Join("alice", {"lobby"});
  ASSERT_TRUE(
      presence_->SetState(SetStateOf("alice", {"lobby"}, R"({"a":1})")).ok());
  ASSERT_TRUE(presence_->SetState(SetStateOf("alice", {"lobby"}, "{}")).ok());
  GetStateRequest get;
  get.user_id = "alice";
  get.channels = {"lobby"};
  absl::StatusOr<GetStateResult> got = presence_->GetState(get);
  ASSERT_TRUE(got.ok());
  EXPECT_THAT(got->states, ElementsAre(ChannelState{"lobby", ""}));
}

TEST_P(StoreConformanceTest, GroupsExpandAtCallTime) {
  ASSERT_TRUE(presence_->AddChannelsToGroup("g", {"a"}).ok());
  HeartbeatRequest request;
  request.user_id = "alice";
  request.channel_groups = {"g"};
  ASSERT_TRUE(presence_->Heartbeat(request).ok());
  ASSERT_TRUE(presence_->AddChannelsToGroup("g", {"b"}).ok());
  ASSERT_TRUE(presence_->Heartbeat(request).ok());
  EXPECT_THAT(WhereNow(*presence_, "alice"), ElementsAre("a", "b"));

  HereNowRequest here;
  here.channel_groups = {"g"};
  absl::StatusOr<HereNowResult> listed = presence_->HereNow(here);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->total_channels, 2u);
  EXPECT_EQ(listed->total_occupancy, 2u);

  ASSERT_TRUE(presence_->RemoveChannelsFromGroup("g", {"a"}).ok());
  LeaveRequest leave;
  leave.user_id = "alice";
  leave.channel_groups = {"g"};
  absl::StatusOr<LeaveResult> left = presence_->Leave(leave);
  ASSERT_TRUE(left.ok());
  EXPECT_THAT(left->channels, ElementsAre("b"));
  EXPECT_THAT(WhereNow(*presence_, "alice"), ElementsAre("a"));
}

TEST_P(StoreConformanceTest, MissingGroupIsNotFoundAndChangesNothing) {
  ASSERT_TRUE(presence_->AddChannelsToGroup("real", {"a"}).ok());
  HeartbeatRequest heartbeat;
  heartbeat.user_id = "alice";
  heartbeat.channels = {"x"};
  heartbeat.channel_groups = {"real", "ghost"};
  absl::StatusOr<HeartbeatResult> hb = presence_->Heartbeat(heartbeat);
  EXPECT_EQ(hb.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(hb.status().message()),
              testing::HasSubstr("'ghost'"));
  EXPECT_THAT(WhereNow(*presence_, "alice"), IsEmpty());

  HereNowRequest here;
  here.channel_groups = {"ghost"};
  EXPECT_EQ(presence_->HereNow(here).status().code(),
            absl::StatusCode::kNotFound);
  LeaveRequest leave;
  leave.user_id = "alice";
  leave.channel_groups = {"ghost"};
  EXPECT_EQ(presence_->Leave(leave).status().code(),
            absl::StatusCode::kNotFound);
  SetStateRequest set = SetStateOf("alice", {}, "{}");
  set.channel_groups = {"ghost"};
  EXPECT_EQ(presence_->SetState(set).status().code(),
            absl::StatusCode::kNotFound);
  GetStateRequest get;
  get.user_id = "alice";
  get.channel_groups = {"ghost"};
  EXPECT_EQ(presence_->GetState(get).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_THAT(TakeEvents(), IsEmpty());
}

TEST_P(StoreConformanceTest, ChannelGroupLifecycle) {
  ASSERT_TRUE(presence_->AddChannelsToGroup("g2", {"z"}).ok());
  ASSERT_TRUE(presence_->AddChannelsToGroup("g1", {"b", "a"}).ok());
  ASSERT_TRUE(presence_->AddChannelsToGroup("g1", {"c", "a"}).ok());
  EXPECT_THAT(*presence_->ListChannelsInGroup("g1"),
              ElementsAre("a", "b", "c"));
  EXPECT_THAT(*presence_->ListGroups(), ElementsAre("g1", "g2"));
  ASSERT_TRUE(presence_->RemoveChannelsFromGroup("g1", {"b", "nope"}).ok());
  EXPECT_THAT(*presence_->ListChannelsInGroup("g1"), ElementsAre("a", "c"));
  ASSERT_TRUE(presence_->DeleteGroup("g1").ok());
  EXPECT_EQ(presence_->ListChannelsInGroup("g1").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(presence_->DeleteGroup("g1").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(presence_->RemoveChannelsFromGroup("g1", {"a"}).code(),
            absl::StatusCode::kNotFound);
  // Removing the last channel deletes the group.
  ASSERT_TRUE(presence_->RemoveChannelsFromGroup("g2", {"z"}).ok());
  EXPECT_THAT(*presence_->ListGroups(), IsEmpty());
}

TEST_P(StoreConformanceTest, GroupChannelLimitIsEnforcedAtomically) {
  std::vector<std::string> channels;
  for (uint32_t i = 0; i < limits_.max_channels_per_group - 1; ++i) {
    channels.push_back(absl::StrCat("c", i));
  }
  for (size_t i = 0; i < channels.size(); i += 1000) {
    std::vector<std::string> chunk(
        channels.begin() + i,
        channels.begin() + std::min(channels.size(), i + 1000));
    ASSERT_TRUE(presence_->AddChannelsToGroup("big", chunk).ok());
  }
  absl::Status status = presence_->AddChannelsToGroup("big", {"x", "y"});
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), testing::HasSubstr("2000"));
  EXPECT_EQ(presence_->ListChannelsInGroup("big")->size(),
            limits_.max_channels_per_group - 1);
  // Channels already in the group do not count twice.
  EXPECT_TRUE(presence_->AddChannelsToGroup("big", {"c0", "x"}).ok());
}

TEST_P(StoreConformanceTest, HereNowPagesAreStableAndOccupancyExact) {
  for (int i = 24; i >= 0; --i)
    Join(absl::StrCat("user-", i < 10 ? "0" : "", i), {"big"});
  std::vector<std::string> all;
  for (uint32_t offset = 0; offset < 25; offset += 10) {
    HereNowRequest request;
    request.channels = {"big"};
    request.limit = 10;
    request.offset = offset;
    absl::StatusOr<HereNowResult> page = presence_->HereNow(request);
    ASSERT_TRUE(page.ok());
    EXPECT_EQ(page->channels.at(0).occupancy, 25u);
    EXPECT_EQ(page->total_occupancy, 25u);
    for (const Occupant& o : page->channels.at(0).occupants)
      all.push_back(o.user_id);
  }
  ASSERT_EQ(all.size(), 25u);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
  EXPECT_EQ(all.front(), "user-00");
  EXPECT_EQ(all.back(), "user-24");
  EXPECT_THAT(Occupants("big", 10, 25), IsEmpty());
}

TEST_P(StoreConformanceTest, GlobalHereNowListsEveryOccupiedChannel) {
  Join("alice", {"b", "a"});
  Join("bob", {"a"});
  Join("carol", {"c"}, 5);
  Advance(absl::Seconds(5));  // c empties.
  absl::StatusOr<HereNowResult> result = presence_->HereNow(HereNowRequest());
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->total_channels, 2u);
  EXPECT_EQ(result->total_occupancy, 3u);
  ASSERT_EQ(result->channels.size(), 2u);
  EXPECT_EQ(result->channels[0].name, "a");
  EXPECT_EQ(result->channels[0].occupancy, 2u);
  EXPECT_THAT(result->channels[0].occupants,
              ElementsAre(Occupant{"alice", ""}, Occupant{"bob", ""}));
  EXPECT_EQ(result->channels[1].name, "b");
}

TEST_P(StoreConformanceTest, NamedEmptyChannelsAreListedWithZero) {
  ASSERT_TRUE(presence_->AddChannelsToGroup("g", {"g-empty", "g-full"}).ok());
  Join("alice", {"full", "g-full"});
  HereNowRequest request;
  request.channels = {"empty", "full"};
  request.channel_groups = {"g"};
  absl::StatusOr<HereNowResult> result = presence_->HereNow(request);
  ASSERT_TRUE(result.ok());
  std::vector<std::string> names;
  for (const auto& c : result->channels) names.push_back(c.name);
  // An empty group channel is not listed; a named one is, with 0.
  EXPECT_THAT(names, ElementsAre("empty", "full", "g-full"));
  EXPECT_EQ(result->channels[0].occupancy, 0u);
  EXPECT_THAT(result->channels[0].occupants, IsEmpty());
  EXPECT_EQ(result->total_channels, 3u);
  EXPECT_EQ(result->total_occupancy, 2u);
}

TEST_P(StoreConformanceTest, WithoutUserIdsNoOccupantsAreListed) {
  Join("alice", {"lobby"});
  HereNowRequest request;
  request.channels = {"lobby"};
  request.include_user_ids = false;
  request.include_state = true;
  absl::StatusOr<HereNowResult> result = presence_->HereNow(request);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->channels.at(0).occupancy, 1u);
  EXPECT_THAT(result->channels.at(0).occupants, IsEmpty());
}

TEST_P(StoreConformanceTest, StateIsListedOnlyWhenAsked) {
  Join("alice", {"lobby"});
  ASSERT_TRUE(
      presence_->SetState(SetStateOf("alice", {"lobby"}, R"({"a":1})")).ok());
  EXPECT_THAT(Occupants("lobby"), ElementsAre("alice"));
  HereNowRequest request;
  request.channels = {"lobby"};
  absl::StatusOr<HereNowResult> result = presence_->HereNow(request);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->channels.at(0).occupants.at(0).state, "");
}

TEST_P(StoreConformanceTest, EventsArriveInOrderWithConsecutiveSequences) {
  Join("alice", {"lobby"});
  Join("bob", {"lobby"});
  ASSERT_TRUE(
      presence_->SetState(SetStateOf("bob", {"lobby"}, R"({"a":1})")).ok());
  ASSERT_TRUE(presence_->Leave(LeaveOf("alice", {"lobby"})).ok());
  ASSERT_TRUE(presence_->Leave(LeaveOf("bob", {"lobby"})).ok());
  Join("carol", {"lobby"});
  std::vector<PresenceEvent> events = TakeEvents();
  EXPECT_THAT(
      Summary(events),
      ElementsAre("active@lobby 1", "join alice@lobby 1", "join bob@lobby 2",
                  R"(state-change bob@lobby 2 {"a":1})", "leave alice@lobby 1",
                  "leave bob@lobby 0", "inactive@lobby 0", "active@lobby 1",
                  "join carol@lobby 1"));
  ASSERT_EQ(events.size(), 9u);
  for (size_t i = 1; i < 7; ++i) {
    EXPECT_EQ(events[i].sequence, events[i - 1].sequence + 1) << i;
  }
  EXPECT_EQ(events[0].sequence & 0xffffffffu, 1u);
  // A new epoch after the channel emptied: still increasing, counting anew.
  EXPECT_GT(events[7].sequence, events[6].sequence);
  EXPECT_EQ(events[7].sequence & 0xffffffffu, 1u);
  EXPECT_EQ(events[8].sequence, events[7].sequence + 1);
  for (const PresenceEvent& e : events) EXPECT_EQ(e.time, clock_.Now());
}

std::vector<std::string> IntervalSummary(
    const std::vector<PresenceEvent>& events) {
  std::vector<std::string> out;
  for (const PresenceEvent& e : events) {
    if (e.type != EventType::kInterval) {
      out.push_back(absl::StrCat(EventTypeName(e.type), " ", e.user_id, " ",
                                 e.occupancy));
    } else if (e.here_now_refresh) {
      out.push_back(absl::StrCat("interval ", e.occupancy, " refresh"));
    } else {
      out.push_back(absl::StrCat("interval ", e.occupancy, " +[",
                                 absl::StrJoin(e.joined, ","), "] -[",
                                 absl::StrJoin(e.left, ","), "] x[",
                                 absl::StrJoin(e.timed_out, ","), "]"));
    }
  }
  return out;
}

TEST_P(StoreConformanceTest, AboveAnnounceMaxChangesComeAsIntervals) {
  for (const char* user : {"u1", "u2", "u3", "u4", "u5"}) Join(user, {"room"});
  EXPECT_THAT(IntervalSummary(TakeEvents()),
              ElementsAre("active  1", "join u1 1", "join u2 2", "join u3 3"));
  Advance(absl::Seconds(9));
  EXPECT_THAT(TakeEvents(), IsEmpty());
  Advance(absl::Seconds(1));
  std::vector<PresenceEvent> events = TakeEvents();
  EXPECT_THAT(IntervalSummary(events),
              ElementsAre("interval 5 +[u4,u5] -[] x[]"));
  EXPECT_EQ(events.at(0).sequence & 0xffffffffu, 5u);  // After 1 + 3.
  EXPECT_EQ(events.at(0).channel, "room");

  ASSERT_TRUE(presence_->Leave(LeaveOf("u1", {"room"})).ok());
  Join("u6", {"room"});
  EXPECT_THAT(TakeEvents(), IsEmpty());
  Advance(absl::Seconds(10));
  EXPECT_THAT(IntervalSummary(TakeEvents()),
              ElementsAre("interval 5 +[u6] -[u1] x[]"));
  // With nothing new, an interval still reports the occupancy.
  Advance(absl::Seconds(10));
  EXPECT_THAT(IntervalSummary(TakeEvents()),
              ElementsAre("interval 5 +[] -[] x[]"));

  // Back to announce_max: what is pending, then per-user events.
  ASSERT_TRUE(presence_->Leave(LeaveOf("u2", {"room"})).ok());
  EXPECT_THAT(TakeEvents(), IsEmpty());
  ASSERT_TRUE(presence_->Leave(LeaveOf("u3", {"room"})).ok());
  EXPECT_THAT(IntervalSummary(TakeEvents()),
              ElementsAre("interval 4 +[] -[u2] x[]", "leave u3 3"));
  Advance(absl::Seconds(20));  // Short of the 60 s timeouts.
  EXPECT_THAT(TakeEvents(), IsEmpty());
}

TEST_P(StoreConformanceTest, TimeoutsInIntervalModeAreListed) {
  for (const char* user : {"u1", "u2", "u3"}) Join(user, {"room"});
  Join("short", {"room"}, 5);
  Join("u5", {"room"});
  TakeEvents();
  Advance(absl::Seconds(5));
  EXPECT_THAT(TakeEvents(), IsEmpty());
  Advance(absl::Seconds(5));
  EXPECT_THAT(IntervalSummary(TakeEvents()),
              ElementsAre("interval 4 +[short,u5] -[] x[short]"));
}

TEST_P(StoreConformanceTest, StateChangesStayIndividualInIntervalMode) {
  for (const char* user : {"u1", "u2", "u3", "u4"}) Join(user, {"room"});
  TakeEvents();
  ASSERT_TRUE(
      presence_->SetState(SetStateOf("u4", {"room"}, R"({"t":1})")).ok());
  std::vector<PresenceEvent> events = TakeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, EventType::kStateChange);
  EXPECT_EQ(events[0].occupancy, 4u);
  EXPECT_EQ(events[0].sequence & 0xffffffffu, 5u);  // Active, 3 joins, this.
}

TEST_P(StoreConformanceTest, TooManyChangesForAnIntervalAskForARefresh) {
  for (int i = 0; i < 12; ++i) Join(absl::StrCat("user-", i), {"room"});
  TakeEvents();
  Advance(absl::Seconds(10));
  EXPECT_THAT(IntervalSummary(TakeEvents()),
              ElementsAre("interval 12 refresh"));
  Join("x", {"room"});
  Advance(absl::Seconds(10));
  EXPECT_THAT(IntervalSummary(TakeEvents()),
              ElementsAre("interval 13 +[x] -[] x[]"));
}

TEST_P(StoreConformanceTest, GroupChangesAreReported) {
  ASSERT_TRUE(presence_->AddChannelsToGroup("g", {"b", "a"}).ok());
  ASSERT_TRUE(presence_->RemoveChannelsFromGroup("g", {"a"}).ok());
  ASSERT_TRUE(presence_->DeleteGroup("g").ok());
  std::vector<GroupChange> changes = TakeGroupChanges();
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0].group, "g");
  EXPECT_THAT(changes[0].channels, ElementsAre("a", "b"));
  EXPECT_THAT(changes[1].channels, ElementsAre("b"));
  EXPECT_THAT(changes[2].channels, IsEmpty());
}

// The epochs (sequence >> 32) of the ACTIVE events among `events`.
std::vector<uint64_t> ActiveEpochs(const std::vector<PresenceEvent>& events) {
  std::vector<uint64_t> epochs;
  for (const PresenceEvent& e : events) {
    if (e.type == EventType::kActive) epochs.push_back(e.sequence >> 32);
  }
  return epochs;
}

TEST_P(StoreConformanceTest, AChannelsEpochIsTheSecondOrOneAboveTheLast) {
  const uint64_t t = absl::ToUnixSeconds(clock_.Now());
  clock_.Advance(absl::Milliseconds(250));  // Within the second t.
  // Reactivated three times within one simulated second: each activation
  // still gets a greater epoch.
  for (int i = 0; i < 3; ++i) {
    Join("alice", {"lobby"});
    ASSERT_TRUE(presence_->Leave(LeaveOf("alice", {"lobby"})).ok());
    clock_.Advance(absl::Milliseconds(100));
  }
  EXPECT_THAT(ActiveEpochs(TakeEvents()), ElementsAre(t, t + 1, t + 2));
  // A second later the epochs are still ahead of the clock: one above the
  // last again.
  Advance(absl::Seconds(1));
  Join("alice", {"lobby"}, 1);
  Advance(absl::Seconds(1));  // Times out.
  EXPECT_THAT(ActiveEpochs(TakeEvents()), ElementsAre(t + 3));
  // Once the clock has passed them, the current second. Another channel
  // was never active: the current second too.
  Advance(absl::Seconds(5));
  Join("alice", {"lobby", "other"});
  std::vector<PresenceEvent> events = TakeEvents();
  EXPECT_THAT(ActiveEpochs(events), ElementsAre(t + 7, t + 7));
  for (const PresenceEvent& e : events) {
    EXPECT_EQ(e.sequence & 0xffffffffu, e.type == EventType::kActive ? 1u : 2u);
  }
}

TEST_P(StoreConformanceTest, ARestartedStoreDoesNotReuseEpochs) {
  const uint64_t t = absl::ToUnixSeconds(clock_.Now());
  for (int i = 0; i < 3; ++i) {
    Join("alice", {"lobby"});
    ASSERT_TRUE(presence_->Leave(LeaveOf("alice", {"lobby"})).ok());
  }
  std::vector<PresenceEvent> before = TakeEvents();
  EXPECT_THAT(ActiveEpochs(before), ElementsAre(t, t + 1, t + 2));
  // A restart: a new store on the same clock, which has moved on by as much
  // as the epochs ran ahead (for Redis, a Redis that lost its data).
  store_->RemoveListener(&events_);
  presence_.reset();
  store_.reset();
  clock_.Advance(absl::Seconds(3));
  store_ = GetParam().make(&clock_, config_);
  ASSERT_NE(store_, nullptr);
  presence_ = std::make_unique<Presence>(store_.get(), limits_);
  store_->AddListener(&events_);
  Join("alice", {"lobby"});
  std::vector<PresenceEvent> after = TakeEvents();
  EXPECT_THAT(ActiveEpochs(after), ElementsAre(t + 3));
  for (const PresenceEvent& old : before) {
    for (const PresenceEvent& e : after) EXPECT_GT(e.sequence, old.sequence);
  }
}

TEST_P(StoreConformanceTest, ANewListenerGetsEveryGroupFirst) {
  ASSERT_TRUE(presence_->AddChannelsToGroup("g2", {"z"}).ok());
  ASSERT_TRUE(presence_->AddChannelsToGroup("g1", {"b", "a"}).ok());
  ASSERT_TRUE(presence_->AddChannelsToGroup("gone", {"x"}).ok());
  ASSERT_TRUE(presence_->DeleteGroup("gone").ok());
  Join("alice", {"a"});
  TakeEvents();  // Everything so far is delivered.
  EventRecorder late;
  store_->AddListener(&late);
  // The replay comes before anything later: a change and an event.
  std::vector<GroupChange> replay = late.TakeGroupChanges();
  ASSERT_EQ(replay.size(), 2u);
  EXPECT_EQ(replay[0].group, "g1");
  EXPECT_THAT(replay[0].channels, ElementsAre("a", "b"));
  EXPECT_EQ(replay[1].group, "g2");
  EXPECT_THAT(replay[1].channels, ElementsAre("z"));
  EXPECT_THAT(late.Take(), IsEmpty());
  ASSERT_TRUE(presence_->RemoveChannelsFromGroup("g1", {"a"}).ok());
  Join("bob", {"a"});
  ASSERT_TRUE(store_->SyncEvents().ok());
  std::vector<GroupChange> changes = late.TakeGroupChanges();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].group, "g1");
  EXPECT_THAT(changes[0].channels, ElementsAre("b"));
  EXPECT_THAT(Summary(late.Take()), ElementsAre("join bob@a 2"));
  store_->RemoveListener(&late);
}

TEST_P(StoreConformanceTest, ExclusiveListenersGetEventsButNoGroupChanges) {
  ASSERT_TRUE(presence_->AddChannelsToGroup("g", {"a"}).ok());
  EventRecorder exclusive;
  store_->AddExclusiveListener(&exclusive);
  ASSERT_TRUE(presence_->AddChannelsToGroup("g", {"b"}).ok());
  Join("alice", {"lobby"});
  // A store of several replicas delivers them from one replica, later.
  std::vector<PresenceEvent> events;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (events.size() < 2 && absl::Now() < deadline) {
    std::vector<PresenceEvent> more = exclusive.Take();
    events.insert(events.end(), more.begin(), more.end());
    if (events.size() < 2) absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_THAT(Summary(events),
              ElementsAre("active@lobby 1", "join alice@lobby 1"));
  store_->RemoveExclusiveListener(&exclusive);
  EXPECT_THAT(exclusive.TakeGroupChanges(), IsEmpty());
}

TEST_P(StoreConformanceTest, UsersAreIsolated) {
  Join("alice", {"a"});
  Join("bob", {"b"});
  ASSERT_TRUE(presence_->Leave(LeaveOf("bob", {"a"})).ok());
  EXPECT_THAT(WhereNow(*presence_, "alice"), ElementsAre("a"));
  EXPECT_THAT(WhereNow(*presence_, "bob"), ElementsAre("b"));
  EXPECT_THAT(WhereNow(*presence_, "nobody"), IsEmpty());
  EXPECT_EQ(presence_->SetState(SetStateOf("bob", {"a"}, "{}")).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// The per-user limits are enforced by the store in the heartbeat's atomic
// step: a refused heartbeat changes nothing, and concurrent heartbeats
// cannot together pass a limit.
HeartbeatRequest BeatOf(const std::string& user,
                        std::vector<std::string> channels,
                        const std::string& session = "",
                        uint32_t timeout_seconds = 60) {
  HeartbeatRequest request;
  request.user_id = user;
  request.channels = std::move(channels);
  request.session_id = session;
  request.timeout_seconds = timeout_seconds;
  return request;
}

TEST_P(StoreConformanceTest, SessionsPerUserLimitRefusesANewSession) {
  store_->RemoveListener(&events_);
  presence_.reset();
  store_.reset();
  config_.limits.max_sessions_per_user = 2;
  store_ = GetParam().make(&clock_, config_);
  presence_ = std::make_unique<Presence>(store_.get(), limits_);
  store_->AddListener(&events_);

  Join("alice", {"lobby"}, 60, "phone");
  Join("alice", {"hall"}, 5, "laptop");
  Join("bob", {"lobby"}, 60, "one");
  Join("bob", {"lobby"}, 60, "two");
  TakeEvents();
  absl::Status refused =
      presence_->Heartbeat(BeatOf("alice", {"lobby", "attic"}, "tablet"))
          .status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(refused.message()),
              testing::AllOf(testing::HasSubstr("'alice'"),
                             testing::HasSubstr("max_sessions_per_user is 2")));
  EXPECT_EQ(UserLimitOf(refused), UserLimit::kSessionsPerUser);
  // Nothing changed.
  EXPECT_THAT(TakeEvents(), IsEmpty());
  EXPECT_THAT(WhereNow(*presence_, "alice"), ElementsAre("hall", "lobby"));
  // Sessions the user has go on, anywhere.
  EXPECT_TRUE(presence_->Heartbeat(BeatOf("alice", {"attic"}, "phone")).ok());
  // Once a session times out, another may start.
  Advance(absl::Seconds(6));
  EXPECT_TRUE(presence_->Heartbeat(BeatOf("alice", {"lobby"}, "tablet")).ok());
  EXPECT_EQ(
      presence_->Heartbeat(BeatOf("alice", {"lobby"}, "watch")).status().code(),
      absl::StatusCode::kResourceExhausted);
  // A leave ends a session too.
  ASSERT_TRUE(
      presence_->Leave(LeaveOf("alice", {"lobby", "attic"}, "phone")).ok());
  EXPECT_TRUE(presence_->Heartbeat(BeatOf("alice", {"lobby"}, "watch")).ok());
}

TEST_P(StoreConformanceTest, ChannelsPerUserLimitRefusesMoreChannels) {
  store_->RemoveListener(&events_);
  presence_.reset();
  store_.reset();
  config_.limits.max_channels_per_user = 2;
  store_ = GetParam().make(&clock_, config_);
  presence_ = std::make_unique<Presence>(store_.get(), limits_);
  store_->AddListener(&events_);

  Join("alice", {"a"});
  TakeEvents();
  absl::Status refused =
      presence_->Heartbeat(BeatOf("alice", {"b", "c"})).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(refused.message()),
              testing::AllOf(testing::HasSubstr("'alice'"),
                             testing::HasSubstr("max_channels_per_user is 2")));
  EXPECT_EQ(UserLimitOf(refused), UserLimit::kChannelsPerUser);
  EXPECT_THAT(TakeEvents(), IsEmpty());
  EXPECT_THAT(WhereNow(*presence_, "alice"), ElementsAre("a"));
  // Up to the limit, and again on the same channels, with any session.
  EXPECT_TRUE(presence_->Heartbeat(BeatOf("alice", {"a", "b"})).ok());
  EXPECT_TRUE(presence_->Heartbeat(BeatOf("alice", {"a", "b"}, "s")).ok());
  // Through a group too.
  ASSERT_TRUE(presence_->AddChannelsToGroup("g", {"b", "c"}).ok());
  HeartbeatRequest by_group = BeatOf("alice", {});
  by_group.channel_groups = {"g"};
  EXPECT_EQ(presence_->Heartbeat(by_group).status().code(),
            absl::StatusCode::kResourceExhausted);
  // Other users are not affected.
  Join("bob", {"a", "b"});
  // Leaving makes room.
  ASSERT_TRUE(presence_->Leave(LeaveOf("alice", {"a"})).ok());
  ASSERT_TRUE(presence_->Leave(LeaveOf("alice", {"a"}, "s")).ok());
  EXPECT_TRUE(presence_->Heartbeat(BeatOf("alice", {"c"})).ok());
  EXPECT_THAT(WhereNow(*presence_, "alice"), ElementsAre("b", "c"));
}

TEST_P(StoreConformanceTest, UserLimitsRefuseOnlyTheirBatchEntry) {
  store_->RemoveListener(&events_);
  presence_.reset();
  store_.reset();
  config_.limits.max_channels_per_user = 2;
  store_ = GetParam().make(&clock_, config_);
  presence_ = std::make_unique<Presence>(store_.get(), limits_);
  store_->AddListener(&events_);

  BatchRequest batch;
  for (const auto& [user, channel] :
       std::vector<std::pair<std::string, std::string>>{
           {"alice", "a"}, {"alice", "b"}, {"alice", "c"}, {"bob", "c"}}) {
    BatchEntry entry;
    entry.heartbeat = BeatOf(user, {channel});
    batch.entries.push_back(std::move(entry));
  }
  absl::StatusOr<BatchResult> result = presence_->Batch(batch);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->results.size(), 4u);
  EXPECT_TRUE(result->results[0].status.ok());
  EXPECT_TRUE(result->results[1].status.ok());
  EXPECT_EQ(result->results[2].status.code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(result->results[3].status.ok());
  EXPECT_THAT(WhereNow(*presence_, "alice"), ElementsAre("a", "b"));
  EXPECT_THAT(WhereNow(*presence_, "bob"), ElementsAre("c"));
}

TEST_P(StoreConformanceTest, UserLimitsHoldUnderConcurrentHeartbeats) {
  store_->RemoveListener(&events_);
  presence_.reset();
  store_.reset();
  config_.limits.max_sessions_per_user = 3;
  config_.limits.max_channels_per_user = 3;
  store_ = GetParam().make(&clock_, config_);
  presence_ = std::make_unique<Presence>(store_.get(), limits_);
  store_->AddListener(&events_);

  constexpr int kThreads = 8;
  std::atomic<int> sessions_ok{0};
  std::atomic<int> channels_ok{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // A new session of alice each, and a new channel of bob each.
      if (presence_->Heartbeat(BeatOf("alice", {"lobby"}, absl::StrCat("s", t)))
              .ok()) {
        ++sessions_ok;
      }
      if (presence_->Heartbeat(BeatOf("bob", {absl::StrCat("c", t)})).ok()) {
        ++channels_ok;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(sessions_ok.load(), 3);
  EXPECT_EQ(channels_ok.load(), 3);
  EXPECT_EQ(WhereNow(*presence_, "bob").size(), 3u);
}

}  // namespace
}  // namespace presence
