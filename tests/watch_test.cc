// WatchEvents end to end: the real server in-process, the C++ client's
// watch(), a simulated clock for timeouts and intervals (no sleeping).
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/json.h"
#include "client/presence_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/testing/test_server.h"

namespace presence {
namespace {

using client::EventStream;
using client::Json;
using client::PresenceClient;
using client::WatchEvent;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// "join alice@lobby 1", "interval@big 5 +[u4,u5] -[] x[]".
std::string Describe(const WatchEvent& e) {
  std::string line = client::ActionName(e.action);
  if (!e.user_id.empty()) absl::StrAppend(&line, " ", e.user_id);
  absl::StrAppend(&line, "@", e.channel, " ", e.occupancy);
  if (e.action == WatchEvent::Action::kInterval) {
    if (e.here_now_refresh) {
      absl::StrAppend(&line, " refresh");
    } else {
      absl::StrAppend(&line, " +[", absl::StrJoin(e.join, ","), "] -[",
                      absl::StrJoin(e.leave, ","), "] x[",
                      absl::StrJoin(e.timeout, ","), "]");
    }
  }
  if (e.state.has_value()) absl::StrAppend(&line, " ", e.state->Dump());
  return line;
}

class WatchTest : public testing::Test {
 protected:
  explicit WatchTest(EventOptions pipeline = Pipeline(),
                     PresenceServerOptions options = Server())
      : server_(TestServer::TestLimits(), options, pipeline),
        client_(PresenceClient::Options{.target = server_.address(),
                                        .user_id = "alice"}) {}

  static EventOptions Pipeline() {
    EventOptions options;
    options.announce_max = 3;
    return options;
  }
  static PresenceServerOptions Server() {
    PresenceServerOptions options;
    options.shutdown_grace = absl::Milliseconds(200);
    return options;
  }

  // Opens a watch that gives up after 30 s, so a bug fails instead of
  // hanging.
  std::unique_ptr<EventStream> Watch(std::vector<std::string> channels,
                                     std::vector<std::string> groups = {}) {
    auto stream = client_.watch()
                      .channels(channels)
                      .channel_groups(groups)
                      .timeout(absl::Seconds(30))
                      .open();
    EXPECT_TRUE(stream.ok()) << stream.status();
    return stream.ok() ? *std::move(stream) : nullptr;
  }

  // Reads `n` events.
  static std::vector<std::string> Read(EventStream& stream, int n,
                                       std::vector<WatchEvent>* raw = nullptr) {
    std::vector<std::string> lines;
    WatchEvent event;
    for (int i = 0; i < n && stream.Next(&event); ++i) {
      lines.push_back(Describe(event));
      if (raw != nullptr) raw->push_back(event);
    }
    return lines;
  }

  void Join(const std::string& user, const std::string& channel,
            uint32_t timeout = 60) {
    ASSERT_TRUE(client_.heartbeat()
                    .user_id(user)
                    .channels({channel})
                    .timeout_seconds(timeout)
                    .execute()
                    .ok());
  }
  void Leave(const std::string& user, const std::string& channel) {
    ASSERT_TRUE(
        client_.leave().user_id(user).channels({channel}).execute().ok());
  }

  TestServer server_;
  PresenceClient client_;
};

TEST_F(WatchTest, EveryPerUserActionArrivesInOrder) {
  auto stream = Watch({"lobby"});
  ASSERT_TRUE(client_.heartbeat()
                  .channels({"lobby"})
                  .timeout_seconds(60)
                  .state("lobby", Json::object({{"mood", "happy"}}))
                  .execute()
                  .ok());
  ASSERT_TRUE(client_.set_presence_state(Json::object({{"mood", "busy"}}))
                  .channels({"lobby"})
                  .execute()
                  .ok());
  Join("bob", "lobby", 5);
  Leave("alice", "lobby");
  server_.clock().Advance(absl::Seconds(5));
  server_.ExpireSessions();
  std::vector<WatchEvent> events;
  EXPECT_THAT(
      Read(*stream, 7, &events),
      ElementsAre("active@lobby 1", R"(join alice@lobby 1 {"mood":"happy"})",
                  R"(state-change alice@lobby 1 {"mood":"busy"})",
                  "join bob@lobby 2", "leave alice@lobby 1",
                  "timeout bob@lobby 0", "inactive@lobby 0"));
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].sequence & 0xffffffffu, i + 1);
  }
  EXPECT_EQ(events[5].time, server_.clock().Now());
}

