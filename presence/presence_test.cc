// The Presence facade: validation of every request before it reaches a
// store, normalisation, and the heartbeat response.
#include "presence/presence.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "presence/clock.h"
#include "presence/store/memory/memory_store.h"

namespace presence {
namespace {

using ::testing::HasSubstr;

class PresenceTest : public testing::Test {
 protected:
  PresenceTest()
      : store_(NewMemoryStore(MemoryStoreOptions(), &clock_)),
        presence_(store_.get(), Limits()) {}

  // Expects INVALID_ARGUMENT mentioning each of `parts`, and no change.
  template <typename T>
  void ExpectInvalid(const absl::StatusOr<T>& result,
                     std::vector<std::string> parts) {
    ExpectInvalid(result.status(), parts);
  }
  void ExpectInvalid(const absl::Status& status,
                     std::vector<std::string> parts) {
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    for (const std::string& part : parts) {
      EXPECT_THAT(std::string(status.message()), HasSubstr(part));
    }
    EXPECT_EQ(presence_.HereNow(HereNowRequest())->total_channels, 0u);
    EXPECT_TRUE(presence_.ListGroups()->empty());
  }

  HeartbeatRequest Heartbeat() {
    HeartbeatRequest request;
    request.user_id = "alice";
    request.channels = {"lobby"};
    return request;
  }

  SimulatedClock clock_;
  std::unique_ptr<PresenceStore> store_;
  Presence presence_;
};

TEST_F(PresenceTest, HeartbeatAppliesDefaultTimeoutAndSuggestsInterval) {
  absl::StatusOr<HeartbeatResult> result = presence_.Heartbeat(Heartbeat());
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->timeout_seconds, 300u);
  EXPECT_EQ(result->heartbeat_interval_seconds, 149u);
  HeartbeatRequest request = Heartbeat();
  request.timeout_seconds = 20;
  result = presence_.Heartbeat(request);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->timeout_seconds, 20u);
  EXPECT_EQ(result->heartbeat_interval_seconds, 9u);
}

TEST_F(PresenceTest, ShortTimeoutsStillSuggestAtLeastOneSecond) {
  Limits limits;
  limits.min_timeout_seconds = 1;
  Presence presence(store_.get(), limits);
  HeartbeatRequest request = Heartbeat();
  request.timeout_seconds = 2;
  absl::StatusOr<HeartbeatResult> result = presence.Heartbeat(request);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->heartbeat_interval_seconds, 1u);
}

TEST_F(PresenceTest, IntervalIsMaxOfOneAndHalfTheTimeoutLessOne) {
  Limits limits;
  limits.min_timeout_seconds = 1;
  Presence presence(store_.get(), limits);
  // timeout -> max(1, timeout / 2 - 1), in whole seconds; no underflow.
  const std::pair<uint32_t, uint32_t> cases[] = {
      {1, 1}, {2, 1}, {3, 1}, {4, 1}, {5, 1}, {6, 2}, {3600, 1799}};
  for (const auto& [timeout, interval] : cases) {
    HeartbeatRequest request = Heartbeat();
    request.timeout_seconds = timeout;
    absl::StatusOr<HeartbeatResult> result = presence.Heartbeat(request);
    ASSERT_TRUE(result.ok()) << timeout << ": " << result.status();
    EXPECT_EQ(result->timeout_seconds, timeout);
    EXPECT_EQ(result->heartbeat_interval_seconds, interval) << timeout;
  }
  EXPECT_EQ(limits.max_timeout_seconds, 3600u);
}

TEST_F(PresenceTest, TimeoutOutsideBoundsIsRefused) {
  HeartbeatRequest request = Heartbeat();
  request.timeout_seconds = 19;
  ExpectInvalid(presence_.Heartbeat(request),
                {"timeout_seconds", "19", "[20, 3600]"});
  request.timeout_seconds = 3601;
  ExpectInvalid(presence_.Heartbeat(request), {"timeout_seconds", "3601"});
}

