// Heartbeat throughput and latency through the presence library (validation
// and the memory store, no gRPC) while a mass of sessions expires, against
// the same load just before the expiry (same run): S4's "the expiry of a
// mass of sessions must not stall other calls", measured without gRPC's
// cost diluting it.
//
// --live_users users in 1-5 of live_users/5 channels are refreshed by one
// thread calling Heartbeat as fast as it can; --expiring users, present in
// 1000 other channels with --timeout, are never refreshed and expire
// together; a sweeper calls ExpireSessions every 10 ms, as the server's.
//
//   bazel build -c opt //bench/store:mass_expiry
//   bazel-bin/bench/store/mass_expiry --expiring=1000000
//
// Target (S4): heartbeats/s during the expiry >= 0.8x before it.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
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
#include "presence/event.h"
#include "presence/presence.h"
#include "presence/store/memory/memory_store.h"

ABSL_FLAG(int, live_users, 200000, "Users kept alive by the load");
ABSL_FLAG(int, expiring, 1000000, "Sessions that expire together");
ABSL_FLAG(int, timeout, 20, "Timeout (s) of the expiring sessions");
ABSL_FLAG(absl::Duration, bucket, absl::Milliseconds(50), "Timeline step");
ABSL_FLAG(bool, sweep_cost, true,
          "First measure the CPU time ExpireSessions() spends per timeout, "
          "with a simulated clock (steadier than the timeline on a shared "
          "machine)");
ABSL_FLAG(int, sweep_channels, 1000,
          "Channels of the expiring sessions in the --sweep_cost measurement");
ABSL_FLAG(bool, timeline, true,
          "Measure heartbeats before and during a mass expiry on the real "
          "clock");