TEST_F(WatchTest, AWatchSeesNothingFromBeforeItWasOpened) {
  Join("early", "lobby");
  auto stream = Watch({"lobby"});
  Join("late", "lobby");
  EXPECT_THAT(Read(*stream, 1), ElementsAre("join late@lobby 2"));
}

TEST_F(WatchTest, OnlyWatchedChannelsArrive) {
  auto stream = Watch({"a"});
  Join("alice", "b");
  Join("alice", "a");
  EXPECT_THAT(Read(*stream, 2), ElementsAre("active@a 1", "join alice@a 1"));
}

TEST_F(WatchTest, AFirehoseSeesEveryChannel) {
  auto stream = Watch({});
  Join("alice", "x");
  Join("bob", "y");
  EXPECT_THAT(Read(*stream, 4), ElementsAre("active@x 1", "join alice@x 1",
                                            "active@y 1", "join bob@y 1"));
}

TEST_F(WatchTest, AGroupWatchFollowsTheGroup) {
  ASSERT_TRUE(
      client_.add_channels_to_group("g").channels({"a"}).execute().ok());
  auto stream = Watch({}, {"g"});
  Join("u1", "a");
  ASSERT_TRUE(
      client_.add_channels_to_group("g").channels({"b"}).execute().ok());
  Join("u2", "b");
  ASSERT_TRUE(
      client_.remove_channels_from_group("g").channels({"a"}).execute().ok());
  Join("u3", "a");  // No longer in the group: not delivered.
  Join("u4", "b");
  EXPECT_THAT(Read(*stream, 5),
              ElementsAre("active@a 1", "join u1@a 1", "active@b 1",
                          "join u2@b 1", "join u4@b 2"));
}

TEST_F(WatchTest, AChannelWatchedTwiceArrivesOnce) {
  ASSERT_TRUE(
      client_.add_channels_to_group("g").channels({"a"}).execute().ok());
  auto stream = Watch({"a"}, {"g"});
  Join("u1", "a");
  Join("u2", "a");
  EXPECT_THAT(Read(*stream, 3),
              ElementsAre("active@a 1", "join u1@a 1", "join u2@a 2"));
}

TEST_F(WatchTest, IntervalModeAboveAnnounceMaxAndBack) {
  auto stream = Watch({"big"});
  for (const char* user : {"u1", "u2", "u3", "u4", "u5"}) Join(user, "big");
  EXPECT_THAT(Read(*stream, 4), ElementsAre("active@big 1", "join u1@big 1",
                                            "join u2@big 2", "join u3@big 3"));
  server_.clock().Advance(absl::Seconds(10));
  server_.ExpireSessions();
  EXPECT_THAT(Read(*stream, 1), ElementsAre("interval@big 5 +[u4,u5] -[] x[]"));
  Leave("u1", "big");
  Leave("u2", "big");  // Back to 3: the pending part, then per-user events.
  Leave("u3", "big");
  EXPECT_THAT(Read(*stream, 3),
              ElementsAre("interval@big 4 +[] -[u1] x[]", "leave u2@big 3",
                          "leave u3@big 2"));
}

class SmallIntervalListsTest : public WatchTest {
 protected:
  SmallIntervalListsTest() : WatchTest(SmallLists(), Server()) {}
  static EventOptions SmallLists() {
    EventOptions options = Pipeline();
    options.interval_lists_max_bytes = 32;
    return options;
  }
};

TEST_F(SmallIntervalListsTest, TooManyChangesAskForAHereNowRefresh) {
  auto stream = Watch({"big"});
  for (int i = 0; i < 12; ++i) Join(absl::StrCat("user-", i), "big");
  Read(*stream, 4);
  server_.clock().Advance(absl::Seconds(10));
  server_.ExpireSessions();
  EXPECT_THAT(Read(*stream, 1), ElementsAre("interval@big 12 refresh"));
}

