// What a HereNow page costs on the Redis store, against the size of the
// channel: 1,000-occupant pages at offsets 0 and 50,000 of a 100,000-member
// channel, the same page of a 2,000-member channel, and the occupancy
// alone. A page should cost the page (ZRANGE by rank, O(log n + page)), not
// the channel. One call in flight; reports the client's latency and Redis's
// own time per call (INFO commandstats, fcall).
//
//   bazel run -c opt //bench/redis:redis_here_now -- --big=100000 --calls=300
//
// It starts its own redis-server on a free port.
#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/redis/redis_process.h"
#include "presence/clock.h"
#include "presence/presence.h"
#include "presence/store/redis/redis_store.h"

ABSL_FLAG(int, big, 100000, "Members of the big channel");
ABSL_FLAG(int, small, 2000, "Members of the small channel");
ABSL_FLAG(int, page, 1000, "Occupants per page");
ABSL_FLAG(int, calls, 300, "Calls measured per case");
ABSL_FLAG(std::string, redis_server, "redis-server", "redis-server binary");

namespace presence {
namespace {

void Fill(Presence& presence, const std::string& channel, int members) {
  constexpr int kBatch = 5000;
  for (int first = 0; first < members; first += kBatch) {
    BatchRequest batch;
    for (int u = first; u < std::min(members, first + kBatch); ++u) {
      BatchEntry entry;
      entry.heartbeat.user_id = absl::StrCat(channel, "-user-", 1000000 + u);
      entry.heartbeat.channels = {channel};
      batch.entries.push_back(std::move(entry));
    }
    absl::StatusOr<BatchResult> result = presence.Batch(std::move(batch));
    if (!result.ok()) {
      std::fprintf(stderr, "%s\n", result.status().ToString().c_str());
      std::exit(1);
    }
    for (const BatchEntryResult& r : result->results) {
      if (!r.status.ok()) {
        std::fprintf(stderr, "%s\n", r.status.ToString().c_str());
        std::exit(1);
      }
    }
  }
}

// Redis's fcall calls and microseconds so far.
std::pair<int64_t, int64_t> FcallStats(bench::RedisProcess& redis) {
  std::map<std::string, std::string> stats = redis.Info("commandstats");
  int64_t calls = 0, usec = 0;
  for (absl::string_view field : absl::StrSplit(stats["cmdstat_fcall"], ',')) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(field, absl::MaxSplits('=', 1));
    if (kv.first == "calls") (void)absl::SimpleAtoi(kv.second, &calls);
    if (kv.first == "usec") (void)absl::SimpleAtoi(kv.second, &usec);
  }
  return {calls, usec};
}

void Measure(bench::RedisProcess& redis, Presence& presence,
             const std::string& label, const HereNowRequest& request,
             size_t expect_occupants) {
  const int calls = absl::GetFlag(FLAGS_calls);
  std::vector<double> micros;
  const auto before = FcallStats(redis);
  for (int i = 0; i < calls; ++i) {
    const absl::Time start = absl::Now();
    absl::StatusOr<HereNowResult> result = presence.HereNow(request);
    micros.push_back(absl::ToDoubleMicroseconds(absl::Now() - start));
    if (!result.ok() || result->channels.size() != 1 ||
        result->channels[0].occupants.size() != expect_occupants) {
      std::fprintf(stderr, "%s: unexpected answer\n", label.c_str());
      std::exit(1);
    }
  }
  const auto after = FcallStats(redis);
  std::sort(micros.begin(), micros.end());
  std::printf("| %s | %.0f | %.0f | %.0f |\n", label.c_str(),
              micros[micros.size() / 2], micros[micros.size() * 99 / 100],
              double(after.second - before.second) /
                  std::max<int64_t>(1, after.first - before.first));
}

void Run() {
  bench::RedisProcess redis(absl::GetFlag(FLAGS_redis_server));
  RedisStoreOptions options;
  options.url = redis.url();
  auto store = NewRedisStore(options, Clock::Real());
  if (!store.ok()) std::exit(1);
  Presence presence(store->get(), Limits());
  const int big = absl::GetFlag(FLAGS_big);
  const int small = absl::GetFlag(FLAGS_small);
  const uint32_t page = absl::GetFlag(FLAGS_page);
  Fill(presence, "big", big);
  Fill(presence, "small", small);

  std::printf(
      "| HereNow (one call in flight) | p50 µs | p99 µs | Redis µs "
      "per call |\n|---|---:|---:|---:|\n");
  HereNowRequest request;
  request.channels = {"big"};
  request.limit = page;
  request.offset = 0;
  Measure(redis, presence, absl::StrCat(page, " of ", big, " at offset 0"),
          request, page);
  request.offset = big / 2;
  Measure(redis, presence,
          absl::StrCat(page, " of ", big, " at offset ", big / 2), request,
          page);
  request.channels = {"small"};
  request.offset = 0;
  Measure(redis, presence, absl::StrCat(page, " of ", small, " at offset 0"),
          request, page);
  request.channels = {"big"};
  request.include_user_ids = false;
  Measure(redis, presence, absl::StrCat("occupancy only, ", big, " members"),
          request, 0);
}

}  // namespace
}  // namespace presence

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  presence::Run();
  return 0;
}
