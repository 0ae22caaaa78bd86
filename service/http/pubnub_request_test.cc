#include "service/http/pubnub_request.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace presence {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

PubNubRequest Parse(absl::string_view target) {
  absl::StatusOr<PubNubRequest> request = ParsePubNubTarget(target);
  EXPECT_TRUE(request.ok()) << target << ": " << request.status();
  return request.ok() ? *std::move(request) : PubNubRequest{};
}

TEST(PubNubRequestTest, RoutesHereNowInEveryForm) {
  PubNubRequest one = Parse("/v2/presence/sub-key/demo/channel/lobby");
  EXPECT_EQ(one.endpoint, PubNubEndpoint::kHereNow);
  EXPECT_EQ(one.sub_key, "demo");
  EXPECT_THAT(one.channels, ElementsAre("lobby"));

  PubNubRequest several =
      Parse("/v2/presence/sub_key/demo/channel/a,b?limit=1000&disable_uuids=1");
  EXPECT_EQ(several.endpoint, PubNubEndpoint::kHereNow);
  EXPECT_THAT(several.channels, ElementsAre("a", "b"));
  EXPECT_EQ(several.Query("disable_uuids"), "1");
  EXPECT_EQ(several.Query("limit"), "1000");

  PubNubRequest groups =
      Parse("/v2/presence/sub-key/demo/channel/,?channel-group=cg1%2Ccg2");
  EXPECT_EQ(groups.endpoint, PubNubEndpoint::kHereNow);
  EXPECT_THAT(groups.channels, IsEmpty());
  EXPECT_THAT(SplitNameList(*groups.Query("channel-group")),
              ElementsAre("cg1", "cg2"));

  PubNubRequest global = Parse("/v2/presence/sub-key/demo");
  EXPECT_EQ(global.endpoint, PubNubEndpoint::kGlobalHereNow);
  EXPECT_EQ(Parse("/v2/presence/sub-key/demo/").endpoint,
            PubNubEndpoint::kGlobalHereNow);
}

TEST(PubNubRequestTest, RoutesPresenceCalls) {
  PubNubRequest where = Parse("/v2/presence/sub-key/k/uuid/a%2Fb");
  EXPECT_EQ(where.endpoint, PubNubEndpoint::kWhereNow);
  EXPECT_EQ(where.path_uuid, "a/b");  // %2F stays inside its segment.

  PubNubRequest heartbeat = Parse(
      "/v2/presence/sub-key/k/channel/,/heartbeat?heartbeat=60&channel-group="
      "g&state=%7B%22g%22%3A%7B%7D%7D&uuid=u&pnsdk=x&requestid=y");
  EXPECT_EQ(heartbeat.endpoint, PubNubEndpoint::kHeartbeat);
  EXPECT_THAT(heartbeat.channels, IsEmpty());
  EXPECT_EQ(heartbeat.Query("state"), "{\"g\":{}}");
  EXPECT_EQ(heartbeat.Query("uuid"), "u");

  EXPECT_EQ(Parse("/v2/presence/sub_key/k/channel/a,b/leave").endpoint,
            PubNubEndpoint::kLeave);

  PubNubRequest get = Parse("/v2/presence/sub-key/k/channel/a/uuid/u%20v");
  EXPECT_EQ(get.endpoint, PubNubEndpoint::kGetState);
  EXPECT_EQ(get.path_uuid, "u v");

  PubNubRequest set =
      Parse("/v2/presence/sub-key/k/channel/a/uuid/u/data?state=%7B%7D");
  EXPECT_EQ(set.endpoint, PubNubEndpoint::kSetState);
  EXPECT_EQ(set.Query("state"), "{}");
}

TEST(PubNubRequestTest, RoutesTheChannelRegistry) {
  const std::string base = "/v1/channel-registration/sub-key/k/channel-group";
  EXPECT_EQ(Parse(base).endpoint, PubNubEndpoint::kListGroups);
  PubNubRequest add = Parse(base + "/cg?add=a%2Cb");
  EXPECT_EQ(add.endpoint, PubNubEndpoint::kAddChannels);
  EXPECT_EQ(add.group, "cg");
  EXPECT_THAT(SplitNameList(*add.Query("add")), ElementsAre("a", "b"));
  EXPECT_EQ(Parse(base + "/cg?remove=a").endpoint,
            PubNubEndpoint::kRemoveChannels);
  EXPECT_EQ(Parse(base + "/cg").endpoint, PubNubEndpoint::kListChannels);
  EXPECT_EQ(Parse(base + "/cg/remove").endpoint, PubNubEndpoint::kDeleteGroup);
  EXPECT_EQ(Parse("/v1/channel-registration/sub_key/k/channel-group/cg/remove")
                .endpoint,
            PubNubEndpoint::kDeleteGroup);
  EXPECT_TRUE(IsChannelRegistry(PubNubEndpoint::kDeleteGroup));
  EXPECT_FALSE(IsChannelRegistry(PubNubEndpoint::kHereNow));
}

