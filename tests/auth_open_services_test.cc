// With --auth=token, health and server reflection stay open: load balancers
// and grpcurl need no token. Against the binary (the in-process server links
// gRPC's own copy of the reflection protos, which would clash with this
// client's).
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "presence/v1/presence.grpc.pb.h"
#include "service/testing/server_process.h"

namespace presence {
namespace {

namespace reflection = grpc::reflection::v1alpha;
using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

TEST(AuthOpenServicesTest, HealthAndReflectionNeedNoToken) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string secrets = absl::StrCat(dir ? dir : "/tmp", "/secrets");
  std::ofstream(secrets) << "open-services-0123456789-0123456789-0123456\n";
  ServerProcess server(ServerBinaryPath(),
                       {"--auth=token", "--auth_secret_file=" + secrets});
  ASSERT_TRUE(server.Start().ok()) << server.Log();
  auto channel =
      grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());

  grpc::ClientContext health_context;
  HealthCheckResponse health;
  ASSERT_TRUE(Health::NewStub(channel)
                  ->Check(&health_context, HealthCheckRequest(), &health)
                  .ok());
  EXPECT_EQ(health.status(), HealthCheckResponse::SERVING);

  auto stub = reflection::ServerReflection::NewStub(channel);
  grpc::ClientContext context;
  auto stream = stub->ServerReflectionInfo(&context);
  reflection::ServerReflectionRequest request;
  request.set_list_services("");
  ASSERT_TRUE(stream->Write(request));
  reflection::ServerReflectionResponse response;
  ASSERT_TRUE(stream->Read(&response));
  std::vector<std::string> names;
  for (const auto& service : response.list_services_response().service()) {
    names.push_back(service.name());
  }
  EXPECT_THAT(names, testing::IsSupersetOf({"presence.v1.PresenceService",
                                            "presence.v1.ChannelGroupService",
                                            "presence.v1.AccessService",
                                            "grpc.health.v1.Health"}));
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());

  // The presence services themselves do need one.
  grpc::ClientContext here_context;
  v1::HereNowRequest here;
  here.add_channels("lobby");
  v1::HereNowResponse answer;
  EXPECT_EQ(v1::PresenceService::NewStub(channel)
                ->HereNow(&here_context, here, &answer)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace presence
