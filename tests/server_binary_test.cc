// End to end: the presence_server binary as a user runs it, on a free port;
// health answers, and SIGTERM/SIGINT drain and exit 0.
#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "presence/testing/redis_server.h"
#include "presence/v1/presence.grpc.pb.h"
#include "service/testing/http_get.h"
#include "service/testing/server_process.h"

namespace presence {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::HasSubstr;
using ::testing::Not;

HealthCheckResponse::ServingStatus Check(const std::string& address,
                                         const std::string& service) {
  auto channel =
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto stub = Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.status();
}

TEST(ServerBinaryTest, ServesHealthAndExitsCleanlyOnSigterm) {
  ServerProcess server(ServerBinaryPath(), {});
  ASSERT_TRUE(server.Start().ok());
  EXPECT_THAT(server.address(), testing::StartsWith("127.0.0.1:"));
  EXPECT_NE(server.address(), "127.0.0.1:0");
  for (const char* service :
       {"", "presence.v1.PresenceService", "presence.v1.ChannelGroupService"}) {
    EXPECT_EQ(Check(server.address(), service), HealthCheckResponse::SERVING)
        << service;
  }
  const int status = server.Stop(SIGTERM);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_THAT(server.Log(), HasSubstr("received SIGTERM"));
  EXPECT_THAT(server.Log(), HasSubstr("presence_server stopped"));
}

TEST(ServerBinaryTest, ServesPrometheusMetrics) {
  ServerProcess server(ServerBinaryPath(), {"--metrics_address=127.0.0.1:0"});
  ASSERT_TRUE(server.Start().ok());
  // "metrics on http://127.0.0.1:<port>/metrics" is logged before the
  // "listening on" line Start() waits for.
  const std::string log = server.Log();
  const std::string marker = "metrics on http://127.0.0.1:";
  const size_t at = log.find(marker);
  ASSERT_NE(at, std::string::npos) << log;
  const int port = std::stoi(log.substr(at + marker.size()));
  const std::string metrics = HttpGet(port, "/metrics");
  EXPECT_THAT(metrics, HasSubstr("HTTP/1.1 200 OK"));
  EXPECT_THAT(metrics, HasSubstr("presence_store_healthy 1\n"));
  EXPECT_THAT(metrics, HasSubstr("presence_watchers 0\n"));
  EXPECT_THAT(metrics, HasSubstr("presence_events_total{action=\"join\"} 0\n"));
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.Log();
}

TEST(ServerBinaryTest, MetricsCountRpcsByMethodAndCode) {
  ServerProcess server(ServerBinaryPath(), {"--metrics_address=127.0.0.1:0"});
  ASSERT_TRUE(server.Start().ok());
  const std::string log = server.Log();
  const std::string marker = "metrics on http://127.0.0.1:";
  const int port = std::stoi(log.substr(log.find(marker) + marker.size()));
  auto presence = v1::PresenceService::NewStub(grpc::CreateChannel(
      server.address(), grpc::InsecureChannelCredentials()));
  for (const char* user : {"alice", ""}) {  // One OK, one INVALID_ARGUMENT.
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    v1::HeartbeatRequest request;
    request.set_user_id(user);
    request.add_channels("lobby");
    v1::HeartbeatResponse response;
    (void)presence->Heartbeat(&context, request, &response);
  }
  const std::string metrics = HttpGet(port, "/metrics");
  const std::string labels =
      "grpc_service=\"presence.v1.PresenceService\",grpc_method=\"Heartbeat\"";
  EXPECT_THAT(metrics, HasSubstr("grpc_server_handled_total{" + labels +
                                 ",grpc_code=\"OK\"} 1\n"));
  EXPECT_THAT(metrics, HasSubstr("grpc_server_handled_total{" + labels +
                                 ",grpc_code=\"InvalidArgument\"} 1\n"));
  EXPECT_THAT(metrics, HasSubstr("# TYPE grpc_server_handling_seconds "
                                 "histogram\n"));
  EXPECT_THAT(metrics, HasSubstr("grpc_server_handling_seconds_count{" +
                                 labels + "} 2\n"));
  EXPECT_THAT(metrics, HasSubstr("presence_build_info{version=\""));
  EXPECT_THAT(metrics,
              HasSubstr("# TYPE presence_watchers_by_transport gauge"));
  EXPECT_THAT(metrics, HasSubstr("presence_protobuf_log_lines_total "));
  // The store's gauges (PresenceStore::Stats()): alice in "lobby".
  EXPECT_THAT(metrics, HasSubstr("# TYPE presence_channels gauge\n"
                                 "presence_channels 1\n"));
  EXPECT_THAT(metrics, HasSubstr("# TYPE presence_memberships gauge\n"
                                 "presence_memberships 1\n"));
  EXPECT_THAT(metrics, HasSubstr("# TYPE presence_sessions gauge\n"
                                 "presence_sessions 1\n"));
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.Log();
}

TEST(ServerBinaryTest, MetricsShowRedisRoundTripsAndErrors) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  ServerProcess server(
      ServerBinaryPath(),
      {"--metrics_address=127.0.0.1:0", "--store=redis",
       "--redis_timeout=200ms", "--redis_url=" + (*redis)->url()});
  ASSERT_TRUE(server.Start().ok());
  const std::string log = server.Log();
  const std::string marker = "metrics on http://127.0.0.1:";
  const int port = std::stoi(log.substr(log.find(marker) + marker.size()));
  auto presence = v1::PresenceService::NewStub(grpc::CreateChannel(
      server.address(), grpc::InsecureChannelCredentials()));
  auto heartbeat = [&] {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    v1::HeartbeatRequest request;
    request.set_user_id("alice");
    request.add_channels("lobby");
    v1::HeartbeatResponse response;
    return presence->Heartbeat(&context, request, &response);
  };
  ASSERT_TRUE(heartbeat().ok());
  std::string metrics = HttpGet(port, "/metrics");
  const std::string heartbeats = "{function=\"heartbeat\"}";
  EXPECT_THAT(metrics, HasSubstr("# TYPE presence_redis_round_trip_seconds "
                                 "histogram\n"));
  EXPECT_THAT(metrics, HasSubstr("presence_redis_round_trip_seconds_count" +
                                 heartbeats + " 1\n"));
  EXPECT_THAT(metrics,
              HasSubstr("presence_redis_errors_total" + heartbeats + " 0\n"));

