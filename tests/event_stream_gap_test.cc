// A replica that falls behind its Redis event streams by more than their
// capped length, end to end: a real redis-server, the whole app in process
// (--store=redis, metrics on), a client's watch stream. The watch ends with
// DATA_LOSS and a message saying why, presence_event_stream_gaps_total
// counts the gap, and a new watch gets the events made after it.
//
// The trimming happens between two reads of the replica's event reader, in
// one MULTI (as if the reader had been paused while others wrote past the
// cap), so the test waits on conditions only, never on time.

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/presence_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "presence/testing/redis_server.h"
#include "service/app/presence_app.h"
#include "service/testing/http_get.h"

namespace presence {
namespace {

using ::presence::client::EventStream;
using ::presence::client::PresenceClient;
using ::presence::client::WatchEvent;
using ::testing::HasSubstr;

// Runs `script` (commands, one a line) on one redis-cli connection; returns
// its exit status.
int RedisCli(int port, const std::string& script) {
  FILE* pipe =
      popen(absl::StrCat("redis-cli -p ", port, " >/dev/null").c_str(), "w");
  if (pipe == nullptr) return -1;
  fwrite(script.data(), 1, script.size(), pipe);
  return pclose(pipe);
}

// Reads `stream` until an event of `user`; false if the stream ended first.
bool ReadUntilUser(EventStream& stream, const std::string& user) {
  WatchEvent event;
  while (stream.Next(&event)) {
    if (event.user_id == user) return true;
  }
  return false;
}

TEST(EventStreamGapTest, AReplicaBehindTheTrimEndsWatchesWithDataLoss) {
  absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  PresenceAppOptions options;
  options.store = PresenceAppOptions::Store::kRedis;
  options.redis.url = (*redis)->url();
  options.redis.stream_max_len = 100;
  options.grpc.listen_address = "127.0.0.1:0";
  options.grpc.shutdown_grace = absl::Milliseconds(300);
  options.metrics_address = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<PresenceApp>> app =
      PresenceApp::Start(std::move(options));
  ASSERT_TRUE(app.ok()) << app.status();
  PresenceClient client(PresenceClient::Options{
      .target = (*app)->grpc_address(), .user_id = "tester"});
  auto watch = [&client]() -> std::unique_ptr<EventStream> {
    absl::StatusOr<std::unique_ptr<EventStream>> stream =
        client.watch().channels({"lobby"}).timeout(absl::Seconds(20)).open();
    EXPECT_TRUE(stream.ok()) << stream.status();
    return stream.ok() ? *std::move(stream) : nullptr;
  };
  auto join = [&client](const std::string& user) {
    return client.heartbeat()
        .user_id(user)
        .channels({"lobby"})
        .timeout_seconds(60)
        .execute()
        .status();
  };

  std::unique_ptr<EventStream> before = watch();
  ASSERT_NE(before, nullptr);
  ASSERT_TRUE(join("before").ok());
  ASSERT_TRUE(ReadUntilUser(*before, "before")) << before->Finish();

  // Two entries, the first trimmed before the replica reads either.
  const std::string entry = " * t join c trimmed o 1 ms 1 q 1:1 u ";
  ASSERT_EQ(RedisCli((*redis)->port(),
                     absl::StrCat("MULTI\n",                                //
                                  "XADD presence:{s0}:events", entry,       //
                                  "lost\n",                                 //
                                  "XADD presence:{s0}:events", entry,       //
                                  "skipped\n",                              //
                                  "XTRIM presence:{s0}:events MAXLEN 1\n",  //
                                  "EXEC\n")),
            0);

  WatchEvent event;
  while (before->Next(&event)) {
    EXPECT_NE(event.user_id, "lost");
  }
  const absl::Status ended = before->Finish();
  EXPECT_EQ(ended.code(), absl::StatusCode::kDataLoss) << ended;
  EXPECT_THAT(std::string(ended.message()),
              HasSubstr("fell behind the event stream of shard 0"));
  EXPECT_THAT(std::string(ended.message()),
              HasSubstr("--redis_stream_max_len=100"));
  EXPECT_THAT(HttpGet((*app)->metrics_port(), "/metrics"),
              HasSubstr("\npresence_event_stream_gaps_total 1\n"));

  // The replica resumed at the streams' ends: a new watch gets new events.
  std::unique_ptr<EventStream> after = watch();
  ASSERT_NE(after, nullptr);
  ASSERT_TRUE(join("after").ok());
  ASSERT_TRUE(ReadUntilUser(*after, "after")) << after->Finish();
  after->Cancel();
  (void)after->Finish();
  (*app)->Shutdown();
}

}  // namespace
}  // namespace presence
