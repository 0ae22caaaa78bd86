// Membership changes per second through the presence library (validation,
// the memory store, events), against a naive baseline in the same run: a
// mutex-guarded unordered_map<channel, unordered_set<user>> doing only the
// inserts and erases.
//
//   bazel run -c opt //bench:membership_churn -- --threads=2 --seconds=3
//
// Each operation is a join (Heartbeat on one channel) or a leave, so each
// is one membership change; 100k users over 1k channels.
#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "presence/clock.h"
#include "presence/presence.h"
#include "presence/store/memory/memory_store.h"

ABSL_FLAG(int, threads, 2, "Threads making changes");
ABSL_FLAG(double, seconds, 3, "Duration of each measurement");
ABSL_FLAG(bool, with_listener, true,
          "Attach an event listener, as the server's watch hub is");

namespace presence {
namespace {

constexpr int kUsers = 100000;
constexpr int kChannels = 1000;

struct Names {
  std::vector<std::string> users;
  std::vector<std::string> channels;
  Names() {
    for (int i = 0; i < kUsers; ++i) users.push_back(absl::StrCat("user-", i));
    for (int i = 0; i < kChannels; ++i)
      channels.push_back(absl::StrCat("room-", i));
  }
};

class CountingListener : public EventListener {
 public:
  void OnEvent(const PresenceEvent&) override {
    events.fetch_add(1, std::memory_order_relaxed);
  }
  std::atomic<uint64_t> events{0};
};

// Runs `step(thread, i)` on `threads` threads for the configured time;
// returns steps per second.
template <typename Step>
double Rate(int threads, Step step) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> total{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) step(t, n++);
      total += n;
    });
  }
  const absl::Time start = absl::Now();
  absl::SleepFor(absl::Seconds(absl::GetFlag(FLAGS_seconds)));
  stop = true;
  for (auto& worker : workers) worker.join();
  return total / absl::ToDoubleSeconds(absl::Now() - start);
}

// Thread t works on users t, t+threads, ...: join on even steps, leave on
// odd ones, so every operation changes a membership.
double PresenceRate(const Names& names, int threads) {
  auto store = NewMemoryStore(MemoryStoreOptions(), Clock::Real());
  Presence presence(store.get(), Limits());
  CountingListener listener;
  if (absl::GetFlag(FLAGS_with_listener)) store->AddListener(&listener);
  const double rate = Rate(threads, [&](int t, uint64_t n) {
    const size_t user = (n / 2 * threads + t) % kUsers;
    const std::string& channel = names.channels[user % kChannels];
    if (n % 2 == 0) {
      HeartbeatRequest request;
      request.user_id = names.users[user];
      request.channels = {channel};
      (void)presence.Heartbeat(std::move(request));
    } else {
      LeaveRequest request;
      request.user_id = names.users[user];
      request.channels = {channel};
      (void)presence.Leave(std::move(request));
    }
  });
  store->RemoveListener(&listener);
  return rate;
}

double BaselineRate(const Names& names, int threads) {
  std::mutex mu;
  std::unordered_map<std::string, std::unordered_set<std::string>> members;
  return Rate(threads, [&](int t, uint64_t n) {
    const size_t user = (n / 2 * threads + t) % kUsers;
    const std::string& channel = names.channels[user % kChannels];
    std::lock_guard<std::mutex> lock(mu);
    if (n % 2 == 0) {
      members[channel].insert(names.users[user]);
    } else {
      members[channel].erase(names.users[user]);
    }
  });
}

}  // namespace
}  // namespace presence

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const presence::Names names;
  const int threads = absl::GetFlag(FLAGS_threads);
  const double baseline = presence::BaselineRate(names, threads);
  const double rate = presence::PresenceRate(names, threads);
  std::printf(
      "%d threads: presence library %.0f membership changes/s; naive "
      "map baseline %.0f/s; ratio %.2f\n",
      threads, rate, baseline, rate / baseline);
  return 0;
}
