// End to end: the presence_server binary with --data_dir. Killed with
// SIGKILL at random points under load, it loses no acknowledged group
// change; a graceful restart keeps presence without events; sessions whose
// deadline passed while it was down time out, with events, right after the
// start; a damaged data directory stops the start with an error naming the
// file, and --data_dir_recover starts from what is intact.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "presence/store/durable/data_dir.h"
#include "presence/store/memory/memory_store_image.h"
#include "presence/v1/channel_group.grpc.pb.h"
#include "presence/v1/presence.grpc.pb.h"
#include "service/testing/http_receiver.h"
#include "service/testing/server_process.h"

namespace presence {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string NewDir() {
  static int counter = 0;
  const char* tmp = std::getenv("TEST_TMPDIR");
  return absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/durability_", getpid(),
                      "_", counter++);
}

// A client of one running server.
struct Client {
  explicit Client(const std::string& address)
      : channel(
            grpc::CreateChannel(address, grpc::InsecureChannelCredentials())),
        presence(v1::PresenceService::NewStub(channel)),
        groups(v1::ChannelGroupService::NewStub(channel)) {}

  static void Deadline(grpc::ClientContext& context) {
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
  }

  grpc::Status AddChannel(const std::string& group,
                          const std::string& channel_name) {
    grpc::ClientContext context;
    Deadline(context);
    v1::AddChannelsRequest request;
    request.set_group(group);
    request.add_channels(channel_name);
    v1::AddChannelsResponse response;
    return groups->AddChannels(&context, request, &response);
  }

  std::map<std::string, std::set<std::string>> Groups() {
    std::map<std::string, std::set<std::string>> out;
    grpc::ClientContext context;
    Deadline(context);
    v1::ListGroupsResponse list;
    EXPECT_TRUE(
        groups->ListGroups(&context, v1::ListGroupsRequest(), &list).ok());
    for (const std::string& group : list.groups()) {
      grpc::ClientContext channels_context;
      Deadline(channels_context);
      v1::ListChannelsRequest request;
      request.set_group(group);
      v1::ListChannelsResponse channels;
      EXPECT_TRUE(
          groups->ListChannels(&channels_context, request, &channels).ok());
      out[group].insert(channels.channels().begin(), channels.channels().end());
    }
    return out;
  }

  grpc::Status Heartbeat(const std::string& user, const std::string& ch,
                         uint32_t timeout = 60) {
    grpc::ClientContext context;
    Deadline(context);
    v1::HeartbeatRequest request;
    request.set_user_id(user);
    request.add_channels(ch);
    request.set_timeout_seconds(timeout);
    v1::HeartbeatResponse response;
    return presence->Heartbeat(&context, request, &response);
  }

  // "channel: user user ..." per occupied channel.
  std::vector<std::string> HereNow() {
    grpc::ClientContext context;
    Deadline(context);
    v1::HereNowRequest request;
    v1::HereNowResponse response;
    EXPECT_TRUE(presence->HereNow(&context, request, &response).ok());
    std::vector<std::string> out;
    for (const auto& ch : response.channels()) {
      std::string line = absl::StrCat(ch.name(), ":");
      for (const auto& user : ch.occupants()) {
        absl::StrAppend(&line, " ", user.user_id());
      }
      out.push_back(line);
    }
    return out;
  }

  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::PresenceService::Stub> presence;
  std::unique_ptr<v1::ChannelGroupService::Stub> groups;
};