TEST_F(PresenceTest, UserIdIsValidatedEverywhere) {
  HeartbeatRequest heartbeat = Heartbeat();
  heartbeat.user_id = "";
  ExpectInvalid(presence_.Heartbeat(heartbeat), {"user_id", "empty"});
  heartbeat.user_id = "has space";
  ExpectInvalid(presence_.Heartbeat(heartbeat), {"user_id", "whitespace"});
  heartbeat.user_id = std::string(93, 'u');
  ExpectInvalid(presence_.Heartbeat(heartbeat), {"user_id", "92"});
  ExpectInvalid(presence_.WhereNow({"tab\there"}), {"user_id"});
  SetStateRequest set;
  set.channels = {"lobby"};
  ExpectInvalid(presence_.SetState(set), {"user_id"});
  GetStateRequest get;
  get.channels = {"lobby"};
  ExpectInvalid(presence_.GetState(get), {"user_id"});
  LeaveRequest leave;
  leave.channels = {"lobby"};
  ExpectInvalid(presence_.Leave(leave), {"user_id"});
}

TEST_F(PresenceTest, SessionIdMayBeEmptyButMustBePrintable) {
  HeartbeatRequest request = Heartbeat();
  request.session_id = "tab 1";
  ExpectInvalid(presence_.Heartbeat(request), {"session_id", "whitespace"});
  LeaveRequest leave;
  leave.user_id = "alice";
  leave.channels = {"lobby"};
  leave.session_id = std::string(93, 's');
  ExpectInvalid(presence_.Leave(leave), {"session_id"});
}

TEST_F(PresenceTest, ChannelNamesAreValidated) {
  HeartbeatRequest request = Heartbeat();
  request.channels = {"ok", "a,b"};
  ExpectInvalid(presence_.Heartbeat(request), {"channels[1]", "','"});
  request.channels = {"lobby-pnpres"};
  ExpectInvalid(presence_.Heartbeat(request), {"channels[0]", "-pnpres"});
  request.channels = {""};
  ExpectInvalid(presence_.Heartbeat(request), {"channels[0]", "empty"});
}

TEST_F(PresenceTest, RequestsNeedAChannelOrGroup) {
  HeartbeatRequest request = Heartbeat();
  request.channels.clear();
  ExpectInvalid(presence_.Heartbeat(request),
                {"channels", "channel_groups", "required"});
  LeaveRequest leave;
  leave.user_id = "alice";
  ExpectInvalid(presence_.Leave(leave), {"required"});
  SetStateRequest set;
  set.user_id = "alice";
  ExpectInvalid(presence_.SetState(set), {"required"});
  GetStateRequest get;
  get.user_id = "alice";
  ExpectInvalid(presence_.GetState(get), {"required"});
  ExpectInvalid(presence_.AddChannelsToGroup("g", {}),
                {"channels", "required"});
  ExpectInvalid(presence_.RemoveChannelsFromGroup("g", {}),
                {"channels", "required"});
}

TEST_F(PresenceTest, TooManyChannelsOrGroupsAreRefused) {
  HeartbeatRequest request = Heartbeat();
  request.channels.clear();
  for (int i = 0; i < 1001; ++i)
    request.channels.push_back(absl::StrCat("c", i));
  ExpectInvalid(presence_.Heartbeat(request),
                {"channels", "1001", "at most 1000"});
  request = Heartbeat();
  for (int i = 0; i < 11; ++i)
    request.channel_groups.push_back(absl::StrCat("g", i));
  ExpectInvalid(presence_.Heartbeat(request),
                {"channel_groups", "11", "at most 10"});
  HereNowRequest here;
  here.channel_groups = request.channel_groups;
  ExpectInvalid(presence_.HereNow(here), {"channel_groups"});
}

TEST_F(PresenceTest, GroupNamesAreValidated) {
  ExpectInvalid(presence_.AddChannelsToGroup("bad/group", {"a"}),
                {"group", "'/'"});
  ExpectInvalid(presence_.AddChannelsToGroup("g", {"a", "b*"}),
                {"channels[1]", "'*'"});
  ExpectInvalid(presence_.ListChannelsInGroup(""), {"group", "empty"});
  ExpectInvalid(presence_.DeleteGroup("x:y"), {"group"});
  HeartbeatRequest request = Heartbeat();
  request.channel_groups = {"friends-pnpres"};
  ExpectInvalid(presence_.Heartbeat(request), {"channel_groups[0]", "-pnpres"});
}

