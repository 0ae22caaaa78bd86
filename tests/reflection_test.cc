// A generic gRPC client that knows no presence proto (what grpcurl does):
// it discovers every service and RPC through server reflection, builds
// requests from JSON with dynamic messages, and calls each RPC.
#include <signal.h>

#include <cstdio>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/descriptor_database.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/util/json_util.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "service/testing/server_process.h"

namespace presence {
namespace {

namespace reflection = grpc::reflection::v1alpha;
using ::google::protobuf::DescriptorPool;
using ::google::protobuf::DynamicMessageFactory;
using ::google::protobuf::FileDescriptorProto;
using ::google::protobuf::Message;
using ::google::protobuf::MethodDescriptor;
using ::google::protobuf::SimpleDescriptorDatabase;
using ::testing::IsSupersetOf;

// Discovers services and their descriptors over one reflection stream.
class ReflectionClient {
 public:
  explicit ReflectionClient(std::shared_ptr<grpc::Channel> channel)
      : stub_(reflection::ServerReflection::NewStub(channel)),
        stream_(stub_->ServerReflectionInfo(&context_)) {}

  ~ReflectionClient() {
    stream_->WritesDone();
    stream_->Finish();
  }

  std::vector<std::string> ListServices() {
    reflection::ServerReflectionRequest request;
    request.set_list_services("");
    reflection::ServerReflectionResponse response = Ask(request);
    std::vector<std::string> names;
    for (const auto& service : response.list_services_response().service()) {
      names.push_back(service.name());
    }
    return names;
  }

  // Loads the files defining `symbol` (with their dependencies) into db_.
  void LoadSymbol(const std::string& symbol) {
    reflection::ServerReflectionRequest request;
    request.set_file_containing_symbol(symbol);
    reflection::ServerReflectionResponse response = Ask(request);
    ASSERT_TRUE(response.has_file_descriptor_response())
        << response.error_response().error_message();
    for (const std::string& bytes :
         response.file_descriptor_response().file_descriptor_proto()) {
      FileDescriptorProto file;
      ASSERT_TRUE(file.ParseFromString(bytes));
      if (loaded_.insert(file.name()).second) db_.Add(file);
    }
  }

  SimpleDescriptorDatabase& database() { return db_; }

 private:
  reflection::ServerReflectionResponse Ask(
      const reflection::ServerReflectionRequest& request) {
    reflection::ServerReflectionResponse response;
    EXPECT_TRUE(stream_->Write(request));
    EXPECT_TRUE(stream_->Read(&response));
    return response;
  }

  std::unique_ptr<reflection::ServerReflection::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<
      grpc::ClientReaderWriter<reflection::ServerReflectionRequest,
                               reflection::ServerReflectionResponse>>
      stream_;
  SimpleDescriptorDatabase db_;
  std::set<std::string> loaded_;
};

class ReflectionTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start().ok());
    channel_ = grpc::CreateChannel(server_.address(),
                                   grpc::InsecureChannelCredentials());
    reflection_ = std::make_unique<ReflectionClient>(channel_);
    services_ = reflection_->ListServices();
    for (const std::string& service : services_)
      reflection_->LoadSymbol(service);
    pool_ = std::make_unique<DescriptorPool>(&reflection_->database());
  }

  // Calls `rpc` ("package.Service/Method") with a JSON request; returns the
  // JSON response, or "error <code>: <message>".
  std::string Call(const std::string& rpc, const std::string& json_request) {
    const size_t slash = rpc.find('/');
    const auto* service = pool_->FindServiceByName(rpc.substr(0, slash));
    EXPECT_NE(service, nullptr) << rpc;
    if (service == nullptr) return "no service";
    const MethodDescriptor* method =
        service->FindMethodByName(rpc.substr(slash + 1));
    EXPECT_NE(method, nullptr) << rpc;
    if (method == nullptr) return "no method";

    std::unique_ptr<Message> request(
        factory_.GetPrototype(method->input_type())->New());
    auto parsed = google::protobuf::util::JsonStringToMessage(json_request,
                                                              request.get());
    EXPECT_TRUE(parsed.ok()) << parsed.ToString();
    std::string bytes;
    request->SerializeToString(&bytes);
    grpc::Slice slice(bytes);
    grpc::ByteBuffer send(&slice, 1);
    grpc::ByteBuffer received;

    grpc::GenericStub stub(channel_);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    std::promise<grpc::Status> done;
    stub.UnaryCall(&context, absl::StrCat("/", rpc), grpc::StubOptions(), &send,
                   &received,
                   [&done](grpc::Status status) { done.set_value(status); });
    grpc::Status status = done.get_future().get();
    if (!status.ok()) {
      return absl::StrCat("error ", status.error_code(), ": ",
                          status.error_message());
    }
    std::vector<grpc::Slice> slices;
    EXPECT_TRUE(received.Dump(&slices).ok());
    std::string out;
    for (const grpc::Slice& s : slices) {
      out.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
    std::unique_ptr<Message> response(
        factory_.GetPrototype(method->output_type())->New());
    EXPECT_TRUE(response->ParseFromString(out));
    std::string json;
    EXPECT_TRUE(
        google::protobuf::util::MessageToJsonString(*response, &json).ok());
    return json;
  }

  void TearDown() override {
    reflection_.reset();
    channel_.reset();
    EXPECT_EQ(server_.Stop(SIGTERM), 0) << server_.Log();
  }

  ServerProcess server_{ServerBinaryPath(), {"--min_timeout_seconds=1"}};
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<ReflectionClient> reflection_;
  std::vector<std::string> services_;
  std::unique_ptr<DescriptorPool> pool_;
  DynamicMessageFactory factory_;
};