TEST(DurabilityTest, Kill9UnderLoadLosesNoAcknowledgedGroupChange) {
  const std::string dir = NewDir();
  const std::vector<std::string> flags = {absl::StrCat("--data_dir=", dir),
                                          "--snapshot_interval=50ms"};
  std::mt19937 random(20261202);
  // Per writer: channels acknowledged, and the one in flight at the kill.
  constexpr int kWriters = 4;
  std::vector<std::set<std::string>> acknowledged(kWriters);
  std::vector<std::string> in_flight(kWriters);
  int next_channel = 0;
  for (int round = 0; round < 4; ++round) {
    ServerProcess server(ServerBinaryPath(), flags);
    ASSERT_TRUE(server.Start().ok()) << server.Log();
    Client client(server.address());
    // Everything acknowledged before, in every earlier round, is there.
    std::map<std::string, std::set<std::string>> groups = client.Groups();
    for (int w = 0; w < kWriters; ++w) {
      const std::string group = absl::StrCat("writer", w);
      std::set<std::string> present = groups[group];
      for (const std::string& ch : acknowledged[w]) {
        EXPECT_EQ(present.count(ch), 1u)
            << group << " lost " << ch << " (round " << round << ")";
      }
      // Nothing that was never asked for.
      for (const std::string& ch : present) {
        EXPECT_TRUE(acknowledged[w].count(ch) == 1 || ch == in_flight[w])
            << group << " has " << ch;
      }
      // What was in flight may or may not be there; from now on it is
      // what the store says.
      if (present.count(in_flight[w]) == 1)
        acknowledged[w].insert(in_flight[w]);
    }
    // Load: writers adding channels to their groups, and heartbeats.
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    std::vector<std::set<std::string>> acked_now(kWriters);
    std::vector<std::string> flight_now(kWriters);
    for (int w = 0; w < kWriters; ++w) {
      const int first = next_channel + w * 100000;
      threads.emplace_back([&, w, first] {
        Client writer(server.address());
        for (int i = first; !stop.load(); ++i) {
          const std::string ch = absl::StrCat("ch", i);
          flight_now[w] = ch;
          if (writer.AddChannel(absl::StrCat("writer", w), ch).ok()) {
            acked_now[w].insert(ch);
          } else {
            return;  // The server is gone.
          }
        }
      });
    }
    threads.emplace_back([&] {
      Client beater(server.address());
      for (int i = 0; !stop.load(); ++i) {
        if (!beater.Heartbeat(absl::StrCat("user", i % 500), "lobby").ok()) {
          return;
        }
      }
    });
    // A random point of the load.
    absl::SleepFor(absl::Milliseconds(
        std::uniform_int_distribution<int>(100, 400)(random)));
    const int status = server.Stop(SIGKILL);
    EXPECT_TRUE(WIFSIGNALED(status));
    stop.store(true);
    for (std::thread& thread : threads) thread.join();
    size_t acked = 0;
    for (int w = 0; w < kWriters; ++w) {
      acknowledged[w].insert(acked_now[w].begin(), acked_now[w].end());
      in_flight[w] = flight_now[w];
      acked += acked_now[w].size();
    }
    EXPECT_GT(acked, 0u) << "no change was acknowledged before the kill";
    std::printf("round %d: %zu group changes acknowledged, then SIGKILL\n",
                round, acked);
    next_channel += 1000000;
  }
  // The last kill too.
  ServerProcess server(ServerBinaryPath(), flags);
  ASSERT_TRUE(server.Start().ok()) << server.Log();
  Client client(server.address());
  std::map<std::string, std::set<std::string>> groups = client.Groups();
  for (int w = 0; w < kWriters; ++w) {
    for (const std::string& ch : acknowledged[w]) {
      EXPECT_EQ(groups[absl::StrCat("writer", w)].count(ch), 1u) << ch;
    }
  }
}

TEST(DurabilityTest, AGracefulRestartKeepsPresenceWithoutEvents) {
  const std::string dir = NewDir();
  const std::vector<std::string> flags = {absl::StrCat("--data_dir=", dir)};
  std::vector<std::string> before;
  {
    ServerProcess server(ServerBinaryPath(), flags);
    ASSERT_TRUE(server.Start().ok()) << server.Log();
    Client client(server.address());
    for (int i = 0; i < 60; ++i) {
      ASSERT_TRUE(
          client.Heartbeat(absl::StrCat("user", i), absl::StrCat("room", i % 4))
              .ok());
    }
    before = client.HereNow();
    const int status = server.Stop(SIGTERM);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << server.Log();
  }
  ServerProcess server(ServerBinaryPath(), flags);
  ASSERT_TRUE(server.Start().ok()) << server.Log();
  EXPECT_THAT(server.Log(), HasSubstr("restored 60 sessions"));
  Client client(server.address());
  EXPECT_EQ(client.HereNow(), before);

  // A watcher of every room, then everyone's next heartbeat: no join. The
  // one leave after them is the first event the watcher gets.
  grpc::ClientContext watch_context;
  v1::WatchEventsRequest watch;
  for (int r = 0; r < 4; ++r) watch.add_channels(absl::StrCat("room", r));
  auto reader = client.presence->WatchEvents(&watch_context, watch);
  for (int i = 0; i < 60; ++i) {
    ASSERT_TRUE(
        client.Heartbeat(absl::StrCat("user", i), absl::StrCat("room", i % 4))
            .ok());
  }
  {
    grpc::ClientContext context;
    Client::Deadline(context);
    v1::LeaveRequest leave;
    leave.set_user_id("user0");
    leave.add_channels("room0");
    v1::LeaveResponse response;
    ASSERT_TRUE(client.presence->Leave(&context, leave, &response).ok());
  }
  v1::WatchEventsResponse event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.action(), v1::WatchEventsResponse::ACTION_LEAVE)
      << event.DebugString();
  EXPECT_EQ(event.user_id(), "user0");
  EXPECT_EQ(event.occupancy(), 14u);
  watch_context.TryCancel();
}

