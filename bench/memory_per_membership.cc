// Reports the memory one (user, channel) membership costs in each store,
// as a ratio against a baseline measured the same way in the same run:
//
// - memory store: heap bytes per membership (mallinfo2), against a plain
//   std::unordered_map<std::string, std::string> holding the same
//   (channel+user) keys;
// - Redis store: Redis used_memory per membership, against one plain ZSET
//   member per membership with the same member strings.
//
//   bazel run -c opt //bench:memory_per_membership -- --users=20000
//   --channels=10
//
// It starts its own redis-server on a free port.
#include <malloc.h>

#include <cstdio>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "presence/clock.h"
#include "presence/presence.h"
#include "presence/store/memory/memory_store.h"
#include "presence/store/redis/redis_client.h"
#include "presence/store/redis/redis_store.h"
#include "presence/testing/redis_server.h"

ABSL_FLAG(int, users, 20000, "Users, each present in --channels channels");
ABSL_FLAG(int, channels, 10, "Channels per user (of 1000 channels in all)");
ABSL_FLAG(bool, redis, true, "Also measure the Redis store");

namespace presence {
namespace {

size_t HeapBytes() { return mallinfo2().uordblks; }

std::string User(int u) { return absl::StrCat("user-", u); }
std::string Channel(int u, int c) {
  return absl::StrCat("room-", (u * 7 + c) % 1000);
}

// Heartbeats every user into its channels; returns the memberships made.
size_t Populate(Presence& presence, int users, int channels) {
  size_t memberships = 0;
  for (int u = 0; u < users; ++u) {
    HeartbeatRequest request;
    request.user_id = User(u);
    for (int c = 0; c < channels; ++c)
      request.channels.push_back(Channel(u, c));
    if (!presence.Heartbeat(request).ok()) std::abort();
    memberships += channels;
  }
  return memberships;
}

void MeasureMemoryStore(int users, int channels) {
  Limits limits;
  const size_t before = HeapBytes();
  auto store = NewMemoryStore(MemoryStoreOptions(), Clock::Real());
  Presence presence(store.get(), limits);
  const size_t memberships = Populate(presence, users, channels);
  const double store_bytes = double(HeapBytes() - before) / memberships;

  const size_t baseline_before = HeapBytes();
  auto baseline =
      std::make_unique<std::unordered_map<std::string, std::string>>();
  for (int u = 0; u < users; ++u) {
    for (int c = 0; c < channels; ++c)
      (*baseline)[Channel(u, c) + "/" + User(u)] = "";
  }
  const double baseline_bytes =
      double(HeapBytes() - baseline_before) / memberships;
  std::printf(
      "memory store: %.1f bytes/membership; baseline "
      "unordered_map<string,string> "
      "%.1f bytes/entry; ratio %.2f (%zu memberships)\n",
      store_bytes, baseline_bytes, store_bytes / baseline_bytes, memberships);
}

void MeasureRedisStore(int users, int channels) {
  auto redis = RedisServer::Start();
  if (!redis.ok()) {
    std::printf("redis store: skipped (%s)\n",
                redis.status().ToString().c_str());
    return;
  }
  const int64_t empty = *(*redis)->UsedMemory();
  RedisStoreOptions options;
  options.url = (*redis)->url();
  options.stream_max_len = 0;  // Streams trimmed to nothing: memberships only.
  Limits limits;
  {
    auto store = NewRedisStore(options, Clock::Real());
    Presence presence((*store).get(), limits);
    const size_t memberships = Populate(presence, users, channels);
    const int64_t used = *(*redis)->UsedMemory();
    const double store_bytes = double(used - empty) / memberships;
    (void)(*redis)->FlushAll();
    const int64_t flushed = *(*redis)->UsedMemory();

    RedisEndpoint endpoint;
    endpoint.port = (*redis)->port();
    auto connection = RedisConnection::Connect(endpoint, absl::Seconds(5));
    for (int u = 0; u < users; ++u) {
      for (int c = 0; c < channels; ++c) {
        (void)(*connection)
            ->Command({"ZADD", "baseline", "0", Channel(u, c) + "/" + User(u)});
      }
    }
    const double baseline_bytes =
        double(*(*redis)->UsedMemory() - flushed) / memberships;
    std::printf(
        "redis store: %.1f bytes/membership; baseline one ZSET member %.1f "
        "bytes; ratio %.2f (%zu memberships)\n",
        store_bytes, baseline_bytes, store_bytes / baseline_bytes, memberships);
  }
}

}  // namespace
}  // namespace presence

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int users = absl::GetFlag(FLAGS_users);
  const int channels = absl::GetFlag(FLAGS_channels);
  presence::MeasureMemoryStore(users, channels);
  if (absl::GetFlag(FLAGS_redis)) presence::MeasureRedisStore(users, channels);
  return 0;
}
