// The C++ client SDK (client/presence_client.h) against the real presence
// server, in-process on a free port over the memory store. Checks that every
// call's options reach the server and its answer comes back, that errors keep
// their code and message, and the SDK's own contracts: client-side state
// validation, deadlines, execute_async(), sharing a client across threads and
// destroying it while callbacks are pending. Time-based behaviour moves the
// server's simulated clock instead of sleeping.

#include <atomic>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "client/json.h"
#include "client/presence_client.h"
#include "gmock/gmock.h"
#include "grpcpp/channel.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "presence/event.h"
#include "presence/testing/event_recorder.h"
#include "service/testing/test_server.h"

namespace presence {
namespace {

using ::presence::client::GetStateResult;
using ::presence::client::HeartbeatResult;
using ::presence::client::HereNowResult;
using ::presence::client::Json;
using ::presence::client::LeaveResult;
using ::presence::client::ListChannelsResult;
using ::presence::client::ListGroupsResult;
using ::presence::client::PresenceClient;
using ::presence::client::SetStateResult;
using ::presence::client::WhereNowCall;
using ::presence::client::WhereNowResult;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Runs `call` with execute_async() and returns what its callback received.
// The call's deadline bounds the wait.
template <typename Call>
typename Call::Outcome ExecuteAsync(const Call& call) {
  absl::Notification done;
  std::optional<typename Call::Outcome> outcome;
  call.execute_async([&](typename Call::Outcome result) {
    outcome.emplace(std::move(result));
    done.Notify();
  });
  done.WaitForNotification();
  return *std::move(outcome);
}

// Returns the channel names of `result`, in order.
std::vector<std::string> Names(const HereNowResult& result) {
  std::vector<std::string> names;
  for (const auto& channel : result.channels) names.push_back(channel.name);
  return names;
}

// Returns the user ids listed on channel `index` of `result`.
std::vector<std::string> Occupants(const HereNowResult& result, size_t index) {
  std::vector<std::string> users;
  for (const auto& user : result.channels.at(index).occupants) {
    users.push_back(user.user_id);
  }
  return users;
}

class PresenceClientTest : public ::testing::Test {
 protected:
  // Returns a client of the test server acting for `user_id`.
  PresenceClient Client(std::string user_id = "alice",
                        absl::Duration timeout = absl::Seconds(5)) {
    return PresenceClient({.target = server_.address(),
                           .user_id = std::move(user_id),
                           .timeout = timeout});
  }

  // Makes `user_id` present on `channel`, with `state` unless it is null.
  void Join(const std::string& user_id, const std::string& channel,
            Json state = nullptr) {
    client::HeartbeatCall call =
        Client(user_id).heartbeat().channels({channel});
    if (!state.is_null()) call.state(channel, std::move(state));
    absl::StatusOr<HeartbeatResult> result = call.execute();
    ASSERT_TRUE(result.ok()) << result.status();
  }

  TestServer server_;
};

TEST_F(PresenceClientTest, HereNowSendsOptionsAndReadsOccupants) {
  Join("alice", "lobby", Json::object({{"mood", "happy"}}));
  Join("bob", "lobby");
  Join("carol", "lobby", Json::object({{"mood", "busy"}}));
  Join("dave", "hall");
  PresenceClient client = Client();
  ASSERT_TRUE(client.add_channels_to_group("friends")
                  .channels({"hall"})
                  .execute()
                  .ok());

  // "attic" is named, so it is listed although empty.
  absl::StatusOr<HereNowResult> result = client.here_now()
                                             .channels({"lobby", "attic"})
                                             .channel_groups({"friends"})
                                             .include_state(true)
                                             .limit(2)
                                             .execute();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->total_channels, 3u);
  EXPECT_EQ(result->total_occupancy, 4u);
  ASSERT_THAT(Names(*result), ElementsAre("attic", "hall", "lobby"));
  EXPECT_EQ(result->channels[0].occupancy, 0u);
  EXPECT_THAT(result->channels[0].occupants, IsEmpty());
  EXPECT_EQ(result->channels[1].occupancy, 1u);
  EXPECT_THAT(Occupants(*result, 1), ElementsAre("dave"));
  const client::HereNowChannel& lobby = result->channels[2];
  EXPECT_EQ(lobby.occupancy, 3u);  // Whatever the limit.
  ASSERT_THAT(Occupants(*result, 2), ElementsAre("alice", "bob"));
  EXPECT_EQ(lobby.occupants[0].state, Json::object({{"mood", "happy"}}));
  EXPECT_FALSE(lobby.occupants[1].state.has_value());

