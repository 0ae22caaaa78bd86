// The real server in-process on a free port, driven with the generated
// stubs (what any language's client sends): health, graceful shutdown,
// server-side validation of bad input, and timeouts through the wire.
#include <cmath>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "presence/event.h"
#include "presence/v1/channel_group.grpc.pb.h"
#include "presence/v1/presence.grpc.pb.h"
#include "service/testing/test_server.h"

namespace presence {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::HasSubstr;

// Records "join alice"-style lines; thread-safe.
class EventRecorderForTest : public EventListener {
 public:
  void OnEvent(const PresenceEvent& event) override {
    std::lock_guard<std::mutex> lock(mu_);
    lines_.push_back(
        absl::StrCat(EventTypeName(event.type), " ", event.user_id));
  }
  std::vector<std::string> Lines() {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
};

PresenceServerOptions FastDrain() {
  PresenceServerOptions options;
  options.shutdown_grace = absl::Milliseconds(300);
  return options;
}

class ServerIntegrationTest : public testing::Test {
 protected:
  ServerIntegrationTest()
      : server_(TestServer::TestLimits(), FastDrain()),
        channel_(grpc::CreateChannel(server_.address(),
                                     grpc::InsecureChannelCredentials())),
        presence_(v1::PresenceService::NewStub(channel_)),
        groups_(v1::ChannelGroupService::NewStub(channel_)),
        health_(Health::NewStub(channel_)) {}

  // A context with a deadline, as every call should have.
  static std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(10));
    return context;
  }

  grpc::Status Heartbeat(const v1::HeartbeatRequest& request,
                         v1::HeartbeatResponse* response = nullptr) {
    v1::HeartbeatResponse ignored;
    return presence_->Heartbeat(Context().get(), request,
                                response ? response : &ignored);
  }