TEST_F(ReflectionTest, EveryServiceAndRpcIsDiscoverable) {
  EXPECT_THAT(
      services_,
      IsSupersetOf({"presence.v1.PresenceService",
                    "presence.v1.ChannelGroupService", "grpc.health.v1.Health",
                    "grpc.reflection.v1alpha.ServerReflection"}));
  std::set<std::string> rpcs;
  for (const char* name :
       {"presence.v1.PresenceService", "presence.v1.ChannelGroupService"}) {
    const auto* service = pool_->FindServiceByName(name);
    ASSERT_NE(service, nullptr) << name;
    for (int i = 0; i < service->method_count(); ++i) {
      rpcs.insert(service->method(i)->full_name());
    }
  }
  EXPECT_THAT(rpcs, IsSupersetOf({
                        "presence.v1.PresenceService.HereNow",
                        "presence.v1.PresenceService.WhereNow",
                        "presence.v1.PresenceService.SetState",
                        "presence.v1.PresenceService.GetState",
                        "presence.v1.PresenceService.Heartbeat",
                        "presence.v1.PresenceService.Leave",
                        "presence.v1.ChannelGroupService.AddChannels",
                        "presence.v1.ChannelGroupService.RemoveChannels",
                        "presence.v1.ChannelGroupService.ListChannels",
                        "presence.v1.ChannelGroupService.ListGroups",
                        "presence.v1.ChannelGroupService.DeleteGroup",
                    }));
}

TEST_F(ReflectionTest, EveryRpcCanBeCalledWithJsonAlone) {
  const std::string cg = "presence.v1.ChannelGroupService/";
  const std::string ps = "presence.v1.PresenceService/";
  EXPECT_EQ(
      Call(cg + "AddChannels", R"({"group":"friends","channels":["a","b"]})"),
      "{}");
  EXPECT_EQ(Call(cg + "ListChannels", R"({"group":"friends"})"),
            R"({"channels":["a","b"]})");
  EXPECT_EQ(Call(cg + "ListGroups", "{}"), R"({"groups":["friends"]})");
  EXPECT_EQ(Call(ps + "Heartbeat", R"({"userId":"alice","channels":["lobby"],
                 "channelGroups":["friends"],"timeoutSeconds":60,
                 "states":{"lobby":{"mood":"happy"}}})"),
            R"({"timeoutSeconds":60,"heartbeatIntervalSeconds":29})");
  EXPECT_EQ(
      Call(ps + "HereNow", R"({"channels":["lobby"],"includeState":true})"),
      R"({"totalChannels":1,"totalOccupancy":1,"channels":[{"name":"lobby",)"
      R"("occupancy":1,"occupants":[{"userId":"alice","state":{"mood":"happy"}}]}]})");
  EXPECT_EQ(Call(ps + "WhereNow", R"({"userId":"alice"})"),
            R"({"channels":["a","b","lobby"]})");
  EXPECT_EQ(Call(ps + "SetState",
                 R"({"userId":"alice","channels":["a"],"state":{"n":1}})"),
            R"({"channels":["a"],"state":{"n":1}})");
  EXPECT_EQ(
      Call(ps + "GetState", R"({"userId":"alice","channels":["a","lobby"]})"),
      R"({"states":[{"channelName":"a","state":{"n":1}},)"
      R"({"channelName":"lobby","state":{"mood":"happy"}}]})");
  EXPECT_EQ(
      Call(ps + "Leave", R"({"userId":"alice","channelGroups":["friends"]})"),
      R"({"channels":["a","b"]})");
  EXPECT_EQ(
      Call(cg + "RemoveChannels", R"({"group":"friends","channels":["a"]})"),
      "{}");
  EXPECT_EQ(Call(cg + "DeleteGroup", R"({"group":"friends"})"), "{}");
  EXPECT_EQ(Call(cg + "DeleteGroup", R"({"group":"friends"})"),
            "error 5: channel group 'friends' does not exist");
  EXPECT_EQ(
      Call(ps + "WhereNow", R"({"userId":"has space"})"),
      "error 3: user_id: user id contains whitespace ' '; user ids must be "
      "printable and contain no whitespace");
}

TEST_F(ReflectionTest, HealthAnswersThroughTheGenericClient) {
  EXPECT_EQ(Call("grpc.health.v1.Health/Check", "{}"),
            R"({"status":"SERVING"})");
  EXPECT_EQ(Call("grpc.health.v1.Health/Check",
                 R"({"service":"presence.v1.PresenceService"})"),
            R"({"status":"SERVING"})");
}

}  // namespace
}  // namespace presence