  (*redis)->Kill();  // Calls now fail: UNAVAILABLE, counted as errors.
  EXPECT_FALSE(heartbeat().ok());
  metrics = HttpGet(port, "/metrics");
  EXPECT_THAT(metrics, Not(HasSubstr("presence_redis_errors_total" +
                                     heartbeats + " 0\n")));
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.Log();
}

TEST(ServerBinaryTest, LogsJsonLinesWhenAsked) {
  ServerProcess server(ServerBinaryPath(), {"--log_format=json"});
  ASSERT_TRUE(server.Start().ok());
  EXPECT_EQ(server.Stop(SIGTERM), 0);
  const std::string log = server.Log();
  int lines = 0;
  for (absl::string_view line : absl::StrSplit(log, '\n', absl::SkipEmpty())) {
    ++lines;
    EXPECT_TRUE(absl::StartsWith(line, "{\"time\":\"")) << line;
    EXPECT_TRUE(absl::EndsWith(line, "}")) << line;
    EXPECT_THAT(std::string(line), HasSubstr("\"level\":\"INFO\",\"msg\":\""));
  }
  EXPECT_EQ(lines, 3) << log;  // Listening, the signal, stopped.
  EXPECT_THAT(log, HasSubstr("\"address\":\"" + server.address() + "\""));
  EXPECT_THAT(log, HasSubstr("\"store\":\"memory\""));
  EXPECT_THAT(log, HasSubstr("\"signal\":\"SIGTERM\""));
  EXPECT_THAT(log, HasSubstr("\"msg\":\"presence_server stopped\"}"));
}

TEST(ServerBinaryTest, RefusesAnUnknownLogFormat) {
  ServerProcess server(ServerBinaryPath(), {"--log_format=xml"});
  EXPECT_FALSE(server.Start().ok());
  const int status = server.Stop(SIGTERM);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_THAT(server.Log(), HasSubstr("--log_format: \"xml\""));
}

TEST(ServerBinaryTest, ExitsCleanlyOnSigint) {
  ServerProcess server(ServerBinaryPath(), {});
  ASSERT_TRUE(server.Start().ok());
  const int status = server.Stop(SIGINT);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(ServerBinaryTest, RefusesInconsistentTimeoutFlags) {
  ServerProcess server(ServerBinaryPath(), {"--min_timeout_seconds=100",
                                            "--default_timeout_seconds=50"});
  EXPECT_FALSE(server.Start().ok());
  const int status = server.Stop(SIGTERM);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_THAT(server.Log(), HasSubstr("--min_timeout_seconds"));
}

TEST(ServerBinaryTest, ReportsAnAddressInUse) {
  ServerProcess first(ServerBinaryPath(), {});
  ASSERT_TRUE(first.Start().ok());
  // The flag given last wins, so this asks for the first server's port.
  ServerProcess second(ServerBinaryPath(),
                       {"--listen_address=" + first.address()});
  EXPECT_FALSE(second.Start().ok());
  const int status = second.Stop(SIGTERM);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_THAT(second.Log(), HasSubstr("cannot listen on " + first.address()));
}

}  // namespace
}  // namespace presence
