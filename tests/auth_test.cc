// Tokens over gRPC: the real service (PresenceApp) in-process with
// --auth=token and a simulated clock, driven with the generated stubs.
// UNAUTHENTICATED for missing, malformed, badly signed and expired tokens;
// PERMISSION_DENIED naming the channel or group and the permission, with
// nothing changed; bound users, prefix and group grants, batches,
// GrantToken, the admin-only forms, health open to all, and the refusals
// counted in the metrics.

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "presence/clock.h"
#include "presence/v1/access.grpc.pb.h"
#include "presence/v1/channel_group.grpc.pb.h"
#include "presence/v1/presence.grpc.pb.h"
#include "service/app/presence_app.h"
#include "service/auth/token.h"
#include "service/auth/token_secrets.h"
#include "service/testing/http_get.h"
#include "service/testing/test_server.h"

namespace presence {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::HasSubstr;

constexpr char kSecret[] = "test-secret-0123456789-0123456789-0123456789";
constexpr char kOtherSecret[] = "other-secret-0123456789-0123456789-01234567";

std::string WriteTempFile(absl::string_view name, absl::string_view text) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path = absl::StrCat(dir ? dir : "/tmp", "/", name);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  return path;
}

auth::Claims Admin() {
  auth::Claims claims;
  claims.admin = true;
  return claims;
}

class AuthTest : public testing::Test {
 protected:
  void SetUp() override {
    secret_file_ = WriteTempFile("auth_test_secrets", kSecret);
    PresenceAppOptions options;
    options.limits = TestServer::TestLimits();
    options.grpc.listen_address = "127.0.0.1:0";
    options.grpc.shutdown_grace = absl::Milliseconds(300);
    options.metrics_address = "127.0.0.1:0";
    options.expiry_interval = absl::ZeroDuration();
    options.clock = &clock_;
    options.auth.mode = auth::AuthMode::kToken;
    options.auth.secret_file = secret_file_;
    absl::StatusOr<std::unique_ptr<PresenceApp>> app =
        PresenceApp::Start(std::move(options));
    ASSERT_TRUE(app.ok()) << app.status();
    app_ = *std::move(app);
    channel_ = grpc::CreateChannel(app_->grpc_address(),
                                   grpc::InsecureChannelCredentials());
    presence_ = v1::PresenceService::NewStub(channel_);
    groups_ = v1::ChannelGroupService::NewStub(channel_);
    access_ = v1::AccessService::NewStub(channel_);
    admin_ = Mint(Admin());
  }

  // A token of `claims` signed with `secret`, valid for `ttl` from now.
  std::string Mint(auth::Claims claims, absl::Duration ttl = absl::Hours(1),
                   absl::string_view secret = kSecret) {
    absl::StatusOr<auth::TokenSecrets> secrets =
        auth::TokenSecrets::FromText(secret, "test");
    absl::StatusOr<auth::MintedToken> minted =
        secrets->Mint(std::move(claims), clock_.Now(), ttl);
    EXPECT_TRUE(minted.ok()) << minted.status();
    return minted->token;
  }