  v1::HereNowResponse HereNow(const std::string& channel) {
    v1::HereNowRequest request;
    request.add_channels(channel);
    v1::HereNowResponse response;
    grpc::Status status =
        presence_->HereNow(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  HealthCheckResponse::ServingStatus Check(const std::string& service) {
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    grpc::Status status = health_->Check(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.status();
  }

  static v1::HeartbeatRequest Join(const std::string& user,
                                   const std::string& channel,
                                   uint32_t timeout = 60) {
    v1::HeartbeatRequest request;
    request.set_user_id(user);
    request.add_channels(channel);
    request.set_timeout_seconds(timeout);
    return request;
  }

  TestServer server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::PresenceService::Stub> presence_;
  std::unique_ptr<v1::ChannelGroupService::Stub> groups_;
  std::unique_ptr<Health::Stub> health_;
};

TEST_F(ServerIntegrationTest, HealthIsServingForEveryService) {
  EXPECT_EQ(Check(""), HealthCheckResponse::SERVING);
  EXPECT_EQ(Check("presence.v1.PresenceService"), HealthCheckResponse::SERVING);
  EXPECT_EQ(Check("presence.v1.ChannelGroupService"),
            HealthCheckResponse::SERVING);
  HealthCheckRequest request;
  request.set_service("no.such.Service");
  HealthCheckResponse response;
  EXPECT_EQ(health_->Check(Context().get(), request, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServerIntegrationTest, LivenessIsServingWhateverTheStore) {
  EXPECT_EQ(Check("liveness"), HealthCheckResponse::SERVING);
  server_.server().SetServing(false);  // What an unreachable store does.
  EXPECT_EQ(Check(""), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(Check("liveness"), HealthCheckResponse::SERVING);
  server_.server().SetServing(true);
  EXPECT_EQ(Check(""), HealthCheckResponse::SERVING);
}

// Bytes that are not a valid message of the method's request type: a field
// whose length runs past the end, and a string field with invalid UTF-8.
class UnparsableRequestTest
    : public ServerIntegrationTest,
      public testing::WithParamInterface<std::pair<const char*, const char*>> {
};

TEST_P(UnparsableRequestTest, IsInvalidArgumentNamingTheMessageType) {
  const auto& [method, request_type] = GetParam();
  std::vector<std::string> cases = {std::string("\x0a\x7f\x01", 3)};
  // Every request but ListGroupsRequest (which has no fields) has a string
  // field 1.
  if (std::string(request_type) != "presence.v1.ListGroupsRequest") {
    cases.push_back(std::string("\x0a\x02\xc3\x28", 4));
  }
  for (const std::string& bytes : cases) {
    grpc::GenericStub stub(channel_);
    grpc::Slice slice(bytes);
    grpc::ByteBuffer send(&slice, 1);
    grpc::ByteBuffer received;
    std::unique_ptr<grpc::ClientContext> context = Context();
    std::mutex mu;
    std::condition_variable done_cv;
    bool done = false;
    grpc::Status status;
    stub.UnaryCall(context.get(), method, grpc::StubOptions(), &send, &received,
                   [&](grpc::Status s) {
                     std::lock_guard<std::mutex> lock(mu);
                     status = std::move(s);
                     done = true;
                     done_cv.notify_all();
                   });
    std::unique_lock<std::mutex> lock(mu);
    done_cv.wait(lock, [&] { return done; });
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << method << ": " << status.error_message();
    EXPECT_THAT(status.error_message(),
                HasSubstr(absl::StrCat("not a valid ", request_type)))
        << method;
  }
  EXPECT_EQ(HereNow("lobby").total_occupancy(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    EveryUnaryRpc, UnparsableRequestTest,
    testing::Values(
        std::make_pair("/presence.v1.PresenceService/HereNow",
                       "presence.v1.HereNowRequest"),
        std::make_pair("/presence.v1.PresenceService/WhereNow",
                       "presence.v1.WhereNowRequest"),
        std::make_pair("/presence.v1.PresenceService/SetState",
                       "presence.v1.SetStateRequest"),
        std::make_pair("/presence.v1.PresenceService/GetState",
                       "presence.v1.GetStateRequest"),
        std::make_pair("/presence.v1.PresenceService/Heartbeat",
                       "presence.v1.HeartbeatRequest"),
        std::make_pair("/presence.v1.PresenceService/Leave",
                       "presence.v1.LeaveRequest"),
        std::make_pair("/presence.v1.ChannelGroupService/AddChannels",
                       "presence.v1.AddChannelsRequest"),
        std::make_pair("/presence.v1.ChannelGroupService/RemoveChannels",
                       "presence.v1.RemoveChannelsRequest"),
        std::make_pair("/presence.v1.ChannelGroupService/ListChannels",
                       "presence.v1.ListChannelsRequest"),
        std::make_pair("/presence.v1.ChannelGroupService/ListGroups",
                       "presence.v1.ListGroupsRequest"),
        std::make_pair("/presence.v1.ChannelGroupService/DeleteGroup",
                       "presence.v1.DeleteGroupRequest")));

TEST_F(ServerIntegrationTest, HeartbeatReportsTimeoutAndInterval) {
  v1::HeartbeatResponse response;
  v1::HeartbeatRequest request = Join("alice", "lobby", 0);
  ASSERT_TRUE(Heartbeat(request, &response).ok());
  EXPECT_EQ(response.timeout_seconds(), 300u);
  EXPECT_EQ(response.heartbeat_interval_seconds(), 149u);
}

TEST_F(ServerIntegrationTest, TimeoutsHappenThroughTheWire) {
  EventRecorderForTest events;
  server_.store().AddListener(&events);
  ASSERT_TRUE(Heartbeat(Join("alice", "lobby", 5)).ok());
  ASSERT_TRUE(Heartbeat(Join("bob", "lobby", 50)).ok());
  EXPECT_EQ(HereNow("lobby").total_occupancy(), 2u);
  server_.clock().Advance(absl::Seconds(5));
  server_.ExpireSessions();
  v1::HereNowResponse here = HereNow("lobby");
  EXPECT_EQ(here.total_occupancy(), 1u);
  EXPECT_EQ(here.channels(0).occupants(0).user_id(), "bob");
  EXPECT_THAT(events.Lines(),
              testing::ElementsAre("active ", "join alice", "join bob",
                                   "timeout alice"));
  server_.store().RemoveListener(&events);
}

TEST_F(ServerIntegrationTest, BadInputIsRefusedWithTheFieldAndChangesNothing) {
  struct Case {
    v1::HeartbeatRequest request;
    std::string message;
  };
  std::vector<Case> cases;
  cases.push_back({Join("", "lobby"), "user_id: must not be empty"});
  cases.push_back({Join("alice", "lob by"), "channels[0]"});
  cases.push_back({Join("alice", "lobby", 7200), "timeout_seconds: 7200"});
  cases.push_back({Join("alice", "x-pnpres"), "-pnpres"});
  v1::HeartbeatRequest nan = Join("alice", "lobby");
  (*(*nan.mutable_states())["lobby"].mutable_fields())["x"].set_number_value(
      std::nan(""));
  cases.push_back({nan, R"(states["lobby"]: contains NaN)"});
  v1::HeartbeatRequest stray = Join("alice", "lobby");
  (*stray.mutable_states())["elsewhere"];
  cases.push_back({stray, R"(states["elsewhere"]: the key must be one of)"});
  v1::HeartbeatRequest deep = Join("alice", "lobby");
  google::protobuf::Struct* level = &(*deep.mutable_states())["lobby"];
  for (int i = 0; i < 20; ++i) {
    level = (*level->mutable_fields())["a"].mutable_struct_value();
  }
  cases.push_back({deep, R"(states["lobby"]: nested too deeply)"});
  v1::HeartbeatRequest none;
  none.set_user_id("alice");
  cases.push_back({none, "at least one channel or channel group is required"});

  for (const Case& c : cases) {
    grpc::Status status = Heartbeat(c.request);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.message;
    EXPECT_THAT(status.error_message(), HasSubstr(c.message));
  }
  v1::HereNowRequest all;
  v1::HereNowResponse response;
  ASSERT_TRUE(presence_->HereNow(Context().get(), all, &response).ok());
  EXPECT_EQ(response.total_channels(), 0u);
}

TEST_F(ServerIntegrationTest, OtherRpcsValidateToo) {
  v1::HereNowRequest here;
  here.set_limit(5000);
  v1::HereNowResponse here_response;
  grpc::Status status =
      presence_->HereNow(Context().get(), here, &here_response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("limit: 5000"));

  v1::SetStateRequest set;
  set.set_user_id("alice");
  set.add_channels("lobby");
  v1::SetStateResponse set_response;
  status = presence_->SetState(Context().get(), set, &set_response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("lobby"));

  v1::AddChannelsRequest add;
  add.set_group("g");
  add.add_channels("a:b");
  v1::AddChannelsResponse add_response;
  status = groups_->AddChannels(Context().get(), add, &add_response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("channels[0]"));

  v1::ListChannelsRequest list;
  list.set_group("missing");
  v1::ListChannelsResponse list_response;
  status = groups_->ListChannels(Context().get(), list, &list_response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "channel group 'missing' does not exist");
}

TEST_F(ServerIntegrationTest, OversizedRequestsAreRefused) {
  v1::HeartbeatRequest request = Join("alice", "lobby");
  (*(*request.mutable_states())["lobby"].mutable_fields())["blob"]
      .set_string_value(std::string(5 * 1024 * 1024, 'x'));
  grpc::Status status = Heartbeat(request);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(HereNow("lobby").total_occupancy(), 0u);
  // Under the message limit but over the state limit: the state rule.
  (*(*request.mutable_states())["lobby"].mutable_fields())["blob"]
      .set_string_value(std::string(40 * 1024, 'x'));
  status = Heartbeat(request);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("at most 32768"));
}

TEST_F(ServerIntegrationTest, ShutdownReportsNotServingAndDrains) {
  // A health Watch is a long-lived call: it sees NOT_SERVING, then is cut
  // when the drain deadline passes.
  grpc::ClientContext watch_context;
  HealthCheckRequest request;
  auto watch = health_->Watch(&watch_context, request);
  HealthCheckResponse update;
  ASSERT_TRUE(watch->Read(&update));
  EXPECT_EQ(update.status(), HealthCheckResponse::SERVING);

  std::thread shutdown([this] { server_.server().Shutdown(); });
  ASSERT_TRUE(watch->Read(&update));
  EXPECT_EQ(update.status(), HealthCheckResponse::NOT_SERVING);
  while (watch->Read(&update)) {
  }
  watch->Finish();
  shutdown.join();

  v1::WhereNowRequest where;
  where.set_user_id("alice");
  v1::WhereNowResponse response;
  EXPECT_EQ(presence_->WhereNow(Context().get(), where, &response).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace presence
