// End to end: the presence_server binary as a user runs it, on a free port;
// health answers, and SIGTERM/SIGINT drain and exit 0.
#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/server_process.h"

namespace presence {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::HasSubstr;

std::string server_binary;  // From the command line.

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
  ServerProcess server(server_binary, {});
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

TEST(ServerBinaryTest, ExitsCleanlyOnSigint) {
  ServerProcess server(server_binary, {});
  ASSERT_TRUE(server.Start().ok());
  const int status = server.Stop(SIGINT);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(ServerBinaryTest, RefusesInconsistentTimeoutFlags) {
  ServerProcess server(server_binary, {"--min_timeout_seconds=100",
                                       "--default_timeout_seconds=50"});
  EXPECT_FALSE(server.Start().ok());
  const int status = server.Stop(SIGTERM);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_THAT(server.Log(), HasSubstr("--min_timeout_seconds"));
}

TEST(ServerBinaryTest, ReportsAnAddressInUse) {
  ServerProcess first(server_binary, {});
  ASSERT_TRUE(first.Start().ok());
  // The flag given last wins, so this asks for the first server's port.
  ServerProcess second(server_binary, {"--listen_address=" + first.address()});
  EXPECT_FALSE(second.Start().ok());
  const int status = second.Stop(SIGTERM);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_THAT(second.Log(), HasSubstr("cannot listen on " + first.address()));
}

}  // namespace
}  // namespace presence

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <path to presence_server>\n", argv[0]);
    return 2;
  }
  presence::server_binary = argv[1];
  return RUN_ALL_TESTS();
}