  result = client.here_now()
               .channels({"lobby"})
               .include_state(true)
               .limit(2)
               .offset(1)
               .execute();
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_THAT(Occupants(*result, 0), ElementsAre("bob", "carol"));
  EXPECT_EQ(result->channels[0].occupants[1].state,
            Json::object({{"mood", "busy"}}));

  // Occupants are listed by default, without state.
  result = client.here_now().channels({"lobby"}).execute();
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_THAT(Occupants(*result, 0), ElementsAre("alice", "bob", "carol"));
  for (const auto& user : result->channels[0].occupants) {
    EXPECT_FALSE(user.state.has_value()) << user.user_id;
  }

  result = client.here_now()
               .channels({"lobby"})
               .include_user_ids(false)
               .include_state(true)
               .execute();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->channels.at(0).occupancy, 3u);
  EXPECT_THAT(result->channels[0].occupants, IsEmpty());

  // No channels and no groups: every occupied channel.
  result = client.here_now().include_user_ids(false).execute();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(Names(*result), ElementsAre("hall", "lobby"));
  EXPECT_EQ(result->total_occupancy, 4u);
}

TEST_F(PresenceClientTest, CallsActForTheClientsUserUnlessTheySetOne) {
  PresenceClient alice = Client("alice");
  ASSERT_TRUE(alice.heartbeat().channels({"lobby"}).execute().ok());
  ASSERT_TRUE(
      alice.heartbeat().user_id("bob").channels({"hall"}).execute().ok());
  EXPECT_EQ(alice.user_id(), "alice");

  absl::StatusOr<WhereNowResult> where = alice.where_now().execute();
  ASSERT_TRUE(where.ok()) << where.status();
  EXPECT_THAT(where->channels, ElementsAre("lobby"));
  where = alice.where_now().user_id("bob").execute();
  ASSERT_TRUE(where.ok()) << where.status();
  EXPECT_THAT(where->channels, ElementsAre("hall"));
  where = alice.where_now().user_id("nobody").execute();
  ASSERT_TRUE(where.ok()) << where.status();
  EXPECT_THAT(where->channels, IsEmpty());

  ASSERT_TRUE(alice.set_presence_state(Json::object({{"k", "bob's"}}))
                  .user_id("bob")
                  .channels({"hall"})
                  .execute()
                  .ok());
  absl::StatusOr<GetStateResult> state =
      alice.get_presence_state().user_id("bob").channels({"hall"}).execute();
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_EQ(state->state.size(), 1u);
  EXPECT_EQ(state->state[0].state, Json::object({{"k", "bob's"}}));

  absl::StatusOr<LeaveResult> left =
      alice.leave().user_id("bob").channels({"hall"}).execute();
  ASSERT_TRUE(left.ok()) << left.status();
  EXPECT_THAT(left->channels, ElementsAre("hall"));
  left = alice.leave().channels({"lobby"}).execute();
  ASSERT_TRUE(left.ok()) << left.status();
  EXPECT_THAT(left->channels, ElementsAre("lobby"));

  // A client without a user sends an empty user_id, which the server names.
  EXPECT_EQ(Client("").where_now().execute().status(),
            absl::InvalidArgumentError("user_id: must not be empty"));
}