  // A context with a deadline and, unless `token` is empty, the token.
  static std::unique_ptr<grpc::ClientContext> Context(
      const std::string& token) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(10));
    if (!token.empty()) {
      context->AddMetadata("authorization", absl::StrCat("Bearer ", token));
    }
    return context;
  }

  grpc::Status Heartbeat(const std::string& token, const std::string& user,
                         const std::vector<std::string>& channels,
                         const std::vector<std::string>& groups = {}) {
    v1::HeartbeatRequest request;
    request.set_user_id(user);
    for (const std::string& channel : channels) request.add_channels(channel);
    for (const std::string& group : groups) request.add_channel_groups(group);
    v1::HeartbeatResponse response;
    return presence_->Heartbeat(Context(token).get(), request, &response);
  }

  grpc::Status HereNow(const std::string& token,
                       const std::vector<std::string>& channels,
                       const std::vector<std::string>& groups = {},
                       v1::HereNowResponse* response = nullptr) {
    v1::HereNowRequest request;
    for (const std::string& channel : channels) request.add_channels(channel);
    for (const std::string& group : groups) request.add_channel_groups(group);
    v1::HereNowResponse ignored;
    return presence_->HereNow(Context(token).get(), request,
                              response ? response : &ignored);
  }

  // The occupancy of `channel`, read with the admin token.
  uint32_t Occupancy(const std::string& channel) {
    v1::HereNowResponse response;
    grpc::Status status = HereNow(admin_, {channel}, {}, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.channels_size() == 1 ? response.channels(0).occupancy() : 0;
  }

  grpc::Status Watch(const std::string& token,
                     const std::vector<std::string>& channels,
                     const std::vector<std::string>& groups) {
    v1::WatchEventsRequest request;
    for (const std::string& channel : channels) request.add_channels(channel);
    for (const std::string& group : groups) request.add_channel_groups(group);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(500));
    if (!token.empty()) {
      context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    }
    auto reader = presence_->WatchEvents(&context, request);
    reader->WaitForInitialMetadata();
    if (context.GetServerInitialMetadata().count("presence-watch-registered")) {
      return grpc::Status::OK;  // Registered; the deadline ends it.
    }
    v1::WatchEventsResponse ignored;
    while (reader->Read(&ignored)) {
    }
    return reader->Finish();
  }

  static void ExpectCode(const grpc::Status& status, grpc::StatusCode code,
                         absl::string_view message) {
    EXPECT_EQ(status.error_code(), code) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(message));
  }

  SimulatedClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  std::string secret_file_;
  std::unique_ptr<PresenceApp> app_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::PresenceService::Stub> presence_;
  std::unique_ptr<v1::ChannelGroupService::Stub> groups_;
  std::unique_ptr<v1::AccessService::Stub> access_;
  std::string admin_;
};

TEST_F(AuthTest, BadTokensAreUnauthenticatedAndChangeNothing) {
  auth::Claims claims;
  claims.channels["lobby"] = auth::kWrite;
  const std::string expiring = Mint(claims, absl::Seconds(60));
  clock_.Advance(absl::Seconds(60));

  ExpectCode(Heartbeat("", "alice", {"lobby"}),
             grpc::StatusCode::UNAUTHENTICATED,
             "this call needs a token: send the metadata \"authorization: "
             "Bearer <token>\"");
  ExpectCode(Heartbeat("not-a-token", "alice", {"lobby"}),
             grpc::StatusCode::UNAUTHENTICATED,
             "malformed token: token does not start with \"pv1.\"");
  ExpectCode(
      Heartbeat(Mint(claims, absl::Hours(1), kOtherSecret), "alice", {"lobby"}),
      grpc::StatusCode::UNAUTHENTICATED, "signature does not verify");
  ExpectCode(Heartbeat(expiring, "alice", {"lobby"}),
             grpc::StatusCode::UNAUTHENTICATED, "token expired at");

  v1::HeartbeatRequest request;
  request.set_user_id("alice");
  request.add_channels("lobby");
  grpc::ClientContext basic;
  basic.AddMetadata("authorization", absl::StrCat("Basic ", admin_));
  v1::HeartbeatResponse response;
  ExpectCode(presence_->Heartbeat(&basic, request, &response),
             grpc::StatusCode::UNAUTHENTICATED, "expected \"Bearer <token>\"");

  EXPECT_EQ(Occupancy("lobby"), 0u);
  // Every RPC needs one, the stream included.
  v1::ListGroupsResponse groups;
  ExpectCode(groups_->ListGroups(Context("").get(), {}, &groups),
             grpc::StatusCode::UNAUTHENTICATED, "needs a token");
  ExpectCode(Watch("", {"lobby"}, {}), grpc::StatusCode::UNAUTHENTICATED,
             "needs a token");
}

