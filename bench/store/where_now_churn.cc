// WhereNow through the presence library (validation and the memory store,
// no gRPC) under membership churn: the server time of S6. Probe users are
// each present in --probe_channels channels; one thread asks WhereNow of a
// random probe user, one call at a time, while another makes paced
// membership changes (a user joins --churn_channels channels with one
// Heartbeat, then leaves them with one Leave) and a sweeper expires
// sessions every 10 ms, as in the server. Baseline, same run: the same
// WhereNow calls with no churn.
//
//   bazel build -c opt //bench/store:where_now_churn
//   bazel-bin/bench/store/where_now_churn --churn_rate=100000
//
// Target (S6): p99 <= 100 us for users in <= 100 channels under 100k
// membership changes/s.
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

ABSL_FLAG(int, probe_users, 1000, "Users asked about");
ABSL_FLAG(int, probe_channels, 100, "Channels each probe user is in");
ABSL_FLAG(int, channels, 20000, "Channels in all");
ABSL_FLAG(int, churn_rate, 100000, "Membership changes/s asked");
ABSL_FLAG(int, churn_channels, 10, "Channels joined (then left) per call");
ABSL_FLAG(int, churn_users, 100000, "Users that churn");
ABSL_FLAG(double, seconds, 5, "Duration of each measurement");

namespace presence::bench {
namespace {

Samples Probe(Presence& presence, int probe_users, int expected,
              double seconds) {
  Samples samples;
  std::mt19937_64 rng(3);
  const absl::Time end = absl::Now() + absl::Seconds(seconds);
  while (absl::Now() < end) {
    WhereNowRequest request;
    request.user_id = Name("p-", rng() % probe_users);
    const absl::Time start = absl::Now();
    absl::StatusOr<WhereNowResult> result = presence.WhereNow(request);
    samples.Add(absl::ToDoubleMicroseconds(absl::Now() - start));
    if (!result.ok() || static_cast<int>(result->channels.size()) != expected) {
      std::fprintf(stderr, "unexpected WhereNow answer\n");
      std::abort();
    }
  }
  return samples;
}

void Run() {
  const int probe_users = absl::GetFlag(FLAGS_probe_users);
  const int probe_channels = absl::GetFlag(FLAGS_probe_channels);
  const int channels = absl::GetFlag(FLAGS_channels);
  const int churn_channels = absl::GetFlag(FLAGS_churn_channels);
  const int churn_users = absl::GetFlag(FLAGS_churn_users);
  const double seconds = absl::GetFlag(FLAGS_seconds);
  auto store = NewMemoryStore(MemoryStoreOptions(), Clock::Real());
  Presence presence(store.get(), Limits());
  for (int u = 0; u < probe_users; ++u) {
    HeartbeatRequest request;
    request.user_id = Name("p-", u);
    const int stride = channels / probe_channels;
    for (int j = 0; j < probe_channels; ++j)
      request.channels.push_back(Name("ch-", (u + j * stride) % channels));
    if (!presence.Heartbeat(std::move(request)).ok()) std::abort();
  }
  std::atomic<bool> stop{false};
  std::thread sweeper([&] {
    while (!stop.load()) {
      (void)store->ExpireSessions();
      absl::SleepFor(absl::Milliseconds(10));
    }
  });

  Samples quiet = Probe(presence, probe_users, probe_channels, seconds);
  std::printf("baseline, no churn: WhereNow of %d channels: %s\n",
              probe_channels, quiet.Summary().c_str());

  // Paced churn: calls of churn_channels changes each, on schedule.
  const double calls_per_second =
      absl::GetFlag(FLAGS_churn_rate) / static_cast<double>(churn_channels);
  std::atomic<uint64_t> changes{0};
  std::atomic<bool> stop_churn{false};
  std::thread churner([&] {
    const absl::Time start = absl::Now();
    const int stride = channels / churn_channels;
    for (uint64_t i = 0; !stop_churn.load(std::memory_order_relaxed); ++i) {
      const absl::Time due = start + absl::Seconds(i / calls_per_second);
      const absl::Time now = absl::Now();
      if (due > now) absl::SleepFor(due - now);
      const uint64_t user = (i / 2) % churn_users;
      std::vector<std::string> names;
      for (int j = 0; j < churn_channels; ++j)
        names.push_back(Name("ch-", (user * 7 + j * stride) % channels));
      if (i % 2 == 0) {
        HeartbeatRequest request;
        request.user_id = Name("c-", user);
        request.channels = std::move(names);
        (void)presence.Heartbeat(std::move(request));
      } else {
        LeaveRequest request;
        request.user_id = Name("c-", user);
        request.channels = std::move(names);
        (void)presence.Leave(std::move(request));
      }
      changes.fetch_add(churn_channels, std::memory_order_relaxed);
    }
  });
  const absl::Time start = absl::Now();
  Samples churned = Probe(presence, probe_users, probe_channels, seconds);
  const double rate =
      changes.load() / absl::ToDoubleSeconds(absl::Now() - start);
  stop_churn = true;
  churner.join();
  std::printf("under %.0f membership changes/s: WhereNow of %d channels: %s\n",
              rate, probe_channels, churned.Summary().c_str());
  std::printf("p99 under churn / no churn: %.2f\n",
              churned.Quantile(0.99) / quiet.Quantile(0.99));
  stop = true;
  sweeper.join();
}

}  // namespace
}  // namespace presence::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  presence::bench::Run();
  return 0;
}
