#include "service/auth/authorizer.h"

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "presence/clock.h"
#include "presence/types.h"
#include "service/auth/token.h"
#include "service/auth/token_secrets.h"

namespace presence::auth {
namespace {

using ::testing::HasSubstr;

constexpr char kSecret[] = "secret-one-0123456789-0123456789-0123456789";
constexpr char kSecret2[] = "secret-two-0123456789-0123456789-0123456789";

std::string WriteFile(absl::string_view name, absl::string_view text) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path = absl::StrCat(dir ? dir : "/tmp", "/", name);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  return path;
}

// Claims for the rule tests: expiry is irrelevant there.
Claims Grants() {
  Claims claims;
  claims.expires = absl::FromUnixSeconds(2'000'000'000);
  claims.channels = {{"lobby", kRead}, {"desk", kWrite}, {"ops", kManage}};
  claims.channel_prefixes = {{"room-", kRead | kWrite}, {"room-vip-", kManage}};
  claims.groups = {{"friends", kRead}, {"team", kWrite}, {"admins", kManage}};
  return claims;
}

Caller Bound(absl::string_view user) {
  Claims claims = Grants();
  claims.user_id = std::string(user);
  return Caller(claims);
}

// Requests for the rule tests (the library's types have no default member
// initializers for designated initializers).
HereNowRequest HereNowOf(std::vector<std::string> channels,
                         std::vector<std::string> groups = {}) {
  HereNowRequest request;
  request.channels = std::move(channels);
  request.channel_groups = std::move(groups);
  return request;
}

GetStateRequest GetStateOf(std::string user, std::vector<std::string> channels,
                           std::vector<std::string> groups = {}) {
  GetStateRequest request;
  request.user_id = std::move(user);
  request.channels = std::move(channels);
  request.channel_groups = std::move(groups);
  return request;
}

HeartbeatRequest HeartbeatOf(std::string user,
                             std::vector<std::string> channels) {
  HeartbeatRequest request;
  request.user_id = std::move(user);
  request.channels = std::move(channels);
  return request;
}

WhereNowRequest WhereNowOf(std::string user) {
  WhereNowRequest request;
  request.user_id = std::move(user);
  return request;
}

void ExpectDenied(const absl::Status& status, absl::string_view message) {
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
  EXPECT_THAT(status.message(), HasSubstr(message));
}

class AuthorizerTest : public testing::Test {
 protected:
  std::unique_ptr<Authorizer> Make(absl::string_view secrets) {
    AuthOptions options;
    options.mode = AuthMode::kToken;
    options.secret_file = WriteFile("secrets", secrets);
    absl::StatusOr<std::unique_ptr<Authorizer>> authorizer =
        Authorizer::Create(options, &clock_);
    EXPECT_TRUE(authorizer.ok()) << authorizer.status();
    return *std::move(authorizer);
  }

  SimulatedClock clock_{absl::FromUnixSeconds(1'800'000'000)};
};

TEST_F(AuthorizerTest, OptionsAreChecked) {
  AuthOptions options;
  options.mode = AuthMode::kToken;
  EXPECT_THAT(Authorizer::Create(options, &clock_).status().message(),
              HasSubstr("--auth=token needs --auth_secret_file"));
  options.secret_file = WriteFile("short", "too short\n");
  EXPECT_THAT(Authorizer::Create(options, &clock_).status().message(),
              HasSubstr("at least 32"));
  options.mode = AuthMode::kNone;
  EXPECT_THAT(Authorizer::Create(options, &clock_).status().message(),
              HasSubstr("only with --auth=token"));
}

TEST_F(AuthorizerTest, AuthOffAllowsAnyone) {
  Authorizer off;
  EXPECT_FALSE(off.enabled());
  absl::StatusOr<Caller> caller = off.AuthenticateBearer(std::nullopt);
  ASSERT_TRUE(caller.ok());
  EXPECT_EQ(caller->claims(), nullptr);
  EXPECT_TRUE(Authorizer::CheckHereNow(*caller, HereNowOf({})).ok());
  EXPECT_TRUE(Authorizer::CheckListGroups(*caller).ok());
  EXPECT_TRUE(Authorizer::CheckGrantToken(*caller).ok());
  EXPECT_EQ(off.Mint(Grants(), absl::Hours(1)).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(AuthorizerTest, Authenticate) {
  std::unique_ptr<Authorizer> authorizer = Make(kSecret);
  const std::string token = authorizer->Mint(Grants(), absl::Minutes(5))->token;
  Claims claims = Grants();
  claims.issued = clock_.Now();
  claims.expires = clock_.Now() + absl::Minutes(5);

  absl::StatusOr<Caller> caller =
      authorizer->AuthenticateBearer(absl::StrCat("Bearer ", token));
  ASSERT_TRUE(caller.ok()) << caller.status();
  EXPECT_EQ(*caller->claims(), claims);
  EXPECT_TRUE(
      authorizer->AuthenticateBearer(absl::StrCat("bearer  ", token)).ok());

  const struct {
    std::optional<std::string> header;
    AuthFailure failure;
    const char* message;
  } kCases[] = {
      {std::nullopt, AuthFailure::kMissing, "this call needs a token"},
      {"Bearer ", AuthFailure::kMalformed, "expected \"Bearer <token>\""},
      {absl::StrCat("Basic ", token), AuthFailure::kMalformed,
       "expected \"Bearer <token>\""},
      {"Bearer pv1.abc", AuthFailure::kMalformed, "malformed token"},
      {absl::StrCat("Bearer ", token.substr(0, token.size() - 2), "AA"),
       AuthFailure::kBadSignature, "signature does not verify"},
  };
  for (const auto& c : kCases) {
    AuthFailure failure = AuthFailure::kDenied;
    absl::StatusOr<Caller> refused = authorizer->AuthenticateBearer(
        c.header ? std::optional<absl::string_view>(*c.header) : std::nullopt,
        &failure);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_THAT(refused.status().message(), HasSubstr(c.message));
    EXPECT_EQ(failure, c.failure) << AuthFailureName(failure);
  }

  // The injected clock decides expiry.
  clock_.Advance(absl::Minutes(5));
  AuthFailure failure = AuthFailure::kDenied;
  absl::StatusOr<Caller> expired = authorizer->Authenticate(token, &failure);
  EXPECT_THAT(expired.status().message(), HasSubstr("token expired"));
  EXPECT_EQ(failure, AuthFailure::kExpired);
}

TEST_F(AuthorizerTest, ReloadSecretsRotates) {
  std::unique_ptr<Authorizer> authorizer = Make(kSecret);
  const Claims claims = Grants();
  const std::string old_token = authorizer->Mint(claims, absl::Hours(1))->token;
  EXPECT_FALSE(*authorizer->ReloadSecrets());  // Unchanged.

  WriteFile("secrets", absl::StrCat(kSecret2, "\n", kSecret, "\n"));
  EXPECT_TRUE(*authorizer->ReloadSecrets());
  const std::string new_token = authorizer->Mint(claims, absl::Hours(1))->token;
  EXPECT_NE(new_token, old_token);
  EXPECT_TRUE(authorizer->Authenticate(old_token).ok());
  EXPECT_TRUE(authorizer->Authenticate(new_token).ok());

  // A broken file keeps the secrets in use.
  WriteFile("secrets", "short\n");
  EXPECT_FALSE(authorizer->ReloadSecrets().ok());
  EXPECT_TRUE(authorizer->Authenticate(old_token).ok());

  WriteFile("secrets", kSecret2);
  EXPECT_TRUE(*authorizer->ReloadSecrets());
  EXPECT_FALSE(authorizer->Authenticate(old_token).ok());
  EXPECT_TRUE(authorizer->Authenticate(new_token).ok());
}

TEST(AuthorizerRulesTest, ChannelPermissionsCombineExactAndPrefixes) {
  const Claims claims = Grants();
  EXPECT_EQ(Authorizer::ChannelPermissions(claims, "lobby"), kRead);
  EXPECT_EQ(Authorizer::ChannelPermissions(claims, "lobby2"), 0);
  EXPECT_EQ(Authorizer::ChannelPermissions(claims, "room-1"), kRead | kWrite);
  EXPECT_EQ(Authorizer::ChannelPermissions(claims, "room-vip-1"),
            kRead | kWrite | kManage);
  EXPECT_EQ(Authorizer::ChannelPermissions(claims, "room"), 0);
  Claims padm = claims;
  padm.presence_admin = true;
  EXPECT_EQ(Authorizer::ChannelPermissions(padm, "other"), kRead);
  EXPECT_EQ(Authorizer::GroupPermissions(padm, "other"), kRead);
  Claims adm;
  adm.admin = true;
  EXPECT_EQ(Authorizer::GroupPermissions(adm, "any"), kRead | kWrite | kManage);
}

TEST(AuthorizerRulesTest, HereNow) {
  const Caller caller{Grants()};
  EXPECT_TRUE(Authorizer::CheckHereNow(
                  caller, HereNowOf({"lobby", "room-2"}, {"friends"}))
                  .ok());
  ExpectDenied(Authorizer::CheckHereNow(caller, HereNowOf({"lobby", "desk"})),
               "no \"read\" permission on channel \"desk\"");
  ExpectDenied(Authorizer::CheckHereNow(caller, HereNowOf({}, {"team"})),
               "no \"read\" permission on channel group \"team\"");
  ExpectDenied(Authorizer::CheckHereNow(caller, HereNowOf({})),
               "HereNow of every channel (no channels and no groups named) "
               "needs a token with presence_admin");
  Claims padm;
  padm.presence_admin = true;
  EXPECT_TRUE(Authorizer::CheckHereNow(Caller(padm), HereNowOf({})).ok());
  EXPECT_TRUE(
      Authorizer::CheckHereNow(Caller(padm), HereNowOf({"anything"})).ok());
}

TEST(AuthorizerRulesTest, WhereNow) {
  EXPECT_TRUE(
      Authorizer::CheckWhereNow(Bound("alice"), WhereNowOf("alice")).ok());
  ExpectDenied(Authorizer::CheckWhereNow(Bound("alice"), WhereNowOf("bob")),
               "WhereNow of user \"bob\" needs a token bound to that user or "
               "a token with presence_admin");
  ExpectDenied(Authorizer::CheckWhereNow(Caller(Grants()), WhereNowOf("bob")),
               "WhereNow of user \"bob\"");
  Claims padm;
  padm.presence_admin = true;
  EXPECT_TRUE(Authorizer::CheckWhereNow(Caller(padm), WhereNowOf("bob")).ok());
}

TEST(AuthorizerRulesTest, GetStateNeedsRead) {
  const Caller caller = Bound("alice");
  // Reading is not limited to the bound user: read on the channel shows
  // everyone's state through HereNow anyway.
  EXPECT_TRUE(Authorizer::CheckGetState(
                  caller, GetStateOf("bob", {"lobby"}, {"friends"}))
                  .ok());
  ExpectDenied(Authorizer::CheckGetState(caller, GetStateOf("alice", {"desk"})),
               "no \"read\" permission on channel \"desk\"");
}

TEST(AuthorizerRulesTest, WritesNeedWriteAndTheBoundUser) {
  const Caller caller = Bound("alice");
  HeartbeatRequest heartbeat;
  heartbeat.user_id = "alice";
  heartbeat.channels = {"desk", "room-1"};
  heartbeat.channel_groups = {"team"};
  EXPECT_TRUE(Authorizer::CheckHeartbeat(caller, heartbeat).ok());
  heartbeat.user_id = "bob";
  ExpectDenied(Authorizer::CheckHeartbeat(caller, heartbeat),
               "the token is bound to user \"alice\" and cannot act as user "
               "\"bob\"");
  heartbeat.user_id = "alice";
  heartbeat.channels = {"lobby"};
  ExpectDenied(Authorizer::CheckHeartbeat(caller, heartbeat),
               "no \"write\" permission on channel \"lobby\"");

  LeaveRequest leave;
  leave.user_id = "alice";
  leave.channel_groups = {"friends"};
  ExpectDenied(Authorizer::CheckLeave(caller, leave),
               "no \"write\" permission on channel group \"friends\"");
  leave.channel_groups = {"team"};
  EXPECT_TRUE(Authorizer::CheckLeave(caller, leave).ok());
  leave.user_id = "mallory";
  ExpectDenied(Authorizer::CheckLeave(caller, leave), "cannot act as user");

  SetStateRequest set;
  set.user_id = "alice";
  set.channels = {"room-9"};
  EXPECT_TRUE(Authorizer::CheckSetState(caller, set).ok());
  set.user_id = "bob";
  ExpectDenied(Authorizer::CheckSetState(caller, set), "cannot act as user");

  // An unbound token may act as any user on channels it may write.
  EXPECT_TRUE(Authorizer::CheckSetState(Caller(Grants()), set).ok());
}

TEST(AuthorizerRulesTest, BatchEntriesNameTheirIndex) {
  const Caller caller = Bound("alice");
  BatchEntry beat;
  beat.heartbeat.user_id = "alice";
  beat.heartbeat.channels = {"desk"};
  EXPECT_TRUE(Authorizer::CheckBatchEntry(caller, beat, 0).ok());
  BatchEntry leave;
  leave.kind = BatchEntry::Kind::kLeave;
  leave.leave.user_id = "alice";
  leave.leave.channels = {"lobby"};
  ExpectDenied(Authorizer::CheckBatchEntry(caller, leave, 3),
               "entries[3]: the token has no \"write\" permission on channel "
               "\"lobby\"");
}

TEST(AuthorizerRulesTest, Watch) {
  const Caller caller{Grants()};
  EXPECT_TRUE(Authorizer::CheckWatch(caller, {"lobby"}, {"friends"}).ok());
  ExpectDenied(Authorizer::CheckWatch(caller, {}, {"team"}),
               "no \"read\" permission on channel group \"team\"");
  ExpectDenied(Authorizer::CheckWatch(caller, {}, {}),
               "WatchEvents of every channel (the firehose");
}

TEST(AuthorizerRulesTest, Groups) {
  const Caller caller{Grants()};
  EXPECT_TRUE(
      Authorizer::CheckAddChannels(caller, "admins", {"ops", "room-vip-2"})
          .ok());
  ExpectDenied(Authorizer::CheckAddChannels(caller, "friends", {"ops"}),
               "no \"manage\" permission on channel group \"friends\"");
  ExpectDenied(Authorizer::CheckAddChannels(caller, "admins", {"lobby"}),
               "no \"manage\" permission on channel \"lobby\"");
  EXPECT_TRUE(Authorizer::CheckRemoveChannels(caller, "admins").ok());
  ExpectDenied(Authorizer::CheckRemoveChannels(caller, "team"),
               "no \"manage\" permission on channel group \"team\"");
  EXPECT_TRUE(Authorizer::CheckDeleteGroup(caller, "admins").ok());
  ExpectDenied(Authorizer::CheckDeleteGroup(caller, "friends"),
               "\"manage\" permission on channel group \"friends\"");
  EXPECT_TRUE(Authorizer::CheckListChannels(caller, "friends").ok());
  EXPECT_TRUE(Authorizer::CheckListChannels(caller, "admins").ok());
  ExpectDenied(Authorizer::CheckListChannels(caller, "team"),
               "no \"read\" or \"manage\" permission on channel group "
               "\"team\"");
  ExpectDenied(Authorizer::CheckListGroups(caller),
               "ListGroups (it names every group) needs a token with "
               "presence_admin");
}

TEST(AuthorizerRulesTest, DeniedResourceNamesTheChannelOrGroup) {
  const Caller caller{Grants()};
  std::optional<DeniedResource> channel = DeniedResourceOf(
      Authorizer::CheckHereNow(caller, HereNowOf({"lobby", "desk"})));
  ASSERT_TRUE(channel.has_value());
  EXPECT_FALSE(channel->group);
  EXPECT_EQ(channel->name, "desk");
  std::optional<DeniedResource> group =
      DeniedResourceOf(Authorizer::CheckListChannels(caller, "team"));
  ASSERT_TRUE(group.has_value());
  EXPECT_TRUE(group->group);
  EXPECT_EQ(group->name, "team");
  EXPECT_FALSE(DeniedResourceOf(Authorizer::CheckHereNow(caller, HereNowOf({})))
                   .has_value());
  EXPECT_FALSE(DeniedResourceOf(absl::OkStatus()).has_value());
}

TEST(AuthorizerRulesTest, AdminAndGrantToken) {
  ExpectDenied(Authorizer::CheckGrantToken(Caller(Grants())),
               "GrantToken needs an admin token");
  Claims padm = Grants();
  padm.presence_admin = true;
  ExpectDenied(Authorizer::CheckGrantToken(Caller(padm)), "admin token");
  EXPECT_TRUE(Authorizer::CheckListGroups(Caller(padm)).ok());
  ExpectDenied(
      Authorizer::CheckHeartbeat(Caller(padm), HeartbeatOf("x", {"lobby"})),
      "\"write\" permission on channel \"lobby\"");

  Claims admin;
  admin.admin = true;
  admin.user_id = "root";
  const Caller root{admin};
  EXPECT_TRUE(Authorizer::CheckGrantToken(root).ok());
  EXPECT_TRUE(Authorizer::CheckHeartbeat(root, HeartbeatOf("x", {"any"})).ok());
  EXPECT_TRUE(Authorizer::CheckAddChannels(root, "g", {"c"}).ok());
  EXPECT_TRUE(Authorizer::CheckWatch(root, {}, {}).ok());
}

}  // namespace
}  // namespace presence::auth