TEST(DurabilityTest, SessionsExpiredWhileDownTimeOutWithEventsAtTheStart) {
  const std::string dir = NewDir();
  {
    // The snapshot a server stopped a minute ago would have left.
    auto data = DataDir::Open(dir, DataDirOptions());
    ASSERT_TRUE(data.ok()) << data.status();
    const absl::Time now = absl::Now();
    MemoryStoreImage image;
    image.channels.push_back(
        {"lobby",
         static_cast<uint32_t>(absl::ToUnixSeconds(now) - 120),
         {{"gone", "", {{"", now - absl::Seconds(30)}}},
          {"staying", "", {{"", now + absl::Seconds(300)}}}}});
    ASSERT_TRUE((*data)->WriteSnapshot(image, {}, now - absl::Minutes(1)).ok());
  }
  auto receiver = HttpReceiver::Start();
  ASSERT_TRUE(receiver.ok()) << receiver.status();
  ServerProcess server(ServerBinaryPath(),
                       {absl::StrCat("--data_dir=", dir),
                        absl::StrCat("--webhook_url=http://127.0.0.1:",
                                     (*receiver)->port(), "/hook"),
                        "--webhook_secret=durability-test-secret-of-32-chars!",
                        "--webhook_batch_delay=10ms"});
  ASSERT_TRUE(server.Start().ok()) << server.Log();
  ASSERT_TRUE((*receiver)->WaitForRequests(1));
  const std::string body = (*receiver)->requests()[0].body;
  EXPECT_THAT(body, HasSubstr("timeout"));
  EXPECT_THAT(body, HasSubstr("\"gone\""));
  EXPECT_THAT(body, Not(HasSubstr("staying")));
  Client client(server.address());
  EXPECT_EQ(client.HereNow(), std::vector<std::string>{"lobby: staying"});
}

TEST(DurabilityTest, ADamagedDataDirectoryStopsTheStartUnlessRecovering) {
  const std::string dir = NewDir();
  {
    ServerProcess server(ServerBinaryPath(),
                         {absl::StrCat("--data_dir=", dir)});
    ASSERT_TRUE(server.Start().ok()) << server.Log();
    Client client(server.address());
    for (int i = 0; i < 40; ++i) {
      ASSERT_TRUE(client.AddChannel(absl::StrCat("g", i), "c").ok());
    }
    server.Stop(SIGKILL);  // The changes stay in LevelDB's log.
  }
  std::string log_file;
  for (int n = 1; n < 20 && log_file.empty(); ++n) {
    char name[32];
    std::snprintf(name, sizeof(name), "/%06d.log", n);
    if (std::ifstream(dir + name).good()) log_file = dir + name;
  }
  ASSERT_FALSE(log_file.empty());
  {
    std::fstream f(log_file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(700);
    f.write("\xde\xad\xbe\xef\xde\xad\xbe\xef", 8);
  }
  {
    ServerProcess server(ServerBinaryPath(),
                         {absl::StrCat("--data_dir=", dir)});
    EXPECT_FALSE(server.Start().ok());
    const int status = server.Stop(SIGKILL);
    ASSERT_TRUE(WIFEXITED(status)) << server.Log();
    EXPECT_NE(WEXITSTATUS(status), 0);
    EXPECT_THAT(server.Log(), HasSubstr(log_file));
    EXPECT_THAT(server.Log(), HasSubstr("--data_dir_recover"));
    EXPECT_THAT(server.Log(), Not(HasSubstr("Segmentation")));
  }
  ServerProcess server(ServerBinaryPath(), {absl::StrCat("--data_dir=", dir),
                                            "--data_dir_recover"});
  ASSERT_TRUE(server.Start().ok()) << server.Log();
  EXPECT_THAT(server.Log(), HasSubstr("recovered the data directory"));
  Client client(server.address());
  const size_t kept = client.Groups().size();
  EXPECT_GT(kept, 0u);
  EXPECT_LT(kept, 40u);
}

TEST(DurabilityTest, DataDirWithRedisIsAnError) {
  ServerProcess server(ServerBinaryPath(),
                       {"--store=redis", "--data_dir=/tmp/x"});
  EXPECT_FALSE(server.Start().ok());
  const int status = server.Stop(SIGKILL);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_THAT(server.Log(), HasSubstr("--data_dir is for the embedded store"));
}

}  // namespace
}  // namespace presence
