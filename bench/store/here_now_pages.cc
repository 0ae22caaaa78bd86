// HereNow on one big channel through the presence library (validation and
// the memory store, no gRPC): the server time of S2's calls. Measures, one
// call at a time, the occupancy-only answer and pages of occupants at
// several offsets, quiet and while another thread churns the same channel;
// against a baseline measured in the same run: copying the same page out of
// an already sorted std::vector<std::string> (what producing the page costs
// at the least).
//
//   bazel build -c opt //bench/store:here_now_pages
//   bazel-bin/bench/store/here_now_pages --members=100000
//
// Targets (S2): occupancy-only p99 <= 100 us; a 1,000-occupant page at any
// offset p50 <= 2 ms.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/store/bench_util.h"
#include "presence/clock.h"
#include "presence/presence.h"
#include "presence/store/memory/memory_store.h"

ABSL_FLAG(int, members, 100000, "Users present in the big channel");
ABSL_FLAG(int, iterations, 300, "Calls per measured case");
ABSL_FLAG(bool, churn, true,
          "Also measure while a thread joins and leaves the big channel");

namespace presence::bench {
namespace {

constexpr char kChannel[] = "big-000000000000";

struct Case {
  const char* name;
  bool ids;
  uint32_t limit;
  int64_t offset;  // -1: random.
};

double Micros(absl::Time start) {
  return absl::ToDoubleMicroseconds(absl::Now() - start);
}

Samples Measure(Presence& presence, const Case& c, int members, int iterations,
                std::mt19937_64& rng) {
  Samples samples;
  for (int i = 0; i < iterations; ++i) {
    HereNowRequest request;
    request.channels = {kChannel};
    request.include_user_ids = c.ids;
    request.limit = c.limit;
    request.offset = c.offset >= 0 ? static_cast<uint32_t>(c.offset)
                                   : static_cast<uint32_t>(rng() % members);
    const absl::Time start = absl::Now();
    absl::StatusOr<HereNowResult> result = presence.HereNow(std::move(request));
    samples.Add(Micros(start));
    if (!result.ok() || result->channels.size() != 1 ||
        result->channels[0].occupancy < static_cast<uint32_t>(members) / 2) {
      std::fprintf(stderr, "unexpected answer\n");
      std::abort();
    }
  }
  return samples;
}

// Copies a page of `limit` names at `offset` out of `sorted`, as a store
// that kept its members sorted in a vector would.
Samples Baseline(const std::vector<std::string>& sorted, uint32_t limit,
                 int iterations, std::mt19937_64& rng) {
  Samples samples;
  size_t total = 0;
  for (int i = 0; i < iterations; ++i) {
    const size_t offset = rng() % sorted.size();
    const absl::Time start = absl::Now();
    std::vector<Occupant> page;
    const size_t end = std::min(sorted.size(), offset + limit);
    page.reserve(end - offset);
    for (size_t k = offset; k < end; ++k) page.push_back({sorted[k], ""});
    samples.Add(Micros(start));
    total += page.size();
  }
  if (total == 0) std::abort();
  return samples;
}

void Run() {
  const int members = absl::GetFlag(FLAGS_members);
  const int iterations = absl::GetFlag(FLAGS_iterations);
  auto store = NewMemoryStore(MemoryStoreOptions(), Clock::Real());
  Presence presence(store.get(), Limits());
  std::vector<std::string> names;
  for (int i = 0; i < members; ++i) names.push_back(Name("b-", i));
  {
    // Join in a random order, as real users arrive.
    std::vector<std::string> order = names;
    std::shuffle(order.begin(), order.end(), std::mt19937_64(7));
    const absl::Time start = absl::Now();
    for (const std::string& user : order) {
      HeartbeatRequest request;
      request.user_id = user;
      request.channels = {kChannel};
      // Longer than the slowest run takes.
      request.timeout_seconds = 3600;
      if (!presence.Heartbeat(std::move(request)).ok()) std::abort();
    }
    std::printf("joined %d users in %.2f s\n", members,
                absl::ToDoubleSeconds(absl::Now() - start));
  }
  std::sort(names.begin(), names.end());

  const Case cases[] = {
      {"occupancy only", false, 1000, 0},
      {"limit 10, offset 0", true, 10, 0},
      {"limit 1000, offset 0", true, 1000, 0},
      {"limit 1000, offset members/2", true, 1000, members / 2},
      {"limit 1000, random offset", true, 1000, -1},
  };
  std::mt19937_64 rng(1);
  Samples baseline = Baseline(names, 1000, iterations, rng);
  std::printf("baseline: copy a 1000-name page from a sorted vector: %s\n",
              baseline.Summary().c_str());
  for (bool churn : {false, true}) {
    if (churn && !absl::GetFlag(FLAGS_churn)) break;
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> changes{0};
    std::thread churner;
    if (churn) {
      // Other users join and leave the channel as fast as one thread can.
      churner = std::thread([&] {
        for (uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
          const std::string user = Name("churn-", i % 1000);
          if (i / 1000 % 2 == 0) {
            HeartbeatRequest request;
            request.user_id = user;
            request.channels = {kChannel};
            (void)presence.Heartbeat(std::move(request));
          } else {
            LeaveRequest request;
            request.user_id = user;
            request.channels = {kChannel};
            (void)presence.Leave(std::move(request));
          }
          changes.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    const absl::Time start = absl::Now();
    for (const Case& c : cases) {
      Samples samples = Measure(presence, c, members, iterations, rng);
      std::printf("%s%s: %s\n", churn ? "[churn] " : "", c.name,
                  samples.Summary().c_str());
    }
    if (churn) {
      stop = true;
      churner.join();
      std::printf("[churn] %.0f joins+leaves/s of the channel alongside\n",
                  changes.load() / absl::ToDoubleSeconds(absl::Now() - start));
    }
  }
}

}  // namespace
}  // namespace presence::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  presence::bench::Run();
  return 0;
}
