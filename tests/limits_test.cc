// The limits that protect the service, end to end: the real service
// (PresenceApp) in-process on free ports with a simulated clock, called over
// gRPC and over the PubNub HTTP API.
//
// - --write_rate_per_client / --write_burst_per_client: writes beyond the
//   burst are RESOURCE_EXHAUSTED with a "retry-after-ms" trailer (HTTP: 429
//   with Retry-After) until the clock refills the bucket; reads are never
//   charged; a subscribe's heartbeat is deferred, not refused.
// - --max_watchers_per_client / --max_watchers: a watch beyond either is
//   RESOURCE_EXHAUSTED (HTTP: a held subscribe 429); an ended watch frees
//   its slot.
// - --max_sessions_per_user / --max_channels_per_user: enforced by the
//   store (the conformance suite checks both stores); here the refusal's
//   wire form on both transports and its metric.

#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "presence/clock.h"
#include "presence/v1/presence.grpc.pb.h"
#include "presence/v1/watch_metadata.h"
#include "service/app/presence_app.h"
#include "service/auth/token.h"
#include "service/auth/token_secrets.h"
#include "service/limits/client_limits.h"
#include "service/testing/http_get.h"
#include "service/testing/test_server.h"
#include "service/tls/testing/test_pki.h"

namespace presence {
namespace {

using ::testing::HasSubstr;

// "HTTP/1.1 429 ..." -> 429.
int StatusOf(const std::string& answer) {
  if (answer.size() < 12) return 0;
  return std::atoi(answer.substr(9, 3).c_str());
}

class LimitsTest : public testing::Test {
 protected:
  void Start(const ClientLimitsOptions& client_limits, Limits limits,
             const std::string& secret_file = "") {
    PresenceAppOptions options;
    if (!secret_file.empty()) {
      options.auth.mode = auth::AuthMode::kToken;
      options.auth.secret_file = secret_file;
    }
    options.limits = limits;
    options.client_limits = client_limits;
    options.grpc.listen_address = "127.0.0.1:0";
    options.grpc.shutdown_grace = absl::Milliseconds(300);
    options.pubnub.http.address = "127.0.0.1:0";
    options.pubnub.long_poll_timeout = absl::Seconds(30);
    options.expiry_interval = absl::ZeroDuration();
    options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<PresenceApp>> app =
        PresenceApp::Start(std::move(options));
    ASSERT_TRUE(app.ok()) << app.status();
    app_ = *std::move(app);
    channel_ = grpc::CreateChannel(app_->grpc_address(),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::PresenceService::NewStub(channel_);
  }
  void Start(const ClientLimitsOptions& client_limits) {
    Start(client_limits, TestServer::TestLimits());
  }

  grpc::Status Heartbeat(const std::string& user, const std::string& channel,
                         const std::string& session = "",
                         std::string* retry_after_ms = nullptr,
                         const std::string& token = "") {
    grpc::ClientContext context;
    if (!token.empty()) {
      context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    }
    v1::HeartbeatRequest request;
    request.set_user_id(user);
    request.add_channels(channel);
    request.set_session_id(session);
    v1::HeartbeatResponse response;
    grpc::Status status = stub_->Heartbeat(&context, request, &response);
    if (retry_after_ms != nullptr) {
      const auto& trailers = context.GetServerTrailingMetadata();
      auto it = trailers.find("retry-after-ms");
      *retry_after_ms = it == trailers.end()
                            ? ""
                            : std::string(it->second.data(), it->second.size());
    }
    return status;
  }

  grpc::Status HereNow(const std::string& channel) {
    grpc::ClientContext context;
    v1::HereNowRequest request;
    request.add_channels(channel);
    v1::HereNowResponse response;
    return stub_->HereNow(&context, request, &response);
  }

  // A WatchEvents stream of `channel`; `*status` is OK while it is open
  // (registered), else how it ended.
  struct Watch {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReader<v1::WatchEventsResponse>> reader;
  };
  std::unique_ptr<Watch> OpenWatch(const std::string& channel,
                                   grpc::Status* status) {
    auto watch = std::make_unique<Watch>();
    v1::WatchEventsRequest request;
    request.add_channels(channel);
    watch->reader = stub_->WatchEvents(&watch->context, request);
    watch->reader->WaitForInitialMetadata();
    const auto& metadata = watch->context.GetServerInitialMetadata();
    if (metadata.find(v1::kWatchRegisteredMetadataKey) != metadata.end()) {
      *status = grpc::Status::OK;
    } else {
      *status = watch->reader->Finish();
    }
    return watch;
  }

  // Ends a watch and waits until the server let go of its slot.
  void CloseWatch(std::unique_ptr<Watch> watch, size_t open_after) {
    watch->context.TryCancel();
    watch->reader->Finish();
    const absl::Time give_up = absl::Now() + absl::Seconds(10);
    while (app_->client_limits().watchers().total() > open_after &&
           absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    ASSERT_EQ(app_->client_limits().watchers().total(), open_after);
  }

  SimulatedClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  std::unique_ptr<PresenceApp> app_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::PresenceService::Stub> stub_;
};

TEST_F(LimitsTest, GrpcWritesBeyondTheBurstWaitForTheRate) {
  ClientLimitsOptions limits;
  limits.write_rate_per_client = 2;
  limits.write_burst_per_client = 2;
  Start(limits);

  EXPECT_TRUE(Heartbeat("alice", "lobby").ok());
  EXPECT_TRUE(Heartbeat("alice", "lobby").ok());
  std::string retry_after;
  grpc::Status refused = Heartbeat("alice", "lobby", "", &retry_after);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("--write_rate_per_client"));
  EXPECT_EQ(retry_after, "500");  // One token at 2 per second.
  // Reads are not writes.
  EXPECT_TRUE(HereNow("lobby").ok());
  EXPECT_EQ(app_->client_limits().rate_limited("grpc", "Heartbeat"), 1u);

  // Group changes are writes too, of the same client (127.0.0.1).
  auto groups = v1::ChannelGroupService::NewStub(channel_);
  grpc::ClientContext context;
  v1::AddChannelsRequest add;
  add.set_group("g");
  add.add_channels("lobby");
  v1::AddChannelsResponse added;
  EXPECT_EQ(groups->AddChannels(&context, add, &added).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);

  clock_.Advance(absl::Milliseconds(500));
  EXPECT_TRUE(Heartbeat("alice", "lobby").ok());
  EXPECT_EQ(Heartbeat("alice", "lobby").error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(LimitsTest, WithTokensEachUserHasItsOwnRate) {
  constexpr char kSecret[] = "limits-secret-0123456789-0123456789-0123456";
  const std::string secrets = absl::StrCat(TestDir("limits_test"), "/secrets");
  std::ofstream(secrets) << kSecret << "\n";
  ClientLimitsOptions limits;
  limits.write_rate_per_client = 1;
  limits.write_burst_per_client = 1;
  Start(limits, TestServer::TestLimits(), secrets);
  const auto mint = [&](const std::string& user) {
    auth::Claims claims;
    claims.user_id = user;
    claims.channels["lobby"] = auth::kRead | auth::kWrite;
    return auth::TokenSecrets::FromText(kSecret, "test")
        ->Mint(std::move(claims), clock_.Now(), absl::Hours(1))
        ->token;
  };
  const std::string alice = mint("alice");
  const std::string alice_again = mint("alice");
  const std::string bob = mint("bob");
  // Same peer (127.0.0.1), different users: a bucket each.
  EXPECT_TRUE(Heartbeat("alice", "lobby", "", nullptr, alice).ok());
  EXPECT_TRUE(Heartbeat("bob", "lobby", "", nullptr, bob).ok());
  // Every token of a user shares the user's bucket.
  EXPECT_EQ(Heartbeat("alice", "lobby", "", nullptr, alice_again).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  // A refused token is refused before it costs anything.
  EXPECT_EQ(
      Heartbeat("bob", "lobby", "", nullptr, "pv1.bad.token").error_code(),
      grpc::StatusCode::UNAUTHENTICATED);
  clock_.Advance(absl::Seconds(1));
  EXPECT_TRUE(Heartbeat("alice", "lobby", "", nullptr, alice_again).ok());
}

TEST_F(LimitsTest, BatchHeartbeatCostsItsEntries) {
  ClientLimitsOptions limits;
  limits.write_rate_per_client = 4;
  limits.write_burst_per_client = 4;
  Start(limits);

  v1::BatchHeartbeatRequest batch;
  for (int i = 0; i < 4; ++i) {
    v1::HeartbeatRequest* beat = batch.add_entries()->mutable_heartbeat();
    beat->set_user_id(absl::StrCat("u", i));
    beat->add_channels("lobby");
  }
  {
    grpc::ClientContext context;
    v1::BatchHeartbeatResponse response;
    EXPECT_TRUE(stub_->BatchHeartbeat(&context, batch, &response).ok());
  }
  // The four entries took the whole burst.
  EXPECT_EQ(Heartbeat("alice", "lobby").error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  clock_.Advance(absl::Milliseconds(250));
  EXPECT_TRUE(Heartbeat("alice", "lobby").ok());
}

TEST_F(LimitsTest, WatchersPerClient) {
  ClientLimitsOptions limits;
  limits.max_watchers_per_client = 2;
  Start(limits);

  grpc::Status status;
  std::unique_ptr<Watch> first = OpenWatch("lobby", &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::unique_ptr<Watch> second = OpenWatch("lobby", &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::unique_ptr<Watch> third = OpenWatch("lobby", &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("--max_watchers_per_client"));
  EXPECT_EQ(
      app_->client_limits().watch_rejections("grpc", WatchLimit::kPerClient),
      1u);

  // An ended watch frees its slot.
  CloseWatch(std::move(first), 1);
  std::unique_ptr<Watch> again = OpenWatch("lobby", &status);
  EXPECT_TRUE(status.ok()) << status.error_message();
  CloseWatch(std::move(again), 1);
  CloseWatch(std::move(second), 0);
}

TEST_F(LimitsTest, WatchersInTotalAcrossTransports) {
  ClientLimitsOptions limits;
  limits.max_watchers = 1;
  Start(limits);

  grpc::Status status;
  std::unique_ptr<Watch> watch = OpenWatch("lobby", &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  // A held subscribe long-poll is a watcher too.
  const std::string poll = HttpGet(
      app_->http_port(), "/v2/subscribe/demo/lobby-pnpres/0?uuid=bob&tt=1");
  EXPECT_EQ(StatusOf(poll), 429) << poll;
  EXPECT_THAT(poll, HasSubstr("--max_watchers"));
  EXPECT_EQ(app_->client_limits().watch_rejections("http", WatchLimit::kTotal),
            1u);
  // A handshake (tt=0) is answered at once: not a watcher.
  EXPECT_EQ(
      StatusOf(HttpGet(app_->http_port(),
                       "/v2/subscribe/demo/lobby-pnpres/0?uuid=bob&tt=0")),
      200);
  CloseWatch(std::move(watch), 0);
}

TEST_F(LimitsTest, HttpWritesBeyondTheBurstAre429WithRetryAfter) {
  ClientLimitsOptions limits;
  limits.write_rate_per_client = 1;
  limits.write_burst_per_client = 1;
  Start(limits);
  const int port = app_->http_port();
  const std::string heartbeat =
      "/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=alice";

  EXPECT_EQ(StatusOf(HttpGet(port, heartbeat)), 200);
  const std::string refused = HttpGet(port, heartbeat);
  EXPECT_EQ(StatusOf(refused), 429) << refused;
  EXPECT_THAT(refused, HasSubstr("Retry-After: 1\r\n"));
  EXPECT_THAT(refused, HasSubstr("--write_rate_per_client"));
  EXPECT_EQ(app_->client_limits().rate_limited("http", "heartbeat"), 1u);
  // The same client over gRPC shares the bucket.
  EXPECT_EQ(Heartbeat("alice", "lobby").error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  // Reads are not charged.
  EXPECT_EQ(
      StatusOf(HttpGet(port, "/v2/presence/sub-key/demo/channel/lobby?uuid=x")),
      200);

  // A subscribe is served while its heartbeat waits: bob is not joined yet.
  EXPECT_EQ(StatusOf(HttpGet(port, "/v2/subscribe/demo/hall/0?uuid=bob&tt=0")),
            200);
  EXPECT_EQ(app_->client_limits().rate_limited("http", "subscribe"), 1u);
  absl::StatusOr<WhereNowResult> where =
      app_->presence().WhereNow(WhereNowRequest{"bob"});
  ASSERT_TRUE(where.ok());
  EXPECT_TRUE(where->channels.empty());

  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(StatusOf(HttpGet(port, "/v2/subscribe/demo/hall/0?uuid=bob&tt=0")),
            200);
  where = app_->presence().WhereNow(WhereNowRequest{"bob"});
  ASSERT_TRUE(where.ok());
  EXPECT_EQ(where->channels, std::vector<std::string>{"hall"});
}

TEST_F(LimitsTest, SessionsPerUserOnBothTransports) {
  Limits limits = TestServer::TestLimits();
  limits.max_sessions_per_user = 2;
  Start(ClientLimitsOptions(), limits);

  EXPECT_TRUE(Heartbeat("alice", "lobby", "phone").ok());
  EXPECT_TRUE(Heartbeat("alice", "hall", "laptop").ok());
  grpc::Status refused = Heartbeat("alice", "lobby", "tablet");
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("'alice'"));
  EXPECT_THAT(refused.error_message(), HasSubstr("max_sessions_per_user"));
  // Known sessions go on.
  EXPECT_TRUE(Heartbeat("alice", "lobby", "laptop").ok());
  // PubNub clients use the default session "": a third one.
  const std::string answer =
      HttpGet(app_->http_port(),
              "/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=alice");
  EXPECT_EQ(StatusOf(answer), 429) << answer;
  EXPECT_THAT(answer, HasSubstr("max_sessions_per_user"));

  ClientLimits& counts = app_->client_limits();
  EXPECT_EQ(counts.user_limit_rejections("grpc", UserLimit::kSessionsPerUser),
            1u);
  EXPECT_EQ(counts.user_limit_rejections("http", UserLimit::kSessionsPerUser),
            1u);
}

TEST_F(LimitsTest, ChannelsPerUserInABatch) {
  Limits limits = TestServer::TestLimits();
  limits.max_channels_per_user = 2;
  Start(ClientLimitsOptions(), limits);

  v1::BatchHeartbeatRequest batch;
  for (const char* channel : {"a", "b", "c"}) {
    v1::HeartbeatRequest* beat = batch.add_entries()->mutable_heartbeat();
    beat->set_user_id("alice");
    beat->add_channels(channel);
  }
  grpc::ClientContext context;
  v1::BatchHeartbeatResponse response;
  ASSERT_TRUE(stub_->BatchHeartbeat(&context, batch, &response).ok());
  ASSERT_EQ(response.results_size(), 3);
  EXPECT_EQ(response.results(0).code(), 0);
  EXPECT_EQ(response.results(1).code(), 0);
  EXPECT_EQ(response.results(2).code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(response.results(2).message(),
              HasSubstr("max_channels_per_user"));
  EXPECT_EQ(app_->client_limits().user_limit_rejections(
                "grpc", UserLimit::kChannelsPerUser),
            1u);
  absl::StatusOr<WhereNowResult> where =
      app_->presence().WhereNow(WhereNowRequest{"alice"});
  ASSERT_TRUE(where.ok());
  EXPECT_EQ(where->channels, (std::vector<std::string>{"a", "b"}));
}

}  // namespace
}  // namespace presence
