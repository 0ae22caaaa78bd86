// What each Redis structure of the Redis store costs per membership: fills a
// private redis-server through the store (users each present in --channels
// of 1000 channels, as bench/memory_per_membership does), then sums Redis's
// own MEMORY USAGE of every key by structure, and compares the whole with
// one plain ZSET member per membership (the same strings) measured in the
// same run.
//
//   bazel run -c opt //bench/redis:redis_memory -- --users=20000 --channels=10
//
// Prints a Markdown table: structure, keys, bytes, bytes per membership.
// MEMORY USAGE counts a key's own allocations (key, value, its entry in the
// keyspace); the keyspace's bucket array is in used_memory only, so the
// total of the table is a little below the used_memory figure.
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "bench/redis/redis_process.h"
#include "presence/clock.h"
#include "presence/presence.h"
#include "presence/store/redis/redis_client.h"
#include "presence/store/redis/redis_store.h"

ABSL_FLAG(int, users, 20000, "Users, each present in --channels channels");
ABSL_FLAG(int, channels, 10, "Channels per user (of 1000 channels in all)");
ABSL_FLAG(int, sessions, 1,
          "Sessions per user (1: the default session only; more: ids s0, "
          "s1, ...)");
ABSL_FLAG(bool, state, false, "Give every membership a small state");
ABSL_FLAG(std::string, redis_server, "redis-server", "redis-server binary");

namespace presence {
namespace {

std::string User(int u) { return absl::StrCat("user-", u); }
std::string Channel(int u, int c) {
  return absl::StrCat("room-", (u * 7 + c) % 1000);
}

// The structure a key of the store belongs to.
std::string Structure(absl::string_view key) {
  absl::ConsumePrefix(&key, "presence:");
  if (absl::StartsWith(key, "{g}")) return "{g}:… groups, lease";
  const size_t tag = key.find("}:");
  if (tag == absl::string_view::npos) return std::string(key);
  absl::string_view rest = key.substr(tag + 2);
  if (absl::StartsWith(rest, "m:")) return "m:<channel> ZSET members";
  if (absl::StartsWith(rest, "st:")) return "st:<channel> HASH states";
  if (absl::StartsWith(rest, "d:")) return "d:<channel> HASH sessions";
  if (absl::StartsWith(rest, "u:")) return "u:<bucket> HASH user index";
  if (absl::StartsWith(rest, "w:")) return "w:<second>:<k> ZSET deadline wheel";
  if (rest == "t") return "t ZSET timers";
  if (absl::StartsWith(rest, "iv")) {
    return "iv* interval-mode lists (pending until the next interval event)";
  }
  if (rest == "wf" || rest == "ep" || rest == "seq" || rest == "n" ||
      rest == "epf") {
    return "ep, seq, n, wf, epf shard bookkeeping";
  }
  if (rest == "events") return "events STREAM (trimmed)";
  return std::string(rest);
}

void Run() {
  const int users = absl::GetFlag(FLAGS_users);
  const int channels = absl::GetFlag(FLAGS_channels);
  const int sessions = absl::GetFlag(FLAGS_sessions);
  bench::RedisProcess redis(absl::GetFlag(FLAGS_redis_server));
  const int64_t empty = redis.UsedMemory();
  size_t memberships = 0;
  {
    RedisStoreOptions options;
    options.url = redis.url();
    options.stream_max_len = 0;  // Memberships only.
    auto store = NewRedisStore(options, Clock::Real());
    if (!store.ok()) std::exit(1);
    Presence presence(store->get(), Limits());
    for (int u = 0; u < users; ++u) {
      for (int s = 0; s < sessions; ++s) {
        HeartbeatRequest request;
        request.user_id = User(u);
        if (sessions > 1) request.session_id = absl::StrCat("s", s);
        for (int c = 0; c < channels; ++c) {
          request.channels.push_back(Channel(u, c));
          if (absl::GetFlag(FLAGS_state)) {
            request.states.emplace_back(Channel(u, c), R"({"mood":"ok"})");
          }
        }
        absl::StatusOr<HeartbeatResult> result = presence.Heartbeat(request);
        if (!result.ok()) {
          std::fprintf(stderr, "%s\n", result.status().ToString().c_str());
          std::exit(1);
        }
      }
      memberships += channels;
    }
  }
  const int64_t used = redis.UsedMemory() - empty;

  struct Row {
    int64_t keys = 0;
    int64_t bytes = 0;
  };
  std::map<std::string, Row> rows;
  std::string cursor = "0";
  do {
    const RedisReply page =
        redis.Command({"SCAN", cursor, "MATCH", "presence:*", "COUNT", "1000"});
    cursor = page.elements[0].str;
    for (const RedisReply& key : page.elements[1].elements) {
      const RedisReply usage =
          redis.Command({"MEMORY", "USAGE", key.str, "SAMPLES", "0"});
      Row& row = rows[Structure(key.str)];
      ++row.keys;
      row.bytes += usage.integer;
    }
  } while (cursor != "0");

  std::printf(
      "%zu memberships (%d users x %d channels of 1000, %d session(s)"
      "%s)\n\n",
      memberships, users, channels, sessions,
      absl::GetFlag(FLAGS_state) ? ", with state" : "");
  std::printf("| Structure | Keys | Bytes | Bytes per membership |\n");
  std::printf("|---|---:|---:|---:|\n");
  int64_t total = 0;
  for (const auto& [name, row] : rows) {
    std::printf("| %s | %lld | %lld | %.1f |\n", name.c_str(),
                static_cast<long long>(row.keys),
                static_cast<long long>(row.bytes),
                double(row.bytes) / memberships);
    total += row.bytes;
  }
  std::printf("| total (MEMORY USAGE) | | %lld | %.1f |\n",
              static_cast<long long>(total), double(total) / memberships);
  std::printf("| used_memory | | %lld | %.1f |\n", static_cast<long long>(used),
              double(used) / memberships);

  redis.Command({"FLUSHALL"});
  const int64_t flushed = redis.UsedMemory();
  for (int u = 0; u < users; ++u) {
    for (int c = 0; c < channels; ++c) {
      redis.Command({"ZADD", "baseline", "0", Channel(u, c) + "/" + User(u)});
    }
  }
  const double baseline = double(redis.UsedMemory() - flushed) / memberships;
  std::printf(
      "\nbaseline: one ZSET member per membership %.1f bytes; store %.1f "
      "bytes per membership; ratio %.2f\n",
      baseline, double(used) / memberships,
      double(used) / memberships / baseline);
}

}  // namespace
}  // namespace presence

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  presence::Run();
  return 0;
}
