// The Redis store's own overhead, without gRPC: keeps --concurrency
// heartbeats (or HereNow / WhereNow calls) in flight through the store's
// asynchronous calls, each completion issuing the next, for --seconds, and
// reports calls/s with the CPU this process and Redis used per call. Users
// u-<i> and channels ch-<j> of a --grid x --grid square, all present, as
// S7 shapes them.
//
//   bazel run -c opt //bench/redis:redis_store_load -- --concurrency=32
//       --pool=2 --kind=heartbeat
//
// It starts its own redis-server on a free port.
#include <sys/resource.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/redis/redis_process.h"
#include "presence/clock.h"
#include "presence/presence.h"
#include "presence/store/redis/redis_store.h"

ABSL_FLAG(int, grid, 1000, "Users and channels");
ABSL_FLAG(int, concurrency, 32, "Calls in flight");
ABSL_FLAG(int, pool, 2, "Pipelined connections (RedisPoolOptions::size)");
ABSL_FLAG(double, seconds, 5, "Measurement");
ABSL_FLAG(std::string, kind, "heartbeat", "heartbeat, here_now or where_now");
ABSL_FLAG(std::string, redis_server, "redis-server", "redis-server binary");

namespace presence {
namespace {

std::string Name(const char* prefix, uint64_t i) {
  char digits[24];
  std::snprintf(digits, sizeof(digits), "%012llu",
                static_cast<unsigned long long>(i));
  return absl::StrCat(prefix, digits);
}

double CpuSeconds(pid_t pid) {
  FILE* f = std::fopen(absl::StrCat("/proc/", pid, "/stat").c_str(), "r");
  if (f == nullptr) return 0;
  char buffer[4096];
  const size_t n = std::fread(buffer, 1, sizeof(buffer) - 1, f);
  std::fclose(f);
  buffer[n] = 0;
  const char* p = std::strrchr(buffer, ')');
  unsigned long long utime = 0, stime = 0;
  // Fields after ")": state ppid pgrp session tty tpgid flags minflt cminflt
  // majflt cmajflt utime stime.
  std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
              &utime, &stime);
  return double(utime + stime) / sysconf(_SC_CLK_TCK);
}

class Driver {
 public:
  Driver(Presence& presence, int grid, std::string kind)
      : presence_(presence), grid_(grid), kind_(std::move(kind)) {}

  void Start(int slots) {
    for (int i = 0; i < slots; ++i) Next(i);
  }
  void Stop() { stopping_ = true; }
  uint64_t done() const { return done_.load(); }
  uint64_t errors() const { return errors_.load(); }
  bool idle() const { return in_flight_.load() == 0; }

 private:
  void Next(uint64_t seed) {
    if (stopping_.load()) return;
    ++in_flight_;
    std::minstd_rand rng(seed * 7919 + done_.load());
    const uint64_t user = rng() % grid_, channel = rng() % grid_;
    auto finish = [this, seed](const absl::Status& status) {
      if (!status.ok()) ++errors_;
      ++done_;
      Next(seed + 1);
      --in_flight_;
    };
    if (kind_ == "heartbeat") {
      HeartbeatRequest request;
      request.user_id = Name("u-", user);
      request.channels = {Name("ch-", channel)};
      presence_.HeartbeatAsync(
          std::move(request),
          [finish](absl::StatusOr<HeartbeatResult> r) { finish(r.status()); });
    } else if (kind_ == "here_now") {
      HereNowRequest request;
      request.channels = {Name("ch-", channel)};
      request.limit = 100;
      presence_.HereNowAsync(
          std::move(request),
          [finish](absl::StatusOr<HereNowResult> r) { finish(r.status()); });
    } else {
      presence_.WhereNowAsync(
          {Name("u-", user)},
          [finish](absl::StatusOr<WhereNowResult> r) { finish(r.status()); });
    }
  }

  Presence& presence_;
  const int grid_;
  const std::string kind_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> done_{0}, errors_{0};
  std::atomic<int> in_flight_{0};
};

void Run() {
  bench::RedisProcess redis(absl::GetFlag(FLAGS_redis_server));
  const int grid = absl::GetFlag(FLAGS_grid);
  RedisStoreOptions options;
  options.url = redis.url();
  options.pool.size = absl::GetFlag(FLAGS_pool);
  auto store = NewRedisStore(options, Clock::Real());
  if (!store.ok()) std::exit(1);
  Presence presence(store->get(), Limits());
  // Prefill: every user in every channel, in batches.
  for (int u = 0; u < grid; ++u) {
    HeartbeatRequest request;
    request.user_id = Name("u-", u);
    for (int c = 0; c < grid; ++c) request.channels.push_back(Name("ch-", c));
    if (!presence.Heartbeat(request).ok()) std::exit(1);
  }
  Driver driver(presence, grid, absl::GetFlag(FLAGS_kind));
  driver.Start(absl::GetFlag(FLAGS_concurrency));
  absl::SleepFor(absl::Seconds(1));  // Warm-up.
  const uint64_t calls0 = driver.done();
  const double self0 = CpuSeconds(getpid()), redis0 = CpuSeconds(redis.pid());
  const absl::Time start = absl::Now();
  absl::SleepFor(absl::Seconds(absl::GetFlag(FLAGS_seconds)));
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const uint64_t calls = driver.done() - calls0;
  const double self = CpuSeconds(getpid()) - self0;
  const double redis_cpu = CpuSeconds(redis.pid()) - redis0;
  driver.Stop();
  while (!driver.idle()) absl::SleepFor(absl::Milliseconds(10));
  std::printf(
      "%s, %d in flight over %d connection(s): %.0f calls/s; this process "
      "%.2f cores, %.1f µs/call; Redis %.2f cores, %.1f µs/call; %llu "
      "errors\n",
      absl::GetFlag(FLAGS_kind).c_str(), absl::GetFlag(FLAGS_concurrency),
      absl::GetFlag(FLAGS_pool), calls / seconds, self / seconds,
      self * 1e6 / calls, redis_cpu / seconds, redis_cpu * 1e6 / calls,
      static_cast<unsigned long long>(driver.errors()));
}

}  // namespace
}  // namespace presence

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  presence::Run();
  return 0;
}
