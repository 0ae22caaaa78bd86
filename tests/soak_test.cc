// A bounded soak of the presence_server binary: every RPC and watchers,
// mixed, from several clients, while sessions keep expiring. The server's
// resident memory, open file descriptors and threads must stay flat once
// warmed up, no call may fail unexpectedly, and at the end, once every
// session has timed out, nothing is left and every channel's events balance.
//
// CI runs it for PRESENCE_SOAK_SECONDS (default 90); for hours:
//   bazel test //tests:soak_test --test_env=PRESENCE_SOAK_SECONDS=7200 \
//     --test_timeout=9000
#include <dirent.h>
#include <sys/types.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/json.h"
#include "client/presence_client.h"
#include "gtest/gtest.h"
#include "service/testing/server_process.h"

namespace presence {
namespace {

using client::Json;
using client::PresenceClient;
using client::WatchEvent;

constexpr int kUsers = 300;
constexpr int kChannels = 30;
constexpr int kWorkers = 4;

absl::Duration SoakDuration() {
  int seconds = 90;
  if (const char* text = std::getenv("PRESENCE_SOAK_SECONDS")) {
    (void)absl::SimpleAtoi(text, &seconds);
  }
  return absl::Seconds(std::max(seconds, 10));
}

// What /proc says about the server.
struct Sample {
  int64_t rss_kib = 0;
  int64_t threads = 0;
  int64_t fds = 0;
};

Sample Read(pid_t pid) {
  Sample sample;
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") status >> sample.rss_kib;
    if (key == "Threads:") status >> sample.threads;
  }
  if (DIR* dir = opendir(absl::StrCat("/proc/", pid, "/fd").c_str())) {
    while (readdir(dir) != nullptr) ++sample.fds;
    closedir(dir);
  }
  return sample;
}

// Counts the calls that failed in a way the workload does not expect.
class Errors {
 public:
  void Check(const absl::Status& status, const char* call) {
    if (status.ok()) return;
    // Expected: state on a channel the user just timed out of or left, and
    // a group another worker deleted.
    if (status.code() == absl::StatusCode::kFailedPrecondition ||
        status.code() == absl::StatusCode::kNotFound) {
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (unexpected_.size() < 10) {
      unexpected_.push_back(absl::StrCat(call, ": ", status.ToString()));
    }
    ++count_;
  }
  int count() {
    std::lock_guard<std::mutex> lock(mu_);
    return count_;
  }
  std::vector<std::string> first() {
    std::lock_guard<std::mutex> lock(mu_);
    return unexpected_;
  }

 private:
  std::mutex mu_;
  int count_ = 0;
  std::vector<std::string> unexpected_;
};

// One worker: random calls of every kind over the shared users and channels.
void Work(const std::string& target, int seed, absl::Time until, Errors& errors,
          std::atomic<int64_t>& calls) {
  std::mt19937 random(seed);
  PresenceClient client({.target = target, .timeout = absl::Seconds(10)});
  auto pick = [&](int n) { return static_cast<int>(random() % n); };
  auto user = [&] { return absl::StrCat("user-", pick(kUsers)); };
  auto channel = [&] { return absl::StrCat("ch-", pick(kChannels)); };
  while (absl::Now() < until) {
    switch (pick(10)) {
      case 0:
      case 1:
      case 2: {  // Sessions of 1-3 s, so they keep expiring.
        const std::string first = channel();
        auto call = client.heartbeat()
                        .user_id(user())
                        .channels({first, channel()})
                        .timeout_seconds(1 + pick(3))
                        .session_id(absl::StrCat("s", pick(3)));
        if (pick(2) == 0) call.state(first, Json::object({{"n", pick(100)}}));
        errors.Check(call.execute().status(), "Heartbeat");
        break;
      }
      case 3:
        errors.Check(client.leave()
                         .user_id(user())
                         .channels({channel()})
                         .session_id(absl::StrCat("s", pick(3)))
                         .execute()
                         .status(),
                     "Leave");
        break;
      case 4:
        errors.Check(client.set_presence_state(Json::object({{"v", pick(9)}}))
                         .user_id(user())
                         .channels({channel()})
                         .execute()
                         .status(),
                     "SetState");
        break;
      case 5:
        errors.Check(client.here_now()
                         .channels({channel(), channel()})
                         .include_state(true)
                         .execute()
                         .status(),
                     "HereNow");
        break;
      case 6:
        errors.Check(client.where_now().user_id(user()).execute().status(),
                     "WhereNow");
        errors.Check(client.get_presence_state()
                         .user_id(user())
                         .channels({channel()})
                         .execute()
                         .status(),
                     "GetState");
        break;
      case 7: {
        const std::string group = absl::StrCat("group-", pick(5));
        errors.Check(client.add_channels_to_group(group)
                         .channels({channel(), channel()})
                         .execute(),
                     "AddChannels");
        errors.Check(client.list_channels_in_group(group).execute().status(),
                     "ListChannels");
        if (pick(4) == 0) {
          errors.Check(client.delete_group(group).execute(), "DeleteGroup");
        }
        errors.Check(client.list_groups().execute().status(), "ListGroups");
        break;
      }
      default: {
        auto batch = client.batch_heartbeat();
        for (int i = 0; i < 20; ++i) {
          if (pick(5) == 0) {
            batch.leave(user(), {channel()});
          } else {
            batch.heartbeat(user(), {channel()}, 1 + pick(3));
          }
        }
        absl::StatusOr<client::BatchHeartbeatResult> result = batch.execute();
        errors.Check(result.status(), "BatchHeartbeat");
        if (result.ok()) {
          for (const client::BatchEntryResult& entry : result->results) {
            errors.Check(entry.status, "BatchHeartbeat entry");
          }
        }
        break;
      }
    }
    ++calls;
    // About 500 calls per second per worker: a steady load, not a flood.
    absl::SleepFor(absl::Microseconds(1500));
  }
}

TEST(SoakTest, StaysFlatAndEndsConsistent) {
  const absl::Duration duration = SoakDuration();
  ServerProcess server(ServerBinaryPath(),
                       {"--min_timeout_seconds=1", "--announce_max=100000"});
  ASSERT_TRUE(server.Start().ok()) << server.Log();
  const std::string target = server.address();
  const absl::Time start = absl::Now();
  const absl::Time until = start + duration;
  Errors errors;
  std::atomic<int64_t> calls{0};

  // A firehose watcher: each channel's last occupancy, and per-user events.
  std::mutex events_mu;
  std::map<std::string, uint32_t> last_occupancy;
  int64_t joins = 0, departures = 0, events_seen = 0;
  absl::Status firehose_end;
  PresenceClient watcher({.target = target});
  absl::StatusOr<std::unique_ptr<client::EventStream>> firehose =
      watcher.watch().open();
  ASSERT_TRUE(firehose.ok()) << firehose.status();
  std::thread reader([&] {
    WatchEvent event;
    while ((*firehose)->Next(&event)) {
      std::lock_guard<std::mutex> lock(events_mu);
      ++events_seen;
      last_occupancy[event.channel] = event.occupancy;
      if (event.action == WatchEvent::Action::kJoin) ++joins;
      if (event.action == WatchEvent::Action::kLeave ||
          event.action == WatchEvent::Action::kTimeout) {
        ++departures;
      }
    }
    firehose_end = (*firehose)->Finish();
  });

  // Channel watches opened and closed over and over (stream churn).
  std::thread churn([&] {
    std::mt19937 random(7);
    while (absl::Now() < until) {
      absl::StatusOr<std::unique_ptr<client::EventStream>> stream =
          watcher.watch()
              .channels({absl::StrCat("ch-", random() % kChannels)})
              .open();
      errors.Check(stream.status(), "WatchEvents");
      absl::SleepFor(absl::Milliseconds(50));
      if (stream.ok()) (*stream)->Cancel();
    }
  });

  std::vector<std::thread> workers;
  for (int i = 0; i < kWorkers; ++i) {
    workers.emplace_back([&, i] { Work(target, i, until, errors, calls); });
  }

  // Samples after a warm-up of a quarter of the run.
  const absl::Time warm = start + duration / 4;
  Sample at_warm;
  Sample peak;
  bool warmed = false;
  while (absl::Now() < until) {
    absl::SleepFor(absl::Seconds(1));
    const Sample now = Read(server.pid());
    if (!warmed && absl::Now() >= warm) {
      at_warm = now;
      peak = now;
      warmed = true;
    } else if (warmed) {
      peak.rss_kib = std::max(peak.rss_kib, now.rss_kib);
      peak.threads = std::max(peak.threads, now.threads);
      peak.fds = std::max(peak.fds, now.fds);
    }
  }
  for (std::thread& worker : workers) worker.join();
  churn.join();
  const Sample after_load = Read(server.pid());

  // Every session ends within its 3 s timeout; then nothing is left.
  absl::SleepFor(absl::Seconds(4));
  PresenceClient checker({.target = target});
  absl::StatusOr<client::HereNowResult> everything =
      checker.here_now().include_user_ids(false).execute();
  ASSERT_TRUE(everything.ok()) << everything.status();
  EXPECT_EQ(everything->total_channels, 0u);
  EXPECT_EQ(everything->total_occupancy, 0u);

  (*firehose)->Cancel();
  reader.join();
  EXPECT_EQ(firehose_end.code(), absl::StatusCode::kCancelled)
      << "the firehose ended early: " << firehose_end;
  {
    std::lock_guard<std::mutex> lock(events_mu);
    EXPECT_GT(events_seen, 0);
    EXPECT_EQ(joins, departures) << "every join ends in a leave or timeout";
    for (const auto& [channel, occupancy] : last_occupancy) {
      EXPECT_EQ(occupancy, 0u) << channel << "'s last event";
    }
  }

  EXPECT_EQ(errors.count(), 0);
  for (const std::string& error : errors.first()) ADD_FAILURE() << error;
  EXPECT_GT(calls.load(), 1000);

  // Flat: after the warm-up, memory grows by at most a quarter (16 MiB at
  // least, for allocator noise), threads and descriptors by a few.
  ASSERT_TRUE(warmed);
  const int64_t rss_allowance = std::max<int64_t>(at_warm.rss_kib / 4, 16384);
  EXPECT_LE(peak.rss_kib, at_warm.rss_kib + rss_allowance)
      << "RSS at warm-up " << at_warm.rss_kib << " KiB";
  EXPECT_LE(peak.threads, at_warm.threads + 4);
  EXPECT_LE(peak.fds, at_warm.fds + 8);
  EXPECT_LE(after_load.fds, at_warm.fds + 8);
  std::printf(
      "soak: %s, %lld calls, %lld events; rss %lld -> %lld KiB (peak %lld), "
      "threads %lld -> %lld, fds %lld -> %lld\n",
      absl::FormatDuration(duration).c_str(),
      static_cast<long long>(calls.load()), static_cast<long long>(events_seen),
      static_cast<long long>(at_warm.rss_kib),
      static_cast<long long>(after_load.rss_kib),
      static_cast<long long>(peak.rss_kib),
      static_cast<long long>(at_warm.threads),
      static_cast<long long>(after_load.threads),
      static_cast<long long>(at_warm.fds),
      static_cast<long long>(after_load.fds));
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.Log();
}

}  // namespace
}  // namespace presence