TEST_F(PresenceClientTest, HeartbeatSetsStatesOnChannelsAndGroups) {
  PresenceClient client = Client();
  ASSERT_TRUE(client.add_channels_to_group("friends")
                  .channels({"a", "b"})
                  .execute()
                  .ok());

  absl::StatusOr<HeartbeatResult> beat =
      client.heartbeat()
          .channels({"lobby"})
          .channel_groups({"friends"})
          .timeout_seconds(60)
          .session_id("tab-1")
          .state("lobby", Json::object({{"mood", "happy"}, {"age", 30}}))
          .state("friends", Json::object({{"mood", "chatty"}}))
          .execute();
  ASSERT_TRUE(beat.ok()) << beat.status();
  EXPECT_EQ(beat->timeout_seconds, 60u);
  EXPECT_EQ(beat->heartbeat_interval_seconds, 29u);

  absl::StatusOr<WhereNowResult> where = client.where_now().execute();
  ASSERT_TRUE(where.ok()) << where.status();
  EXPECT_THAT(where->channels, ElementsAre("a", "b", "lobby"));

  absl::StatusOr<GetStateResult> state = client.get_presence_state()
                                             .channels({"lobby", "elsewhere"})
                                             .channel_groups({"friends"})
                                             .execute();
  ASSERT_TRUE(state.ok()) << state.status();
  // Only channels where the user is present, sorted.
  ASSERT_EQ(state->state.size(), 3u);
  EXPECT_EQ(state->state[0].channel_name, "a");
  EXPECT_EQ(state->state[0].state, Json::object({{"mood", "chatty"}}));
  EXPECT_EQ(state->state[1].channel_name, "b");
  EXPECT_EQ(state->state[1].state, Json::object({{"mood", "chatty"}}));
  EXPECT_EQ(state->state[2].channel_name, "lobby");
  EXPECT_EQ(state->state[2].state,
            Json::object({{"age", 30}, {"mood", "happy"}}));

  // Without timeout_seconds the server's default applies; a heartbeat
  // without state keeps the state.
  beat = client.heartbeat().channels({"lobby"}).session_id("tab-1").execute();
  ASSERT_TRUE(beat.ok()) << beat.status();
  EXPECT_EQ(beat->timeout_seconds, 300u);
  EXPECT_EQ(beat->heartbeat_interval_seconds, 149u);
  state = client.get_presence_state().channels({"lobby"}).execute();
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_EQ(state->state.size(), 1u);
  EXPECT_EQ(state->state[0].state,
            Json::object({{"age", 30}, {"mood", "happy"}}));
}

TEST_F(PresenceClientTest, SetStateOnChannelsAndGroups) {
  PresenceClient client = Client();
  ASSERT_TRUE(client.add_channels_to_group("friends")
                  .channels({"a", "b"})
                  .execute()
                  .ok());
  ASSERT_TRUE(client.heartbeat().channels({"lobby", "a"}).execute().ok());

  // A group's channels where the user is absent ("b") are skipped.
  Json state = Json::object(
      {{"mood", "busy"}, {"tags", Json::array({"x", 1.5, true, nullptr})}});
  absl::StatusOr<SetStateResult> set = client.set_presence_state(state)
                                           .channels({"lobby"})
                                           .channel_groups({"friends"})
                                           .execute();
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_THAT(set->channels, ElementsAre("a", "lobby"));
  EXPECT_EQ(set->state, state);

  absl::StatusOr<GetStateResult> got =
      client.get_presence_state().channels({"a", "lobby"}).execute();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->state.size(), 2u);
  EXPECT_EQ(got->state[0].state, state);
  EXPECT_EQ(got->state[1].state, state);

  // An empty object clears the state.
  set = client.set_presence_state(Json::object({})).channels({"a"}).execute();
  ASSERT_TRUE(set.ok()) << set.status();
  got = client.get_presence_state().channels({"a"}).execute();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->state.size(), 1u);
  EXPECT_EQ(got->state[0].state, Json::object({}));
}

TEST_F(PresenceClientTest, InvalidStateFailsWithoutAnRpc) {
  const Json happy = Json::object({{"mood", "happy"}});
  Join("alice", "lobby", happy);
  PresenceClient client = Client();

  absl::Status status = client.set_presence_state(Json::array({1}))
                            .channels({"lobby"})
                            .execute()
                            .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("state: must be a JSON object"));

  // A heartbeat on a new channel would make alice present there.
  status = client.heartbeat()
               .channels({"hall"})
               .state("hall", Json::object({{"x", std::nan("")}}))
               .execute()
               .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("states[\"hall\"]: number at JSON"));

  // The callback runs before execute_async() returns.
  absl::Notification done;
  client.set_presence_state("text").channels({"lobby"}).execute_async(
      [&](const absl::StatusOr<SetStateResult>& result) {
        EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
        done.Notify();
      });
  EXPECT_TRUE(done.HasBeenNotified());

  absl::StatusOr<GetStateResult> state =
      client.get_presence_state().channels({"lobby"}).execute();
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_EQ(state->state.size(), 1u);
  EXPECT_EQ(state->state[0].state, happy);
  absl::StatusOr<WhereNowResult> where = client.where_now().execute();
  ASSERT_TRUE(where.ok()) << where.status();
  EXPECT_THAT(where->channels, ElementsAre("lobby"));
}

