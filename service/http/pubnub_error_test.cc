#include "service/http/pubnub_error.h"

#include <string>

#include "gtest/gtest.h"
#include "presence/types.h"
#include "service/auth/authorizer.h"
#include "service/auth/token.h"

namespace presence {
namespace {

TEST(PubNubErrorTest, MapsCodesToHttpStatuses) {
  const std::pair<absl::Status, int> cases[] = {
      {absl::InvalidArgumentError("x"), 400},
      {absl::FailedPreconditionError("x"), 400},
      {absl::OutOfRangeError("x"), 400},
      {absl::NotFoundError("x"), 404},
      {absl::PermissionDeniedError("x"), 403},
      {absl::UnauthenticatedError("x"), 403},
      {absl::AlreadyExistsError("x"), 409},
      {absl::ResourceExhaustedError("x"), 429},
      {absl::UnimplementedError("x"), 402},
      {absl::UnavailableError("x"), 503},
      {absl::DeadlineExceededError("x"), 504},
      {absl::InternalError("x"), 500},
      {absl::UnknownError("x"), 500},
  };
  for (const auto& [status, http] : cases) {
    EXPECT_EQ(ToPubNubError(status, kPresenceService).http_status, http)
        << status;
  }
}

TEST(PubNubErrorTest, BodyHasTheSdkErrorShape) {
  PubNubError error =
      ToPubNubError(absl::InvalidArgumentError("user_id: must not be empty"),
                    kPresenceService);
  EXPECT_EQ(error.http_status, 400);
  EXPECT_EQ(error.body,
            R"({"status":400,"error":true,"message":"uuid: must not be empty",)"
            R"("service":"Presence"})");
  error = MakePubNubError(402, kFeatureNotEnabledMessage, kPresenceService);
  EXPECT_EQ(error.body,
            R"({"status":402,"error":true,"message":"This feature is not )"
            R"(turned on for this account. Contact support@pubnub.com to )"
            R"(activate this feature.","service":"Presence"})");
  error =
      ToPubNubError(absl::NotFoundError("channel group 'a\"b' does not exist"),
                    kChannelRegistryService);
  EXPECT_EQ(error.body,
            R"({"status":404,"error":true,"message":"channel group 'a\"b' )"
            R"(does not exist","service":"channel-registry"})");
}

TEST(PubNubErrorTest, RefusalsHaveTheAccessManagerShape) {
  auth::Claims claims;
  claims.channels["lobby"] = auth::kRead;
  const auth::Caller caller(claims);
  HereNowRequest here;
  here.channels = {"lobby", "hall"};
  PubNubError error = ToPubNubError(
      auth::Authorizer::CheckHereNow(caller, here), kPresenceService);
  EXPECT_EQ(error.http_status, 403);
  EXPECT_EQ(error.body,
            R"({"status":403,"error":true,"service":"Access Manager",)"
            R"("message":"Forbidden: the token has no \"read\" permission on )"
            R"(channel \"hall\"","payload":{"channels":["hall"]}})");
  error = ToPubNubError(auth::Authorizer::CheckListChannels(caller, "friends"),
                        kChannelRegistryService);
  EXPECT_NE(error.body.find(R"("payload":{"channel-groups":["friends"]})"),
            std::string::npos)
      << error.body;
  error = ToPubNubError(absl::UnauthenticatedError("token expired at x"),
                        kPresenceService);
  EXPECT_EQ(error.body,
            R"({"status":403,"error":true,"service":"Access Manager",)"
            R"("message":"Forbidden: token expired at x"})");
}

TEST(PubNubErrorTest, RenamesLibraryFieldsToQueryParameters) {
  EXPECT_EQ(RenameFieldsForPubNub("user_id: too long"), "uuid: too long");
  EXPECT_EQ(RenameFieldsForPubNub("channel_groups[1]: bad"),
            "channel-group[1]: bad");
  EXPECT_EQ(RenameFieldsForPubNub("timeout_seconds: 5 is outside [20, 3600]"),
            "heartbeat: 5 is outside [20, 3600]");
  EXPECT_EQ(RenameFieldsForPubNub("states[\"a\"]: must be a JSON object"),
            "state[\"a\"]: must be a JSON object");
  EXPECT_EQ(RenameFieldsForPubNub(
                "channels, channel_groups: at least one is required"),
            "channels, channel-group: at least one is required");
  // Only the field part: quoted input after it is left alone.
  EXPECT_EQ(RenameFieldsForPubNub("channels[0]: \"user_id\" is odd"),
            "channels[0]: \"user_id\" is odd");
  EXPECT_EQ(RenameFieldsForPubNub("no field here"), "no field here");
}

TEST(PubNubErrorTest, TruncatesLongMessagesOnACharacterBoundary) {
  std::string message = "channels[0]: " + std::string(2000, 'a');
  message.replace(1023, 2, "\xC3\xA9");  // é across the cut.
  PubNubError error =
      ToPubNubError(absl::InvalidArgumentError(message), kPresenceService);
  EXPECT_NE(error.body.find("a... (truncated)\""), std::string::npos)
      << error.body;
  EXPECT_LT(error.body.size(), 1200u);
}

}  // namespace
}  // namespace presence