TEST_F(WatchTest, BadWatchesAreRefusedAtOpen) {
  auto bad = client_.watch().channels({"a,b"}).open();
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("channels[0]"));
  auto missing = client_.watch().channel_groups({"nope"}).open();
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(server_.fanout().WaitForSize(0, absl::Seconds(10)));
}

TEST_F(WatchTest, CancelDeadlineAndDisconnectReleaseTheWatch) {
  auto cancelled = Watch({"a"});
  auto expiring =
      client_.watch().channels({"a"}).timeout(absl::Milliseconds(50)).open();
  ASSERT_TRUE(expiring.ok());
  auto other_client = std::make_unique<PresenceClient>(
      PresenceClient::Options{.target = server_.address(), .user_id = "x"});
  auto disconnected = other_client->watch().channels({"a"}).open();
  ASSERT_TRUE(disconnected.ok());
  EXPECT_EQ(server_.fanout().size(), 3u);

  cancelled->Cancel();
  EXPECT_EQ(cancelled->Finish().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ((*expiring)->Finish().code(), absl::StatusCode::kDeadlineExceeded);
  (*disconnected).reset();  // Closes the stream and the client's channel.
  other_client.reset();
  EXPECT_TRUE(server_.fanout().WaitForSize(0, absl::Seconds(10)))
      << server_.fanout().size();
}

class SlowWatcherTest : public WatchTest {
 protected:
  SlowWatcherTest() : WatchTest(Pipeline(), SmallBuffer()) {}
  static PresenceServerOptions SmallBuffer() {
    PresenceServerOptions options = Server();
    options.watch_buffer_events = 8;
    return options;
  }
};

TEST_F(SlowWatcherTest, ASlowWatcherIsCutOffWhileAFastOneKeepsUp) {
  // The slow watcher has its own connection, and never reads until the end.
  PresenceClient slow_client(
      PresenceClient::Options{.target = server_.address(), .user_id = "s"});
  auto slow =
      slow_client.watch().channels({"lobby"}).timeout(absl::Seconds(60)).open();
  ASSERT_TRUE(slow.ok());
  auto fast = Watch({"lobby"});
  Join("alice", "lobby");
  std::vector<std::string> fast_seen;
  std::thread reader([&] {
    // Until the marker the test sends last.
    WatchEvent event;
    while (fast->Next(&event)) {
      fast_seen.push_back(Describe(event));
      if (event.action == WatchEvent::Action::kLeave) break;
    }
  });

  // Large state changes fill the slow watcher's transport buffers, then its
  // queue; the engine never waits for it.
  const std::string blob(30 * 1024, 'x');
  int changes = 0;
  while (server_.fanout().slow_watchers() == 0 && changes < 20000) {
    ASSERT_TRUE(
        client_
            .set_presence_state(Json::object({{"n", changes}, {"blob", blob}}))
            .channels({"lobby"})
            .execute()
            .ok());
    ++changes;
  }
  EXPECT_EQ(server_.fanout().slow_watchers(), 1u);
  // The fast watcher still gets everything, including what comes after.
  Join("bob", "lobby");
  client_.leave().channels({"lobby"}).execute().IgnoreError();  // The marker.
  reader.join();
  ASSERT_EQ(fast_seen.size(), static_cast<size_t>(changes) + 4);
  EXPECT_EQ(fast_seen[changes + 2], "join bob@lobby 2");
  EXPECT_EQ(fast_seen[changes + 3], "leave alice@lobby 1");

  // Read the slow stream: what was in flight, then RESOURCE_EXHAUSTED.
  WatchEvent event;
  int slow_seen = 0;
  while ((*slow)->Next(&event)) ++slow_seen;
  absl::Status status = (*slow)->Finish();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(status.message()), HasSubstr("watcher too slow"));
  EXPECT_LT(slow_seen, changes + 2);
  EXPECT_TRUE(server_.fanout().WaitForSize(1, absl::Seconds(10)));
}

TEST_F(WatchTest, ShutdownEndsWatchesWithUnavailable) {
  auto stream = Watch({"a"});
  server_.server().Shutdown();
  WatchEvent event;
  EXPECT_FALSE(stream->Next(&event));
  absl::Status status = stream->Finish();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(status.message()), HasSubstr("shutting down"));
}

}  // namespace
}  // namespace presence
