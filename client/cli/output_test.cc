#include "client/cli/output.h"

#include "absl/time/time.h"
#include "client/json.h"
#include "client/presence_client.h"
#include "gtest/gtest.h"

namespace presence::cli {
namespace {

using client::Json;

TEST(OutputTest, HereNowListsChannelsOccupantsAndState) {
  client::HereNowResult result;
  result.total_channels = 2;
  result.total_occupancy = 2;
  result.channels.push_back({"hall", 0, {}});
  result.channels.push_back(
      {"lobby",
       2,
       {{"alice", Json::object({{"mood", "happy"}})}, {"bob", std::nullopt}}});
  EXPECT_EQ(ToJson(result).Dump(),
            R"({"channels":[{"name":"hall","occupancy":0,"occupants":[]},)"
            R"({"name":"lobby","occupancy":2,"occupants":[)"
            R"({"state":{"mood":"happy"},"user_id":"alice"},)"
            R"({"user_id":"bob"}]}],"total_channels":2,"total_occupancy":2})");
}

TEST(OutputTest, PrintsEveryFieldUnderItsProtoName) {
  EXPECT_EQ(ToJson(client::WhereNowResult{{"hall", "lobby"}}).Dump(),
            R"({"channels":["hall","lobby"]})");
  EXPECT_EQ(ToJson(client::WhereNowResult{}).Dump(), R"({"channels":[]})");
  EXPECT_EQ(ToJson(client::SetStateResult{{"lobby"}, Json::object({{"a", 1}})})
                .Dump(),
            R"({"channels":["lobby"],"state":{"a":1}})");
  EXPECT_EQ(
      ToJson(client::GetStateResult{{{"lobby", Json(Json::Object())}}}).Dump(),
      R"({"states":[{"channel_name":"lobby","state":{}}]})");
  EXPECT_EQ(ToJson(client::HeartbeatResult{300, 149}).Dump(),
            R"({"heartbeat_interval_seconds":149,"timeout_seconds":300})");
  EXPECT_EQ(ToJson(client::LeaveResult{{"lobby"}}).Dump(),
            R"({"channels":["lobby"]})");
  EXPECT_EQ(ToJson(client::ListChannelsResult{{"a", "b"}}).Dump(),
            R"({"channels":["a","b"]})");
  EXPECT_EQ(ToJson(client::ListGroupsResult{{"friends"}}).Dump(),
            R"({"groups":["friends"]})");
}

TEST(OutputTest, GrantedToken) {
  EXPECT_EQ(ToJson(client::GrantTokenResult{
                       "pv1.e30.x", absl::FromUnixSeconds(1'800'000'000)})
                .Dump(),
            R"({"expire_time":"2027-01-15T08:00:00Z","token":"pv1.e30.x"})");
}

TEST(OutputTest, WatchEventOfAUser) {
  client::WatchEvent event;
  event.channel = "lobby";
  event.action = client::WatchEvent::Action::kJoin;
  event.user_id = "alice";
  event.occupancy = 1;
  event.time = absl::FromUnixSeconds(1700000000) + absl::Milliseconds(250);
  event.state = Json::object({{"mood", "happy"}});
  // Beyond 2^53, where a JSON number would round.
  event.sequence = (uint64_t{1} << 60) + 3;
  EXPECT_EQ(ToJson(event).Dump(),
            R"({"action":"join","channel":"lobby","occupancy":1,)"
            R"("sequence":"1152921504606846979","state":{"mood":"happy"},)"
            R"("time":"2023-11-14T22:13:20.25Z","user_id":"alice"})");
}

TEST(OutputTest, WatchEventOfAChannelHasNoUser) {
  client::WatchEvent event;
  event.channel = "lobby";
  event.action = client::WatchEvent::Action::kActive;
  event.occupancy = 1;
  event.time = absl::FromUnixSeconds(0);
  event.sequence = 1;
  EXPECT_EQ(ToJson(event).Dump(),
            R"({"action":"active","channel":"lobby","occupancy":1,)"
            R"("sequence":"1","time":"1970-01-01T00:00:00Z"})");
}

TEST(OutputTest, IntervalEventHasItsLists) {
  client::WatchEvent event;
  event.channel = "hall";
  event.action = client::WatchEvent::Action::kInterval;
  event.occupancy = 25;
  event.time = absl::FromUnixSeconds(0);
  event.join = {"carol"};
  event.timeout = {"dave"};
  event.sequence = 9;
  EXPECT_EQ(ToJson(event).Dump(),
            R"({"action":"interval","channel":"hall","here_now_refresh":false,)"
            R"("join":["carol"],"leave":[],"occupancy":25,"sequence":"9",)"
            R"("time":"1970-01-01T00:00:00Z","timeout":["dave"]})");
}

}  // namespace
}  // namespace presence::cli