TEST_F(AuthTest, HealthIsOpenWithoutAToken) {
  std::unique_ptr<Health::Stub> health = Health::NewStub(channel_);
  for (const char* service : {"", "presence.v1.PresenceService", "liveness"}) {
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    grpc::Status status = health->Check(Context("").get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
  }
}

TEST_F(AuthTest, MissingGrantIsPermissionDeniedNamingItAndChangesNothing) {
  auth::Claims claims;
  claims.channels["lobby"] = auth::kRead;
  const std::string reader = Mint(claims);
  ExpectCode(Heartbeat(reader, "alice", {"lobby"}),
             grpc::StatusCode::PERMISSION_DENIED,
             "the token has no \"write\" permission on channel \"lobby\"");
  EXPECT_EQ(Occupancy("lobby"), 0u);
  ASSERT_TRUE(Heartbeat(admin_, "alice", {"lobby"}).ok());
  EXPECT_TRUE(HereNow(reader, {"lobby"}).ok());
  ExpectCode(HereNow(reader, {"lobby", "hall"}),
             grpc::StatusCode::PERMISSION_DENIED,
             "the token has no \"read\" permission on channel \"hall\"");
  ExpectCode(HereNow(reader, {}, {"friends"}),
             grpc::StatusCode::PERMISSION_DENIED,
             "the token has no \"read\" permission on channel group "
             "\"friends\"");

  v1::LeaveRequest leave;
  leave.set_user_id("alice");
  leave.add_channels("lobby");
  v1::LeaveResponse left;
  ExpectCode(presence_->Leave(Context(reader).get(), leave, &left),
             grpc::StatusCode::PERMISSION_DENIED, "\"write\" permission");
  v1::SetStateRequest set;
  set.set_user_id("alice");
  set.add_channels("lobby");
  (*set.mutable_state()->mutable_fields())["mood"].set_string_value("sad");
  v1::SetStateResponse set_response;
  ExpectCode(presence_->SetState(Context(reader).get(), set, &set_response),
             grpc::StatusCode::PERMISSION_DENIED, "\"write\" permission");
  EXPECT_EQ(Occupancy("lobby"), 1u);
  v1::GetStateRequest get;
  get.set_user_id("alice");
  get.add_channels("lobby");
  v1::GetStateResponse state;
  ASSERT_TRUE(presence_->GetState(Context(reader).get(), get, &state).ok());
  EXPECT_EQ(state.states(0).state().fields_size(), 0);  // Not set.
}

TEST_F(AuthTest, BoundTokenActsOnlyAsItsUser) {
  auth::Claims claims;
  claims.user_id = "alice";
  claims.channels["lobby"] = auth::kRead | auth::kWrite;
  const std::string alice = Mint(claims);
  EXPECT_TRUE(Heartbeat(alice, "alice", {"lobby"}).ok());
  ExpectCode(Heartbeat(alice, "bob", {"lobby"}),
             grpc::StatusCode::PERMISSION_DENIED,
             "the token is bound to user \"alice\" and cannot act as user "
             "\"bob\"");
  EXPECT_EQ(Occupancy("lobby"), 1u);

  v1::WhereNowRequest where;
  where.set_user_id("alice");
  v1::WhereNowResponse channels;
  ASSERT_TRUE(presence_->WhereNow(Context(alice).get(), where, &channels).ok());
  EXPECT_THAT(channels.channels(), testing::ElementsAre("lobby"));
  where.set_user_id("bob");
  ExpectCode(presence_->WhereNow(Context(alice).get(), where, &channels),
             grpc::StatusCode::PERMISSION_DENIED,
             "WhereNow of user \"bob\" needs a token bound to that user or a "
             "token with presence_admin");
  auth::Claims padm;
  padm.presence_admin = true;
  EXPECT_TRUE(
      presence_->WhereNow(Context(Mint(padm)).get(), where, &channels).ok());

  v1::LeaveRequest leave;
  leave.set_user_id("bob");
  leave.add_channels("lobby");
  v1::LeaveResponse left;
  ExpectCode(presence_->Leave(Context(alice).get(), leave, &left),
             grpc::StatusCode::PERMISSION_DENIED, "cannot act as user \"bob\"");
  leave.set_user_id("alice");
  ASSERT_TRUE(presence_->Leave(Context(alice).get(), leave, &left).ok());
  EXPECT_EQ(Occupancy("lobby"), 0u);
}

TEST_F(AuthTest, PrefixGrants) {
  auth::Claims claims;
  claims.channel_prefixes["room-"] = auth::kRead | auth::kWrite;
  const std::string rooms = Mint(claims);
  EXPECT_TRUE(Heartbeat(rooms, "alice", {"room-1", "room-2"}).ok());
  ExpectCode(Heartbeat(rooms, "alice", {"room-3", "room"}),
             grpc::StatusCode::PERMISSION_DENIED,
             "no \"write\" permission on channel \"room\"");
  v1::HereNowResponse here;
  ASSERT_TRUE(HereNow(rooms, {"room-1", "room-3"}, {}, &here).ok());
  EXPECT_EQ(here.total_occupancy(), 1u);
  EXPECT_EQ(Occupancy("room-3"), 0u);
}

TEST_F(AuthTest, GroupGrants) {
  // Adding a channel needs manage on the group and on the channel.
  auth::Claims manager;
  manager.groups["friends"] = auth::kManage;
  manager.channels["a"] = auth::kManage;
  const std::string manage = Mint(manager);
  v1::AddChannelsRequest add;
  add.set_group("friends");
  add.add_channels("a");
  v1::AddChannelsResponse added;
  ASSERT_TRUE(groups_->AddChannels(Context(manage).get(), add, &added).ok());
  add.add_channels("secret");
  ExpectCode(groups_->AddChannels(Context(manage).get(), add, &added),
             grpc::StatusCode::PERMISSION_DENIED,
             "no \"manage\" permission on channel \"secret\"");
  v1::ListChannelsRequest list;
  list.set_group("friends");
  v1::ListChannelsResponse listed;
  ASSERT_TRUE(groups_->ListChannels(Context(admin_).get(), list, &listed).ok());
  EXPECT_THAT(listed.channels(), testing::ElementsAre("a"));

  // Through the group, the group's grant is what counts.
  auth::Claims member;
  member.groups["friends"] = auth::kRead | auth::kWrite;
  const std::string friends = Mint(member);
  ASSERT_TRUE(Heartbeat(friends, "alice", {}, {"friends"}).ok());
  EXPECT_EQ(Occupancy("a"), 1u);
  EXPECT_TRUE(HereNow(friends, {}, {"friends"}).ok());
  ExpectCode(HereNow(friends, {"a"}), grpc::StatusCode::PERMISSION_DENIED,
             "no \"read\" permission on channel \"a\"");
  EXPECT_TRUE(Watch(friends, {}, {"friends"}).ok());
  ExpectCode(Watch(friends, {"a"}, {}), grpc::StatusCode::PERMISSION_DENIED,
             "no \"read\" permission on channel \"a\"");
  ExpectCode(
      groups_->ListChannels(Context(Mint(auth::Claims())).get(), list, &listed),
      grpc::StatusCode::PERMISSION_DENIED,
      "no \"read\" or \"manage\" permission on channel group "
      "\"friends\"");
  EXPECT_TRUE(
      groups_->ListChannels(Context(friends).get(), list, &listed).ok());

  v1::DeleteGroupRequest drop;
  drop.set_group("friends");
  v1::DeleteGroupResponse dropped;
  ExpectCode(groups_->DeleteGroup(Context(friends).get(), drop, &dropped),
             grpc::StatusCode::PERMISSION_DENIED,
             "no \"manage\" permission on channel group \"friends\"");
  EXPECT_TRUE(groups_->DeleteGroup(Context(manage).get(), drop, &dropped).ok());
}

TEST_F(AuthTest, BatchEntriesAreCheckedOneByOne) {
  auth::Claims claims;
  claims.user_id = "alice";
  claims.channels["lobby"] = auth::kWrite;
  v1::BatchHeartbeatRequest request;
  for (const auto& [user, channel] :
       std::vector<std::pair<std::string, std::string>>{
           {"alice", "lobby"}, {"bob", "lobby"}, {"alice", "hall"}}) {
    v1::HeartbeatRequest* beat = request.add_entries()->mutable_heartbeat();
    beat->set_user_id(user);
    beat->add_channels(channel);
  }
  v1::LeaveRequest* leave = request.add_entries()->mutable_leave();
  leave->set_user_id("alice");
  leave->add_channels("hall");
  v1::BatchHeartbeatResponse response;
  grpc::Status status = presence_->BatchHeartbeat(Context(Mint(claims)).get(),
                                                  request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.results_size(), 4);
  EXPECT_EQ(response.results(0).code(), grpc::StatusCode::OK);
  EXPECT_EQ(response.results(1).code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(response.results(1).message(),
            "entries[1]: the token is bound to user \"alice\" and cannot act "
            "as user \"bob\"");
  EXPECT_EQ(response.results(2).code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(response.results(2).message(),
            "entries[2]: the token has no \"write\" permission on channel "
            "\"hall\"");
  EXPECT_THAT(response.results(3).message(), HasSubstr("entries[3]: "));
  EXPECT_EQ(Occupancy("lobby"), 1u);
  EXPECT_EQ(Occupancy("hall"), 0u);
}

TEST_F(AuthTest, EveryChannelFormsNeedPresenceAdmin) {
  auth::Claims claims;
  claims.channels["lobby"] = auth::kRead | auth::kWrite;
  const std::string user = Mint(claims);
  ExpectCode(HereNow(user, {}), grpc::StatusCode::PERMISSION_DENIED,
             "HereNow of every channel (no channels and no groups named) "
             "needs a token with presence_admin");
  ExpectCode(Watch(user, {}, {}), grpc::StatusCode::PERMISSION_DENIED,
             "WatchEvents of every channel (the firehose");
  v1::ListGroupsResponse groups;
  ExpectCode(groups_->ListGroups(Context(user).get(), {}, &groups),
             grpc::StatusCode::PERMISSION_DENIED,
             "ListGroups (it names every group) needs a token with "
             "presence_admin");
  auth::Claims admin_reader;
  admin_reader.presence_admin = true;
  const std::string padm = Mint(admin_reader);
  EXPECT_TRUE(HereNow(padm, {}).ok());
  EXPECT_TRUE(Watch(padm, {}, {}).ok());
  EXPECT_TRUE(groups_->ListGroups(Context(padm).get(), {}, &groups).ok());
  ExpectCode(Heartbeat(padm, "alice", {"lobby"}),
             grpc::StatusCode::PERMISSION_DENIED, "\"write\" permission");
}

TEST_F(AuthTest, GrantTokenNeedsAnAdminToken) {
  v1::GrantTokenRequest request;
  request.set_ttl_seconds(600);
  request.set_user_id("carol");
  v1::Grant* grant = request.add_grants();
  grant->set_channel_prefix("room-");
  grant->set_write(true);
  grant = request.add_grants();
  grant->set_channel_group("friends");
  grant->set_read(true);
  v1::GrantTokenResponse response;
  ExpectCode(access_->GrantToken(Context("").get(), request, &response),
             grpc::StatusCode::UNAUTHENTICATED, "needs a token");
  auth::Claims claims;
  claims.presence_admin = true;
  claims.channels["lobby"] = auth::kRead | auth::kWrite | auth::kManage;
  ExpectCode(
      access_->GrantToken(Context(Mint(claims)).get(), request, &response),
      grpc::StatusCode::PERMISSION_DENIED, "GrantToken needs an admin token");

  grpc::Status status =
      access_->GrantToken(Context(admin_).get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.expire_time().seconds(), 1'800'000'600);
  absl::StatusOr<auth::Claims> granted = auth::ParseToken(response.token());
  ASSERT_TRUE(granted.ok()) << granted.status();
  EXPECT_EQ(granted->user_id, "carol");
  EXPECT_EQ(granted->channel_prefixes.at("room-"), auth::kWrite);
  EXPECT_EQ(granted->groups.at("friends"), auth::kRead);
  EXPECT_TRUE(Heartbeat(response.token(), "carol", {"room-7"}).ok());
  ExpectCode(Heartbeat(response.token(), "dave", {"room-7"}),
             grpc::StatusCode::PERMISSION_DENIED, "cannot act as user");
  clock_.Advance(absl::Seconds(600));
  ExpectCode(Heartbeat(response.token(), "carol", {"room-7"}),
             grpc::StatusCode::UNAUTHENTICATED, "token expired");

  request.set_ttl_seconds(0);
  ExpectCode(access_->GrantToken(Context(admin_).get(), request, &response),
             grpc::StatusCode::INVALID_ARGUMENT,
             "ttl_seconds: 0 is not in [1, 31536000]");
  request.set_ttl_seconds(60);
  request.add_grants()->set_read(true);
  ExpectCode(access_->GrantToken(Context(admin_).get(), request, &response),
             grpc::StatusCode::INVALID_ARGUMENT,
             "grants[2]: set one of channel, channel_prefix, channel_group");
}

TEST_F(AuthTest, RefusalsAreCounted) {
  auth::Claims claims;
  claims.channels["lobby"] = auth::kRead;
  EXPECT_FALSE(Heartbeat("", "alice", {"lobby"}).ok());
  EXPECT_FALSE(Heartbeat("x", "alice", {"lobby"}).ok());
  EXPECT_FALSE(Heartbeat(Mint(claims), "alice", {"lobby"}).ok());
  EXPECT_FALSE(Watch(Mint(claims), {"hall"}, {}).ok());
  const std::string metrics = HttpGet(app_->metrics_port(), "/metrics");
  for (
      const char* line : {
          R"(presence_auth_failures_total{grpc_method="Heartbeat",reason="missing"} 1)",
          R"(presence_auth_failures_total{grpc_method="Heartbeat",reason="malformed"} 1)",
          R"(presence_auth_failures_total{grpc_method="Heartbeat",reason="permission_denied"} 1)",
          R"(presence_auth_failures_total{grpc_method="WatchEvents",reason="permission_denied"} 1)",
          R"(grpc_server_handled_total{grpc_service="presence.v1.PresenceService",grpc_method="Heartbeat",grpc_code="Unauthenticated"} 2)",
          R"(grpc_server_handled_total{grpc_service="presence.v1.PresenceService",grpc_method="Heartbeat",grpc_code="PermissionDenied"} 1)",
      }) {
    EXPECT_THAT(metrics, HasSubstr(line));
  }
}

TEST(AuthOptionsTest, BadCombinationsNameTheFlag) {
  PresenceAppOptions options;
  options.auth.mode = auth::AuthMode::kToken;
  EXPECT_THAT(ValidatePresenceAppOptions(options).message(),
              HasSubstr("--auth=token needs --auth_secret_file"));
  options.auth.secret_file = "/nonexistent/secrets";
  EXPECT_TRUE(ValidatePresenceAppOptions(options).ok());
  options.grpc.listen_address = "127.0.0.1:0";
  EXPECT_THAT(
      PresenceApp::Start(options).status().message(),
      HasSubstr("--auth_secret_file: cannot read /nonexistent/secrets"));
  options = PresenceAppOptions();
  options.auth.secret_file = "secrets";
  EXPECT_THAT(ValidatePresenceAppOptions(options).message(),
              HasSubstr("--auth_secret_file is used only with --auth=token"));
  options = PresenceAppOptions();
  options.tls.cert_file = "server.crt";
  EXPECT_THAT(ValidatePresenceAppOptions(options).message(),
              HasSubstr("--tls_cert_file and --tls_key_file go together"));
  options.tls.key_file = "server.key";
  options.tls.metrics = true;
  EXPECT_THAT(ValidatePresenceAppOptions(options).message(),
              HasSubstr("--metrics_tls needs --metrics_address"));
}

TEST(AuthOffTest, EveryCallIsAllowedAndGrantTokenHasNoSecret) {
  TestServer server;
  auto channel =
      grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());
  v1::HeartbeatRequest beat;
  beat.set_user_id("alice");
  beat.add_channels("lobby");
  v1::HeartbeatResponse beaten;
  grpc::ClientContext context;
  EXPECT_TRUE(v1::PresenceService::NewStub(channel)
                  ->Heartbeat(&context, beat, &beaten)
                  .ok());
  v1::GrantTokenRequest request;
  request.set_ttl_seconds(60);
  v1::GrantTokenResponse response;
  grpc::ClientContext grant_context;
  grpc::Status status = v1::AccessService::NewStub(channel)->GrantToken(
      &grant_context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("--auth=none"));
}

}  // namespace
}  // namespace presence
