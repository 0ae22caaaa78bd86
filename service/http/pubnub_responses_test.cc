#include "service/http/pubnub_responses.h"

#include "gtest/gtest.h"

namespace presence {
namespace {

HereNowResult TwoChannels() {
  HereNowResult result;
  result.total_channels = 2;
  result.total_occupancy = 3;
  ChannelOccupancy a;
  a.name = "a";
  a.occupancy = 2;
  a.occupants = {{"u1", R"({"age":10})"}, {"u2", ""}};
  ChannelOccupancy b;
  b.name = "b";
  b.occupancy = 1;
  b.occupants = {{"u1", ""}};
  result.channels = {a, b};
  return result;
}

TEST(PubNubResponsesTest, HereNowFlatShape) {
  const HereNowResult result = TwoChannels();
  const ChannelOccupancy* a = &result.channels[0];
  EXPECT_EQ(HereNowFlatBody(a, HereNowUuids::kIds),
            R"({"status":200,"message":"OK","service":"Presence",)"
            R"("uuids":["u1","u2"],"occupancy":2})");
  EXPECT_EQ(
      HereNowFlatBody(a, HereNowUuids::kWithState),
      R"({"status":200,"message":"OK","service":"Presence","uuids":)"
      R"([{"uuid":"u1","state":{"age":10}},{"uuid":"u2"}],"occupancy":2})");
  EXPECT_EQ(
      HereNowFlatBody(a, HereNowUuids::kOmit),
      R"({"status":200,"message":"OK","service":"Presence","occupancy":2})");
  EXPECT_EQ(HereNowFlatBody(a, HereNowUuids::kEmpty),
            R"({"status":200,"message":"OK","service":"Presence","uuids":[],)"
            R"("occupancy":2})");
  EXPECT_EQ(HereNowFlatBody(nullptr, HereNowUuids::kIds),
            R"({"status":200,"message":"OK","service":"Presence","uuids":[],)"
            R"("occupancy":0})");
}

TEST(PubNubResponsesTest, HereNowPayloadShape) {
  EXPECT_EQ(HereNowPayloadBody(TwoChannels(), HereNowUuids::kIds),
            R"({"status":200,"message":"OK","service":"Presence","payload":)"
            R"({"channels":{"a":{"uuids":["u1","u2"],"occupancy":2},)"
            R"("b":{"uuids":["u1"],"occupancy":1}},"total_channels":2,)"
            R"("total_occupancy":3}})");
  EXPECT_EQ(HereNowPayloadBody(TwoChannels(), HereNowUuids::kOmit),
            R"({"status":200,"message":"OK","service":"Presence","payload":)"
            R"({"channels":{"a":{"occupancy":2},"b":{"occupancy":1}},)"
            R"("total_channels":2,"total_occupancy":3}})");
  EXPECT_EQ(HereNowPayloadBody(HereNowResult{}, HereNowUuids::kIds),
            R"({"status":200,"message":"OK","service":"Presence","payload":)"
            R"({"channels":{},"total_channels":0,"total_occupancy":0}})");
}

TEST(PubNubResponsesTest, WhereNowHeartbeatLeave) {
  WhereNowResult where;
  where.channels = {"a", "b"};
  EXPECT_EQ(WhereNowBody(where),
            R"({"status":200,"message":"OK","payload":{"channels":["a","b"]},)"
            R"("service":"Presence"})");
  EXPECT_EQ(HeartbeatBody(),
            R"({"status":200,"message":"OK","service":"Presence"})");
  EXPECT_EQ(
      LeaveBody(),
      R"({"status":200,"action":"leave","message":"OK","service":"Presence"})");
}

TEST(PubNubResponsesTest, States) {
  EXPECT_EQ(
      SetStateBody(R"({"count":5,"name":"Alex"})"),
      R"({"status":200,"message":"OK","payload":{"count":5,"name":"Alex"},)"
      R"("service":"Presence"})");
  EXPECT_EQ(
      SetStateBody(""),
      R"({"status":200,"message":"OK","payload":{},"service":"Presence"})");
  EXPECT_EQ(GetStateSingleBody("u", "ch", R"({"count":5})"),
            R"({"status":200,"uuid":"u","service":"Presence","message":"OK",)"
            R"("payload":{"count":5},"channel":"ch"})");
  EXPECT_EQ(GetStateMultiBody("u", {{"ch1", R"({"count":5})"}, {"ch2", ""}}),
            R"({"status":200,"message":"OK","payload":{"channels":{"ch1":)"
            R"({"count":5},"ch2":{}}},"service":"Presence","uuid":"u"})");
}

TEST(PubNubResponsesTest, ChannelRegistryAndTime) {
  EXPECT_EQ(ChannelRegistryOkBody(),
            R"({"status":200,"message":"OK","service":"channel-registry",)"
            R"("error":false})");
  EXPECT_EQ(
      ListChannelsBody("cg", {"ch1", "ch2"}),
      R"({"status":200,"payload":{"channels":["ch1","ch2"],"group":"cg"},)"
      R"("service":"channel-registry","error":false})");
  EXPECT_EQ(ListGroupsBody("demo", {"a", "b"}),
            R"({"status":200,"payload":{"sub_key":"demo","groups":["a","b"]},)"
            R"("service":"channel-registry","error":false})");
  EXPECT_EQ(TimeBody(14720341195231188u), "[14720341195231188]");
}

PresenceEvent Event(EventType type) {
  PresenceEvent event;
  event.type = type;
  event.channel = "lobby";
  event.user_id = "alice";
  event.occupancy = 3;
  event.time = absl::FromUnixMillis(1472034119442);
  return event;
}

TEST(PubNubResponsesTest, PresenceEventPayloads) {
  EXPECT_EQ(PresenceEventPayload(Event(EventType::kJoin)),
            R"({"action":"join","uuid":"alice","timestamp":1472034119,)"
            R"("occupancy":3})");
  PresenceEvent join = Event(EventType::kJoin);
  join.state = R"({"mood":"happy"})";
  EXPECT_EQ(PresenceEventPayload(join),
            R"({"action":"join","uuid":"alice","timestamp":1472034119,)"
            R"("occupancy":3,"data":{"mood":"happy"}})");
  EXPECT_EQ(PresenceEventPayload(Event(EventType::kLeave)),
            R"({"action":"leave","uuid":"alice","timestamp":1472034119,)"
            R"("occupancy":3})");
  EXPECT_EQ(PresenceEventPayload(Event(EventType::kTimeout)),
            R"({"action":"timeout","uuid":"alice","timestamp":1472034119,)"
            R"("occupancy":3})");
  PresenceEvent change = Event(EventType::kStateChange);
  change.state = R"({"mood":"busy"})";
  EXPECT_EQ(PresenceEventPayload(change),
            R"({"action":"state-change","uuid":"alice","timestamp":1472034119,)"
            R"("occupancy":3,"data":{"mood":"busy"}})");
  change.state = "";  // Cleared.
  EXPECT_EQ(PresenceEventPayload(change),
            R"({"action":"state-change","uuid":"alice","timestamp":1472034119,)"
            R"("occupancy":3,"data":{}})");
  EXPECT_EQ(PresenceEventPayload(Event(EventType::kActive)), "");
  EXPECT_EQ(PresenceEventPayload(Event(EventType::kInactive)), "");
}

TEST(PubNubResponsesTest, IntervalPayloads) {
  PresenceEvent interval = Event(EventType::kInterval);
  interval.user_id.clear();
  interval.joined = {"a", "b"};
  interval.timed_out = {"c"};
  EXPECT_EQ(PresenceEventPayload(interval),
            R"({"action":"interval","timestamp":1472034119,"occupancy":3,)"
            R"("join":["a","b"],"timeout":["c"],"here_now_refresh":false})");
  interval.joined.clear();
  interval.timed_out.clear();
  interval.here_now_refresh = true;
  EXPECT_EQ(PresenceEventPayload(interval),
            R"({"action":"interval","timestamp":1472034119,"occupancy":3,)"
            R"("here_now_refresh":true})");
}

TEST(PubNubResponsesTest, SubscribeEnvelopes) {
  EXPECT_EQ(SubscribeBody(14720341195231188u, 12, "demo", {}),
            R"({"t":{"t":"14720341195231188","r":12},"m":[]})");
  const std::string payload = PresenceEventPayload(Event(EventType::kJoin));
  std::vector<SubscribeMessage> messages = {
      {14720341194420285u, "lobby", payload, "lobby-pnpres"},
      {14720341194420286u, "a\"b", payload, "cg-pnpres"}};
  EXPECT_EQ(
      SubscribeBody(14720341194420286u, 1, "demo", messages),
      R"({"t":{"t":"14720341194420286","r":1},"m":[)"
      R"({"a":"2","f":0,"p":{"t":"14720341194420285","r":1},"k":"demo",)"
      R"("c":"lobby-pnpres","d":)" +
          payload +
          R"(,"b":"lobby-pnpres"},)"
          R"({"a":"2","f":0,"p":{"t":"14720341194420286","r":1},"k":"demo",)"
          R"("c":"a\"b-pnpres","d":)" +
          payload + R"(,"b":"cg-pnpres"}]})");
}

}  // namespace
}  // namespace presence