TEST(PubNubRequestTest, RoutesSubscribeAndTime) {
  PubNubRequest subscribe =
      Parse("/v2/subscribe/demo/c1,c1-pnpres,c%202/0?ee=&tt=123&tr=1");
  EXPECT_EQ(subscribe.endpoint, PubNubEndpoint::kSubscribe);
  EXPECT_THAT(subscribe.channels, ElementsAre("c1", "c1-pnpres", "c 2"));
  EXPECT_EQ(subscribe.Query("ee"), "");
  EXPECT_EQ(subscribe.Query("tt"), "123");
  EXPECT_EQ(Parse("/v2/subscribe/demo/,/0?channel-group=g%2Cg-pnpres").channels,
            std::vector<std::string>{});
  EXPECT_EQ(Parse("/time/0").endpoint, PubNubEndpoint::kTime);
}

TEST(PubNubRequestTest, TellsUnknownPresencePathsFromOtherFeatures) {
  EXPECT_EQ(Parse("/v2/presence/sub-key/k/channel/a/nope").endpoint,
            PubNubEndpoint::kUnknownPresence);
  EXPECT_EQ(Parse("/v2/presence/nope").endpoint,
            PubNubEndpoint::kUnknownPresence);
  EXPECT_EQ(Parse("/v2/subscribe/k/a").endpoint,
            PubNubEndpoint::kUnknownPresence);
  EXPECT_EQ(Parse("/publish/pub/sub/0/ch/0/%22hi%22").endpoint,
            PubNubEndpoint::kOtherFeature);
  EXPECT_EQ(Parse("/v3/history/sub-key/k/channel/a").endpoint,
            PubNubEndpoint::kOtherFeature);
  EXPECT_EQ(Parse("/").endpoint, PubNubEndpoint::kOtherFeature);
}

TEST(PubNubRequestTest, DecodesBeforeSplittingQueryValuesAndAfterPathOnes) {
  // In the path a literal ',' separates names, so an encoded one stays in
  // its name (and validation refuses it later).
  EXPECT_THAT(Parse("/v2/presence/sub-key/k/channel/a%2Cb,c").channels,
              ElementsAre("a,b", "c"));
  EXPECT_THAT(Parse("/v2/presence/sub-key/k/channel/a,,b").channels,
              ElementsAre("a", "b"));
  PubNubRequest request = Parse("/time/0?a=1&a=2&flag&x=%2B+y");
  EXPECT_EQ(request.Query("a"), "1");  // The first wins.
  EXPECT_EQ(request.Query("flag"), "");
  EXPECT_EQ(request.Query("x"), "++y");  // '+' is literal.
  EXPECT_EQ(request.Query("missing"), std::nullopt);
  EXPECT_THAT(request.query, ElementsAre(Pair("a", "1"), Pair("a", "2"),
                                         Pair("flag", ""), Pair("x", "++y")));
}

TEST(PubNubRequestTest, QueryAliases) {
  PubNubRequest request = Parse("/time/0?disable-uuids=0");
  EXPECT_EQ(request.Query("disable_uuids", "disable-uuids"), "0");
  request = Parse("/time/0?disable_uuids=1&disable-uuids=0");
  EXPECT_EQ(request.Query("disable_uuids", "disable-uuids"), "1");
}

TEST(PubNubRequestTest, RefusesMalformedEscapesNamingWhere) {
  absl::StatusOr<PubNubRequest> bad =
      ParsePubNubTarget("/v2/presence/sub-key/k/channel/a%zz");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "channels: malformed percent-encoding");
  bad = ParsePubNubTarget("/v2/presence/sub-key/k/uuid/%4");
  EXPECT_EQ(bad.status().message(), "uuid: malformed percent-encoding");
  bad = ParsePubNubTarget("/time/0?state=%7");
  EXPECT_EQ(bad.status().message(), "state: malformed percent-encoding");
  EXPECT_EQ(PercentDecode("%41%62c%20"), "Abc ");
  EXPECT_EQ(PercentDecode("%"), std::nullopt);
  EXPECT_EQ(PercentDecode("%4"), std::nullopt);
}

TEST(PubNubRequestTest, ParsesBooleans) {
  for (const char* yes : {"1", "true", "TRUE", "True"}) {
    absl::StatusOr<bool> value = ParsePubNubBool("state", yes);
    ASSERT_TRUE(value.ok()) << yes;
    EXPECT_TRUE(*value) << yes;
  }
  for (const char* no : {"0", "false", "False"}) {
    absl::StatusOr<bool> value = ParsePubNubBool("state", no);
    ASSERT_TRUE(value.ok()) << no;
    EXPECT_FALSE(*value) << no;
  }
  absl::StatusOr<bool> bad = ParsePubNubBool("state", "yes");
  EXPECT_EQ(bad.status().message(),
            "state: \"yes\" is not a boolean (1, 0, true or false)");
}

TEST(PubNubRequestTest, NamesEndpoints) {
  EXPECT_EQ(PubNubEndpointName(PubNubEndpoint::kHereNow), "here_now");
  EXPECT_EQ(PubNubEndpointName(PubNubEndpoint::kSubscribe), "subscribe");
  EXPECT_EQ(PubNubEndpointName(PubNubEndpoint::kOtherFeature), "other_feature");
}

}  // namespace
}  // namespace presence