TEST_F(PresenceClientTest, ServerErrorsKeepCodeAndMessage) {
  PresenceClient client = Client();
  EXPECT_EQ(client.set_presence_state(Json::object({{"mood", "happy"}}))
                .channels({"x"})
                .execute()
                .status(),
            absl::FailedPreconditionError(
                "user 'alice' is not present on channels: x (state can only "
                "be set where the user is present)"));
  EXPECT_EQ(client.here_now().limit(1001).execute().status(),
            absl::InvalidArgumentError("limit: 1001 is more than the maximum "
                                       "1000"));
  EXPECT_EQ(client.heartbeat()
                .channels({"lobby"})
                .timeout_seconds(3601)
                .execute()
                .status(),
            absl::InvalidArgumentError("timeout_seconds: 3601 is outside [1, "
                                       "3600] (0 means the default, 300)"));

  absl::Status status =
      client.heartbeat().channels({"lobby", "a,b"}).execute().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("channels[1]: \"a,b\""));
  status = client.leave().execute().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("channels, channel_groups:"));

  EXPECT_EQ(client.here_now().channel_groups({"nobody"}).execute().status(),
            absl::NotFoundError("channel group 'nobody' does not exist"));
  EXPECT_EQ(client.list_channels_in_group("nobody").execute().status(),
            absl::NotFoundError("channel group 'nobody' does not exist"));
}