TEST_F(PresenceTest, HereNowLimitIsBounded) {
  HereNowRequest request;
  request.limit = 1001;
  ExpectInvalid(presence_.HereNow(request), {"limit", "1001", "1000"});
  request.limit = 1000;
  EXPECT_TRUE(presence_.HereNow(request).ok());
}

TEST_F(PresenceTest, StatesAreValidated) {
  ASSERT_TRUE(presence_.Heartbeat(Heartbeat()).ok());
  SetStateRequest set;
  set.user_id = "alice";
  set.channels = {"lobby"};
  set.state = "[1,2]";
  absl::Status status = presence_.SetState(set).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("state: must be a JSON object"));
  set.state = R"({"a":NaN})";
  EXPECT_EQ(presence_.SetState(set).status().code(),
            absl::StatusCode::kInvalidArgument);
  set.state = absl::StrCat(R"({"big":")", std::string(33 * 1024, 'x'), R"("})");
  status = presence_.SetState(set).status();
  EXPECT_THAT(std::string(status.message()), HasSubstr("at most 32768"));

  HeartbeatRequest request = Heartbeat();
  request.states = {{"elsewhere", "{}"}};
  status = presence_.Heartbeat(request).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr(R"(states["elsewhere"])"));
  request.states = {{"lobby", "1"}};
  status = presence_.Heartbeat(request).status();
  EXPECT_THAT(std::string(status.message()),
              HasSubstr(R"(states["lobby"]: must be a JSON object)"));
  GetStateRequest get;
  get.user_id = "alice";
  get.channels = {"lobby"};
  EXPECT_EQ(presence_.GetState(get)->states.at(0).state, "");
}

TEST_F(PresenceTest, DuplicateNamesAreMerged) {
  HeartbeatRequest request = Heartbeat();
  request.channels = {"b", "a", "b"};
  ASSERT_TRUE(presence_.Heartbeat(request).ok());
  EXPECT_THAT(presence_.WhereNow({"alice"})->channels,
              testing::ElementsAre("a", "b"));
  HereNowRequest here;
  here.channels = {"a", "a"};
  EXPECT_EQ(presence_.HereNow(here)->total_channels, 1u);
}

}  // namespace
}  // namespace presence

namespace presence {
namespace {

class PresenceBatchTest : public testing::Test {
 protected:
  PresenceBatchTest()
      : store_(NewMemoryStore(MemoryStoreOptions(), &clock_)),
        presence_(store_.get(), Limits()) {}

  static BatchEntry Beat(const std::string& user, const std::string& channel,
                         uint32_t timeout = 0) {
    BatchEntry entry;
    entry.heartbeat.user_id = user;
    entry.heartbeat.channels = {channel};
    entry.heartbeat.timeout_seconds = timeout;
    return entry;
  }

  static BatchEntry Leave(const std::string& user, const std::string& channel) {
    BatchEntry entry;
    entry.kind = BatchEntry::Kind::kLeave;
    entry.leave.user_id = user;
    entry.leave.channels = {channel};
    return entry;
  }

