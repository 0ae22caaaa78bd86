// Measures how late timeouts fire: the time between a session's deadline
// and the timeout event, with many sessions expiring together, against the
// same measurement with a single session (the baseline, same run).
//
//   bazel run -c opt //bench:timeout_lag -- --sessions=1000000 --store=memory
//   bazel run -c opt //bench:timeout_lag -- --sessions=20000 --store=redis
//
// Sessions get timeouts of 1 to 3 s, so they expire spread over 2 s while a
// sweeper runs every --expiry_interval, as in the server. Lag is measured
// on the real clock.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "presence/base/ticker.h"
#include "presence/clock.h"
#include "presence/event.h"
#include "presence/presence.h"
#include "presence/store/memory/memory_store.h"
#include "presence/store/redis/redis_store.h"
#include "presence/testing/redis_server.h"

ABSL_FLAG(int, sessions, 1000000, "Sessions that time out");
ABSL_FLAG(std::string, store, "memory", "memory or redis");
ABSL_FLAG(absl::Duration, expiry_interval, absl::Milliseconds(10),
          "Sweep period, as the server's flag");

namespace presence {
namespace {

// Records, per timeout event, how long after the user's deadline it came.
class LagRecorder : public EventListener {
 public:
  explicit LagRecorder(const std::vector<absl::Time>* deadlines)
      : deadlines_(deadlines) {}

  void OnEvent(const PresenceEvent& event) override {
    if (event.type == EventType::kTimeout) Record(event.user_id);
    if (event.type == EventType::kInterval) {
      for (const std::string& user : event.timed_out) Record(user);
    }
  }

  std::vector<double> LagsMs() {
    std::lock_guard<std::mutex> lock(mu_);
    return lags_ms_;
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu_);
    return lags_ms_.size();
  }

 private:
  void Record(const std::string& user) {
    const absl::Time now = absl::Now();
    size_t index = 0;
    if (!absl::SimpleAtoi(absl::string_view(user).substr(2), &index)) return;
    std::lock_guard<std::mutex> lock(mu_);
    lags_ms_.push_back(absl::ToDoubleMilliseconds(now - (*deadlines_)[index]));
  }

  const std::vector<absl::Time>* deadlines_;
  std::mutex mu_;
  std::vector<double> lags_ms_;
};

std::unique_ptr<PresenceStore> MakeStore(const std::string& kind,
                                         const Limits& limits,
                                         RedisServer* redis) {
  EventOptions events;
  events.announce_max = 1 << 30;  // Every timeout individually.
  if (kind == "memory") {
    MemoryStoreOptions options;
    options.limits = limits;
    options.events = events;
    return NewMemoryStore(options, Clock::Real());
  }
  RedisStoreOptions options;
  options.url = redis->url();
  options.limits = limits;
  options.events = events;
  options.stream_max_len = 1000000;
  return *NewRedisStore(options, Clock::Real());
}

// Returns the lags (ms) of `sessions` sessions expiring over ~2 s.
std::vector<double> Run(const std::string& kind, int sessions,
                        RedisServer* redis) {
  if (redis != nullptr) (void)redis->FlushAll();
  Limits limits;
  limits.min_timeout_seconds = 1;
  std::unique_ptr<PresenceStore> store = MakeStore(kind, limits, redis);
  Presence presence(store.get(), limits);
  std::vector<absl::Time> deadlines(sessions);
  LagRecorder recorder(&deadlines);
  store->AddListener(&recorder);
  for (int i = 0; i < sessions; ++i) {
    HeartbeatRequest request;
    request.user_id = absl::StrCat("u-", i);
    request.channels = {absl::StrCat("c", i % 1000)};
    request.timeout_seconds = 1 + i % 3;
    const absl::Time before = absl::Now();
    if (!presence.Heartbeat(request).ok()) std::abort();
    // The deadline is at least this (the store's clock read comes after).
    deadlines[i] = before + absl::Seconds(request.timeout_seconds);
  }
  {
    Ticker sweeper([&store] { return store->ExpireSessions(); },
                   absl::GetFlag(FLAGS_expiry_interval));
    const absl::Time give_up = absl::Now() + absl::Seconds(60);
    while (recorder.count() < static_cast<size_t>(sessions) &&
           absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(50));
    }
  }
  store->RemoveListener(&recorder);
  std::vector<double> lags = recorder.LagsMs();
  std::sort(lags.begin(), lags.end());
  return lags;
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return -1;
  return sorted[std::min(sorted.size() - 1,
                         static_cast<size_t>(p * sorted.size()))];
}

}  // namespace
}  // namespace presence

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string kind = absl::GetFlag(FLAGS_store);
  const int sessions = absl::GetFlag(FLAGS_sessions);
  std::unique_ptr<presence::RedisServer> redis;
  if (kind == "redis") redis = *presence::RedisServer::Start();
  // Baseline first: one session, same sweeper, same machine.
  const std::vector<double> one = presence::Run(kind, 1, redis.get());
  const std::vector<double> many = presence::Run(kind, sessions, redis.get());
  const double base = std::max(presence::Percentile(one, 0.5), 0.001);
  std::printf(
      "%s store, %d sessions: timeout lag p50 %.1f ms, p99 %.1f ms, max %.1f "
      "ms (%zu events; early: %s); baseline 1 session %.1f ms; p99/baseline "
      "%.1f\n",
      kind.c_str(), sessions, presence::Percentile(many, 0.5),
      presence::Percentile(many, 0.99), many.empty() ? -1.0 : many.back(),
      many.size(), !many.empty() && many.front() < 0 ? "YES" : "none", base,
      presence::Percentile(many, 0.99) / base);
  return 0;
}