// The deadlines here are already past when the call is sent, so the calls
// fail every time. A zero timeout would not: against a local server the
// answer can arrive before gRPC's deadline timer fires.
TEST_F(PresenceClientTest, EveryCallHasADeadline) {
  constexpr absl::Duration kPast = -absl::Seconds(1);
  PresenceClient expired = Client("alice", kPast);
  EXPECT_EQ(expired.where_now().execute().status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(ExecuteAsync(expired.list_groups()).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(expired.where_now().timeout(absl::Seconds(5)).execute().ok());

  PresenceClient client = Client();
  EXPECT_EQ(client.here_now().timeout(kPast).execute().status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(ExecuteAsync(client.where_now().timeout(kPast)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(client.here_now().execute().ok());
}

TEST_F(PresenceClientTest, ExecuteAsyncDeliversEachKindOfResult) {
  PresenceClient client = Client();
  EXPECT_TRUE(
      ExecuteAsync(client.add_channels_to_group("friends").channels({"a"}))
          .ok());

  absl::StatusOr<HeartbeatResult> beat =
      ExecuteAsync(client.heartbeat()
                       .channels({"lobby"})
                       .channel_groups({"friends"})
                       .timeout_seconds(30)
                       .state("lobby", Json::object({{"mood", "happy"}})));
  ASSERT_TRUE(beat.ok()) << beat.status();
  EXPECT_EQ(beat->timeout_seconds, 30u);
  EXPECT_EQ(beat->heartbeat_interval_seconds, 14u);

  absl::StatusOr<HereNowResult> here =
      ExecuteAsync(client.here_now().channels({"lobby"}).include_state(true));
  ASSERT_TRUE(here.ok()) << here.status();
  ASSERT_THAT(Occupants(*here, 0), ElementsAre("alice"));
  EXPECT_EQ(here->channels[0].occupants[0].state,
            Json::object({{"mood", "happy"}}));

  absl::StatusOr<WhereNowResult> where = ExecuteAsync(client.where_now());
  ASSERT_TRUE(where.ok()) << where.status();
  EXPECT_THAT(where->channels, ElementsAre("a", "lobby"));

  absl::StatusOr<SetStateResult> set =
      ExecuteAsync(client.set_presence_state(Json::object({{"mood", "away"}}))
                       .channels({"lobby"}));
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_THAT(set->channels, ElementsAre("lobby"));

  absl::StatusOr<GetStateResult> got =
      ExecuteAsync(client.get_presence_state().channels({"lobby"}));
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->state.size(), 1u);
  EXPECT_EQ(got->state[0].state, Json::object({{"mood", "away"}}));

  absl::StatusOr<LeaveResult> left =
      ExecuteAsync(client.leave().channel_groups({"friends"}));
  ASSERT_TRUE(left.ok()) << left.status();
  EXPECT_THAT(left->channels, ElementsAre("a"));

  absl::StatusOr<ListGroupsResult> groups = ExecuteAsync(client.list_groups());
  ASSERT_TRUE(groups.ok()) << groups.status();
  EXPECT_THAT(groups->groups, ElementsAre("friends"));

  EXPECT_EQ(ExecuteAsync(client.delete_group("nobody")),
            absl::NotFoundError("channel group 'nobody' does not exist"));
  EXPECT_EQ(ExecuteAsync(
                client.set_presence_state(Json::object({})).channels({"hall"}))
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(PresenceClientTest, DestroyingTheClientWaitsForCallbacks) {
  Join("carol", "lobby");
  absl::Notification done;
  absl::StatusOr<WhereNowResult> result;
  {
    // The call object outlives the client it came from; destroying the last
    // of them blocks until the callback has returned.
    WhereNowCall call = Client().where_now().user_id("carol");
    call.execute_async([&](absl::StatusOr<WhereNowResult> r) {
      result = std::move(r);
      done.Notify();
    });
  }
  EXPECT_TRUE(done.HasBeenNotified());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(result->channels, ElementsAre("lobby"));
}

TEST_F(PresenceClientTest, ThreadsShareOneClient) {
  constexpr int kThreads = 8;
  constexpr int kCallsPerThread = 20;
  std::atomic<int> ok_results{0};
  std::atomic<int> callbacks{0};
  {
    PresenceClient client = Client();
    std::vector<std::thread> threads;
    threads.reserve(kThreads);
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        const std::string user = "user-" + std::to_string(i);
        const std::string channel = "room-" + std::to_string(i % 2);
        if (client.heartbeat()
                .user_id(user)
                .channels({channel})
                .execute()
                .ok()) {
          ++ok_results;
        }
        // Each thread reads its own user's channels through one call object.
        const WhereNowCall call = client.where_now().user_id(user);
        for (int j = 0; j < kCallsPerThread; ++j) {
          absl::StatusOr<WhereNowResult> where = call.execute();
          if (where.ok() && where->channels == std::vector{channel}) {
            ++ok_results;
          }
          call.execute_async(
              [&, channel](const absl::StatusOr<WhereNowResult>& r) {
                if (r.ok() && r->channels == std::vector{channel}) {
                  ++ok_results;
                }
                ++callbacks;
              });
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
  }  // Waits for the callbacks.
  EXPECT_EQ(callbacks.load(), kThreads * kCallsPerThread);
  EXPECT_EQ(ok_results.load(), kThreads * (1 + 2 * kCallsPerThread));

  absl::StatusOr<HereNowResult> here =
      Client().here_now().channels({"room-0", "room-1"}).execute();
  ASSERT_TRUE(here.ok()) << here.status();
  EXPECT_EQ(here->total_occupancy, static_cast<uint32_t>(kThreads));
  EXPECT_THAT(Occupants(*here, 0),
              ElementsAre("user-0", "user-2", "user-4", "user-6"));
}

TEST_F(PresenceClientTest, ClientsShareAChannel) {
  std::shared_ptr<grpc::Channel> channel = grpc::CreateChannel(
      server_.address(), grpc::InsecureChannelCredentials());
  PresenceClient alice =
      PresenceClient::FromChannel(channel, {.user_id = "alice"});
  PresenceClient bob = PresenceClient::FromChannel(channel, {.user_id = "bob"});
  ASSERT_TRUE(alice.heartbeat().channels({"lobby"}).execute().ok());
  ASSERT_TRUE(bob.heartbeat().channels({"lobby"}).execute().ok());

  absl::StatusOr<HereNowResult> here =
      alice.here_now().channels({"lobby"}).execute();
  ASSERT_TRUE(here.ok()) << here.status();
  EXPECT_THAT(Occupants(*here, 0), ElementsAre("alice", "bob"));
}

TEST_F(PresenceClientTest, ChannelGroups) {
  PresenceClient client = Client();
  ASSERT_TRUE(client.add_channels_to_group("friends")
                  .channels({"c", "a", "b"})
                  .execute()
                  .ok());
  ASSERT_TRUE(
      client.add_channels_to_group("work").channels({"desk"}).execute().ok());
  // Adding a channel the group has is not an error.
  ASSERT_TRUE(
      client.add_channels_to_group("friends").channels({"a"}).execute().ok());

  absl::StatusOr<ListChannelsResult> channels =
      client.list_channels_in_group("friends").execute();
  ASSERT_TRUE(channels.ok()) << channels.status();
  EXPECT_THAT(channels->channels, ElementsAre("a", "b", "c"));
  absl::StatusOr<ListGroupsResult> groups = client.list_groups().execute();
  ASSERT_TRUE(groups.ok()) << groups.status();
  EXPECT_THAT(groups->groups, ElementsAre("friends", "work"));

  ASSERT_TRUE(client.remove_channels_from_group("friends")
                  .channels({"b"})
                  .execute()
                  .ok());
  channels = client.list_channels_in_group("friends").execute();
  ASSERT_TRUE(channels.ok()) << channels.status();
  EXPECT_THAT(channels->channels, ElementsAre("a", "c"));

  // Removing the last channels deletes the group.
  ASSERT_TRUE(client.remove_channels_from_group("friends")
                  .channels({"a", "c"})
                  .execute()
                  .ok());
  EXPECT_EQ(client.list_channels_in_group("friends").execute().status().code(),
            absl::StatusCode::kNotFound);

  EXPECT_TRUE(client.delete_group("work").execute().ok());
  groups = client.list_groups().execute();
  ASSERT_TRUE(groups.ok()) << groups.status();
  EXPECT_THAT(groups->groups, IsEmpty());

  EXPECT_EQ(client.delete_group("work").execute(),
            absl::NotFoundError("channel group 'work' does not exist"));
  EXPECT_EQ(client.remove_channels_from_group("work")
                .channels({"desk"})
                .execute()
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(
      client.add_channels_to_group("work").execute(),
      absl::InvalidArgumentError("channels: at least one channel is required"));
}

TEST_F(PresenceClientTest, SessionsEndOneByOne) {
  PresenceClient client = Client();
  ASSERT_TRUE(client.heartbeat()
                  .channels({"lobby"})
                  .session_id("phone")
                  .execute()
                  .ok());
  ASSERT_TRUE(client.heartbeat()
                  .channels({"lobby"})
                  .session_id("laptop")
                  .execute()
                  .ok());

  // The user stays while another session is present.
  absl::StatusOr<LeaveResult> left =
      client.leave().channels({"lobby"}).session_id("phone").execute();
  ASSERT_TRUE(left.ok()) << left.status();
  EXPECT_THAT(left->channels, IsEmpty());
  absl::StatusOr<HereNowResult> here =
      client.here_now().channels({"lobby"}).execute();
  ASSERT_TRUE(here.ok()) << here.status();
  EXPECT_EQ(here->channels.at(0).occupancy, 1u);
  EXPECT_THAT(Occupants(*here, 0), ElementsAre("alice"));

  left = client.leave().channels({"lobby"}).session_id("laptop").execute();
  ASSERT_TRUE(left.ok()) << left.status();
  EXPECT_THAT(left->channels, ElementsAre("lobby"));
  here = client.here_now().channels({"lobby"}).execute();
  ASSERT_TRUE(here.ok()) << here.status();
  EXPECT_EQ(here->channels.at(0).occupancy, 0u);
}

TEST_F(PresenceClientTest, PresenceTimesOutOnTheServersClock) {
  PresenceClient client = Client();
  const auto occupancy = [&]() -> uint32_t {
    absl::StatusOr<HereNowResult> here =
        client.here_now().channels({"lobby"}).execute();
    EXPECT_TRUE(here.ok()) << here.status();
    return here.ok() ? here->channels.at(0).occupancy : 0;
  };
  const auto beat = [&] {
    return client.heartbeat().channels({"lobby"}).timeout_seconds(60).execute();
  };
  ASSERT_TRUE(beat().ok());

  server_.clock().Advance(absl::Seconds(59));
  server_.ExpireSessions();
  EXPECT_EQ(occupancy(), 1u);

  // A heartbeat restarts the timeout.
  ASSERT_TRUE(beat().ok());
  server_.clock().Advance(absl::Seconds(59));
  server_.ExpireSessions();
  EXPECT_EQ(occupancy(), 1u);

  server_.clock().Advance(absl::Seconds(2));
  server_.ExpireSessions();
  EXPECT_EQ(occupancy(), 0u);
  absl::StatusOr<WhereNowResult> where = client.where_now().execute();
  ASSERT_TRUE(where.ok()) << where.status();
  EXPECT_THAT(where->channels, IsEmpty());
}

TEST_F(PresenceClientTest, SessionsTimeOutOneByOne) {
  PresenceClient client = Client();
  ASSERT_TRUE(client.heartbeat()
                  .channels({"lobby"})
                  .session_id("phone")
                  .timeout_seconds(60)
                  .execute()
                  .ok());
  ASSERT_TRUE(client.heartbeat()
                  .channels({"lobby"})
                  .session_id("laptop")
                  .timeout_seconds(120)
                  .execute()
                  .ok());

  // The phone times out; the laptop keeps alice present.
  server_.clock().Advance(absl::Seconds(61));
  server_.ExpireSessions();
  absl::StatusOr<HereNowResult> here =
      client.here_now().channels({"lobby"}).execute();
  ASSERT_TRUE(here.ok()) << here.status();
  EXPECT_THAT(Occupants(*here, 0), ElementsAre("alice"));

  // The laptop was the last session.
  absl::StatusOr<LeaveResult> left =
      client.leave().channels({"lobby"}).session_id("laptop").execute();
  ASSERT_TRUE(left.ok()) << left.status();
  EXPECT_THAT(left->channels, ElementsAre("lobby"));
}

}  // namespace
}  // namespace presence

namespace presence {
namespace {

class BatchHeartbeatTest : public testing::Test {
 protected:
  client::PresenceClient Client() {
    return client::PresenceClient({.target = server_.address()});
  }
  TestServer server_;
};

TEST_F(BatchHeartbeatTest, EachEntryHasItsOwnResultAndTheSingleCallsEvents) {
  EventRecorder events;
  server_.store().AddListener(&events);
  absl::StatusOr<client::BatchHeartbeatResult> batch =
      Client()
          .batch_heartbeat()
          .heartbeat("alice", {"lobby"}, 60)
          .heartbeat("bob", {"lobby", "bad channel"})
          .heartbeat("carol", {"lobby"}, 0, "tab-1")
          .leave("alice", {"lobby"})
          .execute();
  server_.store().RemoveListener(&events);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->results.size(), 4u);
  EXPECT_TRUE(batch->results[0].status.ok());
  ASSERT_TRUE(batch->results[0].heartbeat.has_value());
  EXPECT_EQ(batch->results[0].heartbeat->heartbeat_interval_seconds, 29u);
  EXPECT_EQ(batch->results[1].status.code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(batch->results[1].status.message()),
              testing::StartsWith("entries[1].heartbeat.channels[1]: "));
  EXPECT_FALSE(batch->results[1].heartbeat.has_value());
  EXPECT_EQ(batch->results[2].heartbeat->timeout_seconds, 300u);
  ASSERT_TRUE(batch->results[3].leave.has_value());
  EXPECT_THAT(batch->results[3].leave->channels, ElementsAre("lobby"));
  // The same events as the single calls: active, join, join, leave.
  std::vector<std::string> lines;
  for (const PresenceEvent& event : events.Take()) {
    lines.push_back(absl::StrCat(EventTypeName(event.type), " ", event.user_id,
                                 " ", event.occupancy));
  }
  EXPECT_THAT(lines, ElementsAre("active  1", "join alice 1", "join carol 2",
                                 "leave alice 1"));
}

TEST_F(BatchHeartbeatTest, TooManyEntriesFailTheRequest) {
  client::BatchHeartbeatCall call = Client().batch_heartbeat();
  for (int i = 0; i <= 10000; ++i) {
    call.heartbeat(absl::StrCat("user-", i), {"lobby"});
  }
  absl::StatusOr<client::BatchHeartbeatResult> batch = call.execute();
  EXPECT_EQ(batch.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(batch.status().message(),
            "entries: 10001 entries is more than the maximum 10000");
}

}  // namespace
}  // namespace presence