  SimulatedClock clock_;
  std::unique_ptr<PresenceStore> store_;
  Presence presence_;
};

TEST_F(PresenceBatchTest, AppliesEachEntryAndReportsEachOutcome) {
  BatchRequest request;
  request.entries = {Beat("alice", "lobby", 60), Beat("bob", "bad channel"),
                     Beat("carol", "lobby"), Leave("alice", "lobby")};
  BatchEntry missing_group = Beat("dave", "lobby");
  missing_group.heartbeat.channel_groups = {"nope"};
  request.entries.push_back(missing_group);
  absl::StatusOr<BatchResult> result = presence_.Batch(std::move(request));
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->results.size(), 5u);
  EXPECT_TRUE(result->results[0].status.ok());
  EXPECT_EQ(result->results[0].heartbeat.timeout_seconds, 60u);
  EXPECT_EQ(result->results[0].heartbeat.heartbeat_interval_seconds, 29u);
  EXPECT_EQ(result->results[1].status.code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result->results[1].status.message()),
              testing::StartsWith("entries[1].heartbeat.channels[0]: "));
  EXPECT_EQ(result->results[2].heartbeat.timeout_seconds, 300u);
  EXPECT_TRUE(result->results[3].status.ok());
  EXPECT_EQ(result->results[3].leave.channels,
            std::vector<std::string>{"lobby"});
  EXPECT_EQ(result->results[4].status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(result->results[4].status.message()),
              testing::StartsWith("entries[4]: channel group 'nope'"));
  // Only carol stays: bob was refused, alice left, dave's group is missing.
  HereNowRequest here;
  here.channels = {"lobby"};
  absl::StatusOr<HereNowResult> now = presence_.HereNow(here);
  ASSERT_EQ(now->channels.size(), 1u);
  ASSERT_EQ(now->channels[0].occupants.size(), 1u);
  EXPECT_EQ(now->channels[0].occupants[0].user_id, "carol");
}

TEST_F(PresenceBatchTest, TooManyEntriesFailTheWholeBatch) {
  Limits limits;
  limits.max_batch_entries = 2;
  Presence small(store_.get(), limits);
  BatchRequest request;
  request.entries = {Beat("a", "x"), Beat("b", "x"), Beat("c", "x")};
  absl::StatusOr<BatchResult> result = small.Batch(std::move(request));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(result.status().message(),
            "entries: 3 entries is more than the maximum 2");
  HereNowRequest here;
  EXPECT_EQ(presence_.HereNow(here)->total_channels, 0u);
}

TEST_F(PresenceBatchTest, AsyncCallsAnswerThroughTheCallback) {
  absl::StatusOr<HeartbeatResult> beat;
  HeartbeatRequest heartbeat;
  heartbeat.user_id = "alice";
  heartbeat.channels = {"lobby"};
  presence_.HeartbeatAsync(heartbeat, [&](absl::StatusOr<HeartbeatResult> r) {
    beat = std::move(r);
  });
  ASSERT_TRUE(beat.ok());
  EXPECT_EQ(beat->heartbeat_interval_seconds, 149u);

  absl::StatusOr<HereNowResult> here;
  HereNowRequest query;
  query.channels = {"lobby"};
  presence_.HereNowAsync(query,
                         [&](absl::StatusOr<HereNowResult> r) { here = r; });
  ASSERT_TRUE(here.ok());
  EXPECT_EQ(here->total_occupancy, 1u);

  absl::StatusOr<LeaveResult> left = absl::UnknownError("not called");
  LeaveRequest leave;
  leave.user_id = "";  // Invalid: answered before the call returns.
  leave.channels = {"lobby"};
  presence_.LeaveAsync(leave, [&](absl::StatusOr<LeaveResult> r) { left = r; });
  EXPECT_EQ(left.status().code(), absl::StatusCode::kInvalidArgument);

  absl::StatusOr<BatchResult> batch;
  BatchRequest request;
  request.entries = {Beat("bob", "lobby")};
  presence_.BatchAsync(std::move(request),
                       [&](absl::StatusOr<BatchResult> r) { batch = r; });
  ASSERT_TRUE(batch.ok());
  EXPECT_TRUE(batch->results[0].status.ok());

  absl::Status added = absl::UnknownError("not called");
  presence_.AddChannelsToGroupAsync("friends", {"lobby"},
                                    [&](absl::Status s) { added = s; });
  EXPECT_TRUE(added.ok());
  absl::StatusOr<std::vector<std::string>> groups;
  presence_.ListGroupsAsync(
      [&](absl::StatusOr<std::vector<std::string>> r) { groups = r; });
  EXPECT_EQ(*groups, std::vector<std::string>{"friends"});
}

}  // namespace
}  // namespace presence
