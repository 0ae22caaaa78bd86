// Batched heartbeats through the presence library (no gRPC): S8's store
// side. 1M users live in 1-5 of 200k channels; batches of --batch users'
// heartbeats (each on the user's channels, all already present: the steady
// state of a gateway refreshing its users) go through
//   - PresenceStore::Batch of the memory store (its fast path),
//   - the default PresenceStore::Batch, one Heartbeat per entry (the
//     baseline, same run, same store),
//   - Presence::Batch (validation, then the store's Batch),
// each on --threads threads. Reports user-heartbeats per second of wall
// time and per second of the threads' CPU time (steadier on a shared
// machine).
//
//   bazel build -c opt //bench/store:batch_heartbeat
//   bazel-bin/bench/store/batch_heartbeat --users=1000000 --threads=2
//
// Target (S8, through gRPC): >= 1,000,000 user-heartbeats/s.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
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

ABSL_FLAG(int, users, 1000000, "Users live");
ABSL_FLAG(int, channels, 200000, "Channels they are in (1-5 each)");
ABSL_FLAG(int, batch, 1000, "Users per batch");
ABSL_FLAG(int, batches, 32, "Distinct batches, used in turn");
ABSL_FLAG(int, threads, 2, "Threads sending batches");
ABSL_FLAG(double, seconds, 3, "Duration of each measurement");
ABSL_FLAG(bool, fast_only, false,
          "Measure only the store's Batch (e.g. to profile it)");

namespace presence::bench {
namespace {

std::vector<std::string> ChannelsOf(uint64_t user, int channels) {
  const int count = 1 + static_cast<int>(Mix64(user) % 5);
  const uint64_t stride = std::max(1, channels / 5);
  std::vector<std::string> out;
  for (int j = 0; j < count; ++j)
    out.push_back(Name("ch-", (user + j * stride) % channels));
  std::sort(out.begin(), out.end());
  return out;
}

BatchEntry Entry(uint64_t user, int channels) {
  BatchEntry entry;
  entry.kind = BatchEntry::Kind::kHeartbeat;
  entry.heartbeat.user_id = Name("u-", user);
  entry.heartbeat.channels = ChannelsOf(user, channels);
  entry.heartbeat.timeout_seconds = 300;
  return entry;
}

struct Rates {
  double wall;  // Entries per second of the calls' wall time.
  double cpu;   // Entries per second of CPU time (threads' own).
};

// Runs `call(thread, i)` (which applies one batch and returns the CPU
// seconds it took) on every thread for the configured time.
Rates Rate(int threads, int batch,
           const std::function<double(int, uint64_t)>& call) {
  std::atomic<bool> stop{false};
  std::vector<double> cpu(threads);
  std::vector<uint64_t> done(threads);
  std::vector<std::thread> workers;
  const absl::Time start = absl::Now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        cpu[t] += call(t, i);
        ++done[t];
      }
    });
  }
  absl::SleepFor(absl::Seconds(absl::GetFlag(FLAGS_seconds)));
  stop = true;
  for (auto& worker : workers) worker.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  Rates rates{0, 0};
  double cpu_total = 0;
  uint64_t entries = 0;
  for (int t = 0; t < threads; ++t) {
    cpu_total += cpu[t];
    entries += done[t] * batch;
  }
  rates.wall = entries / seconds;
  rates.cpu = entries / cpu_total;
  return rates;
}

void Run() {
  const int users = absl::GetFlag(FLAGS_users);
  const int channels = absl::GetFlag(FLAGS_channels);
  const int batch = absl::GetFlag(FLAGS_batch);
  const int threads = absl::GetFlag(FLAGS_threads);
  auto store = NewMemoryStore(MemoryStoreOptions(), Clock::Real());
  Presence presence(store.get(), Limits());
  const absl::Time fill = absl::Now();
  for (int u = 0; u < users; u += batch) {
    std::vector<BatchEntry> entries;
    for (int k = u; k < std::min(users, u + batch); ++k)
      entries.push_back(Entry(k, channels));
    for (const BatchEntryResult& r : store->Batch(entries)) {
      if (!r.status.ok()) std::abort();
    }
  }
  std::printf("%d users live in %d channels (filled in %.2f s)\n", users,
              channels, absl::ToDoubleSeconds(absl::Now() - fill));

  std::mt19937_64 rng(9);
  std::vector<std::vector<BatchEntry>> batches(absl::GetFlag(FLAGS_batches));
  for (auto& entries : batches) {
    for (int k = 0; k < batch; ++k)
      entries.push_back(Entry(rng() % users, channels));
  }
  auto timed = [](const std::function<void()>& f) {
    const double start = ThreadCpuSeconds();
    f();
    return ThreadCpuSeconds() - start;
  };
  auto check = [](const std::vector<BatchEntryResult>& results) {
    for (const BatchEntryResult& r : results) {
      if (!r.status.ok()) std::abort();
    }
  };
  const Rates fast = Rate(threads, batch, [&](int t, uint64_t i) {
    const auto& entries = batches[(i * threads + t) % batches.size()];
    std::vector<BatchEntryResult> results;
    const double d = timed([&] { results = store->Batch(entries); });
    check(results);
    return d;
  });
  if (absl::GetFlag(FLAGS_fast_only)) {
    std::printf(
        "%d threads, batches of %d: store Batch %.0f user-heartbeats/s "
        "(%.0f per CPU-second)\n",
        threads, batch, fast.wall, fast.cpu);
    return;
  }
  const Rates loop = Rate(threads, batch, [&](int t, uint64_t i) {
    const auto& entries = batches[(i * threads + t) % batches.size()];
    std::vector<BatchEntryResult> results;
    const double d =
        timed([&] { results = store->PresenceStore::Batch(entries); });
    check(results);
    return d;
  });
  const Rates facade = Rate(threads, batch, [&](int t, uint64_t i) {
    BatchRequest request;
    request.entries = batches[(i * threads + t) % batches.size()];
    absl::StatusOr<BatchResult> result;
    const double d =
        timed([&] { result = presence.Batch(std::move(request)); });
    if (!result.ok()) std::abort();
    for (const BatchEntryResult& r : result->results) {
      if (!r.status.ok()) std::abort();
    }
    return d;
  });
  std::printf(
      "%d threads, batches of %d, user-heartbeats/s (wall; per CPU-second): "
      "store Batch %.0f (%.0f); baseline one Heartbeat per entry %.0f "
      "(%.0f); ratio %.2f (%.2f); through Presence::Batch (with "
      "validation) %.0f (%.0f)\n",
      threads, batch, fast.wall, fast.cpu, loop.wall, loop.cpu,
      fast.wall / loop.wall, fast.cpu / loop.cpu, facade.wall, facade.cpu);
}

}  // namespace
}  // namespace presence::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  presence::bench::Run();
  return 0;
}