namespace presence::bench {
namespace {

constexpr int kBuckets = 4096;

class TimeoutCounter : public EventListener {
 public:
  TimeoutCounter(absl::Time origin, absl::Duration bucket)
      : origin_(origin), bucket_(bucket), counts_(kBuckets) {}
  void OnEvent(const PresenceEvent& event) override {
    if (event.type != EventType::kTimeout) return;
    total.fetch_add(1, std::memory_order_relaxed);
    const int64_t b = (absl::Now() - origin_) / bucket_;
    if (b >= 0 && b < kBuckets)
      counts_[b].fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t count(int b) const { return counts_[b].load(); }
  std::atomic<uint64_t> total{0};

 private:
  const absl::Time origin_;
  const absl::Duration bucket_;
  std::vector<std::atomic<uint64_t>> counts_;
};

std::vector<std::string> ChannelsOf(uint64_t user, int channels) {
  const int count = 1 + static_cast<int>(Mix64(user) % 5);
  const uint64_t stride = std::max(1, channels / 5);
  std::vector<std::string> out;
  for (int j = 0; j < count; ++j)
    out.push_back(Name("ch-", (user + j * stride) % channels));
  std::sort(out.begin(), out.end());
  return out;
}

class Counter : public EventListener {
 public:
  void OnEvent(const PresenceEvent& event) override {
    if (event.type == EventType::kTimeout) ++timeouts;
  }
  uint64_t timeouts = 0;  // Written by the one thread sweeping.
};

// --expiring sessions in `channels` channels, all due at once; returns the
// CPU microseconds ExpireSessions() took per timeout.
double SweepCost(int expiring, int channels) {
  SimulatedClock clock(absl::FromUnixSeconds(1'800'000'000));
  Limits limits;
  limits.min_timeout_seconds = 1;
  MemoryStoreOptions options;
  options.limits = limits;
  options.events.announce_max = 1 << 30;  // Every timeout an event.
  auto store = NewMemoryStore(options, &clock);
  Presence presence(store.get(), limits);
  for (int u = 0; u < expiring; ++u) {
    HeartbeatRequest request;
    request.user_id = Name("x-", u);
    request.channels = {Name("xch-", u % channels)};
    request.timeout_seconds = 1 + u % 3;
    if (!presence.Heartbeat(std::move(request)).ok()) std::abort();
  }
  Counter counter;
  store->AddListener(&counter);
  clock.Advance(absl::Seconds(3));
  const double start = ThreadCpuSeconds();
  (void)store->ExpireSessions();
  const double cpu = ThreadCpuSeconds() - start;
  store->RemoveListener(&counter);
  if (counter.timeouts != static_cast<uint64_t>(expiring)) std::abort();
  return cpu * 1e6 / expiring;
}

void Run() {
  if (absl::GetFlag(FLAGS_sweep_cost)) {
    for (int i = 0; i < 3; ++i) {
      std::printf(
          "ExpireSessions() CPU per timeout (%d due in %d "
          "channels, simulated clock): %.3f us\n",
          absl::GetFlag(FLAGS_expiring), absl::GetFlag(FLAGS_sweep_channels),
          SweepCost(absl::GetFlag(FLAGS_expiring),
                    absl::GetFlag(FLAGS_sweep_channels)));
      std::fflush(stdout);
    }
  }
  if (!absl::GetFlag(FLAGS_timeline)) return;
  const int live = absl::GetFlag(FLAGS_live_users);
  const int expiring = absl::GetFlag(FLAGS_expiring);
  const int timeout = absl::GetFlag(FLAGS_timeout);
  const absl::Duration bucket = absl::GetFlag(FLAGS_bucket);
  Limits limits;
  limits.min_timeout_seconds = 1;
  MemoryStoreOptions options;
  options.limits = limits;
  options.events.announce_max = 1 << 30;  // Every timeout an event.
  auto store = NewMemoryStore(options, Clock::Real());
  Presence presence(store.get(), limits);
  const int live_channels = std::max(1, live / 5);
  for (int u = 0; u < live; ++u) {
    HeartbeatRequest request;
    request.user_id = Name("u-", u);
    request.channels = ChannelsOf(u, live_channels);
    if (!presence.Heartbeat(std::move(request)).ok()) std::abort();
  }
  const absl::Time fill_start = absl::Now();
  for (int u = 0; u < expiring; ++u) {
    HeartbeatRequest request;
    request.user_id = Name("x-", u);
    request.channels = {Name("xch-", u % 1000)};
    request.timeout_seconds = timeout;
    if (!presence.Heartbeat(std::move(request)).ok()) std::abort();
  }
  const absl::Time fill_end = absl::Now();
  const absl::Time first_due = fill_start + absl::Seconds(timeout);
  const absl::Time last_due = fill_end + absl::Seconds(timeout);
  std::printf("%d live users; %d expiring sessions filled in %.2f s\n", live,
              expiring, absl::ToDoubleSeconds(fill_end - fill_start));
  if (first_due - absl::Now() < absl::Seconds(2)) {
    std::fprintf(stderr, "--timeout too short for the fill; raise it\n");
    std::exit(2);
  }
  // The timeline starts 2 s before the first deadline.
  absl::SleepFor(first_due - absl::Seconds(2) - absl::Now());
  const absl::Time origin = absl::Now();
  TimeoutCounter timeouts(origin, bucket);
  store->AddListener(&timeouts);

  std::atomic<bool> stop{false};
  std::thread sweeper([&] {
    while (!stop.load()) {
      (void)store->ExpireSessions();
      absl::SleepFor(absl::Milliseconds(10));
    }
  });
  std::vector<uint64_t> calls(kBuckets);
  std::vector<Samples> latency(kBuckets);
  std::thread worker([&] {
    std::mt19937_64 rng(5);
    while (!stop.load(std::memory_order_relaxed)) {
      const uint64_t user = rng() % live;
      HeartbeatRequest request;
      request.user_id = Name("u-", user);
      request.channels = ChannelsOf(user, live_channels);
      const absl::Time start = absl::Now();
      if (!presence.Heartbeat(std::move(request)).ok()) std::abort();
      const absl::Time end = absl::Now();
      const int64_t b = (end - origin) / bucket;
      if (b >= kBuckets) continue;
      ++calls[b];
      latency[b].Add(absl::ToDoubleMicroseconds(end - start));
    }
  });
  while (timeouts.total.load() < static_cast<uint64_t>(expiring) &&
         absl::Now() < last_due + absl::Seconds(60)) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  const absl::Time expired = absl::Now();
  absl::SleepFor(absl::Seconds(1));
  stop = true;
  worker.join();
  sweeper.join();
  store->RemoveListener(&timeouts);

  // Before: whole buckets ending before the first deadline; during: buckets
  // in which timeouts happened.
  const int64_t before_end = (first_due - origin) / bucket;
  uint64_t before_calls = 0, during_calls = 0;
  int before_buckets = 0, during_buckets = 0;
  Samples before_latency, during_latency;
  for (int b = 0; b < kBuckets; ++b) {
    if (b < before_end) {
      before_calls += calls[b];
      ++before_buckets;
      before_latency.Merge(latency[b]);
    } else if (timeouts.count(b) > 0) {
      during_calls += calls[b];
      ++during_buckets;
      during_latency.Merge(latency[b]);
    }
  }
  const double seconds = absl::ToDoubleSeconds(bucket);
  const double before_rate = before_calls / (before_buckets * seconds);
  const double during_rate = during_calls / (during_buckets * seconds);
  std::printf("%llu timeouts over %.2f s (deadlines spread over %.2f s)\n",
              static_cast<unsigned long long>(timeouts.total.load()),
              during_buckets * seconds,
              absl::ToDoubleSeconds(last_due - first_due));
  std::printf("heartbeats/s before %.0f, during %.0f: ratio %.2f\n",
              before_rate, during_rate, during_rate / before_rate);
  std::printf("heartbeat latency before: %s\n",
              before_latency.Summary().c_str());
  std::printf("heartbeat latency during: %s\n",
              during_latency.Summary().c_str());
  std::printf("last timeout %.0f ms after the last deadline\n",
              absl::ToDoubleMilliseconds(expired - last_due));
}

}  // namespace
}  // namespace presence::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  presence::bench::Run();
  return 0;
}
