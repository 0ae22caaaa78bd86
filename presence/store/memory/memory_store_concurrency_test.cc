// Hammers the memory store from several threads (run it under
// --config=tsan too) and checks the indexes agree afterwards.
#include <atomic>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "presence/base/mutex.h"
#include "presence/clock.h"
#include "presence/presence.h"
#include "presence/store/memory/memory_store.h"

namespace presence {
namespace {

// Counts joins minus leaves/timeouts per channel as events arrive.
class OccupancyTracker : public EventListener {
 public:
  void OnEvent(const PresenceEvent& event) override {
    MutexLock lock(&mu_);
    auto& last = last_sequence_[event.channel];
    if (last != 0 && (event.sequence >> 32) == (last >> 32)) {
      EXPECT_EQ(event.sequence, last + 1) << event.channel;
    } else {
      EXPECT_GT(event.sequence, last);
    }
    last = event.sequence;
    int& count = occupancy_[event.channel];
    if (event.type == EventType::kJoin) ++count;
    if (event.type == EventType::kLeave || event.type == EventType::kTimeout) {
      --count;
    }
    // Active comes before the first join, inactive after the last leave.
    if (event.type == EventType::kActive ||
        event.type == EventType::kInactive) {
      EXPECT_EQ(count, 0) << event.channel;
    } else {
      EXPECT_EQ(count, static_cast<int>(event.occupancy)) << event.channel;
    }
  }

  int occupancy(const std::string& channel) {
    MutexLock lock(&mu_);
    return occupancy_[channel];
  }

 private:
  Mutex mu_;
  std::map<std::string, int> occupancy_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> last_sequence_ ABSL_GUARDED_BY(mu_);
};

TEST(MemoryStoreConcurrencyTest, ParallelTrafficKeepsIndexesConsistent) {
  SimulatedClock clock(absl::FromUnixSeconds(1'800'000'000));
  Limits limits;
  limits.min_timeout_seconds = 1;
  MemoryStoreOptions options;
  options.limits = limits;
  options.events.announce_max = 1000;  // Every join and leave individually.
  std::unique_ptr<PresenceStore> store = NewMemoryStore(options, &clock);
  Presence presence(store.get(), limits);
  OccupancyTracker tracker;
  store->AddListener(&tracker);
  ASSERT_TRUE(presence.AddChannelsToGroup("g", {"c1", "c2", "c3"}).ok());

  constexpr int kThreads = 4;
  constexpr int kOps = 4000;
  std::atomic<bool> stop{false};
  std::thread ticker([&] {
    while (!stop.load()) {
      clock.Advance(absl::Milliseconds(50));
      ASSERT_TRUE(store->ExpireSessions().ok());
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < kOps; ++i) {
        const std::string user = absl::StrCat("u", rng() % 40);
        const std::string channel = absl::StrCat("c", rng() % 12);
        const std::string session = absl::StrCat("s", rng() % 3);
        switch (rng() % 7) {
          case 0:
          case 1:
          case 2: {
            HeartbeatRequest hb;
            hb.user_id = user;
            hb.channels = {channel, absl::StrCat("c", rng() % 12)};
            if (rng() % 4 == 0) hb.channel_groups = {"g"};
            hb.session_id = session;
            hb.timeout_seconds = 1 + rng() % 3;
            if (rng() % 3 == 0)
              hb.states = {{channel, absl::StrCat(R"({"n":)", i, "}")}};
            ASSERT_TRUE(presence.Heartbeat(hb).ok());
            break;
          }
          case 3: {
            LeaveRequest leave;
            leave.user_id = user;
            leave.channels = {channel};
            leave.session_id = session;
            ASSERT_TRUE(presence.Leave(leave).ok());
            break;
          }
          case 4: {
            SetStateRequest set;
            set.user_id = user;
            set.channel_groups = {"g"};
            set.state = absl::StrCat(R"({"i":)", i, "}");
            ASSERT_TRUE(presence.SetState(set).ok());
            break;
          }
          case 5: {
            HereNowRequest here;
            if (rng() % 2) here.channels = {channel};
            ASSERT_TRUE(presence.HereNow(here).ok());
            break;
          }
          case 6:
            ASSERT_TRUE(presence.WhereNow({user}).ok());
            break;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  stop = true;
  ticker.join();

  absl::StatusOr<HereNowResult> all = presence.HereNow(HereNowRequest());
  ASSERT_TRUE(all.ok());
  int listed = 0;
  for (const auto& channel : all->channels) {
    EXPECT_EQ(static_cast<int>(channel.occupancy),
              tracker.occupancy(channel.name));
    EXPECT_EQ(channel.occupancy, channel.occupants.size());
    for (const auto& occupant : channel.occupants) {
      EXPECT_THAT(presence.WhereNow({occupant.user_id})->channels,
                  testing::Contains(channel.name));
    }
    listed += channel.occupancy;
  }
  int indexed = 0;
  for (int u = 0; u < 40; ++u) {
    indexed += presence.WhereNow({absl::StrCat("u", u)})->channels.size();
  }
  EXPECT_EQ(listed, indexed);

  // Everything times out in the end, and the event counts agree.
  clock.Advance(absl::Seconds(10));
  ASSERT_TRUE(store->ExpireSessions().ok());
  EXPECT_EQ(presence.HereNow(HereNowRequest())->total_channels, 0u);
  for (int c = 0; c < 12; ++c)
    EXPECT_EQ(tracker.occupancy(absl::StrCat("c", c)), 0);
  store->RemoveListener(&tracker);
}

// Batches of joins and leaves on few users and many small channels, from
// several threads: channels empty, are freed and their records taken by
// other channels all the time, also between a batch prefetching an entry's
// channels and applying it (under its own shards' locks). Events, HereNow,
// WhereNow and Stats() must agree afterwards. (That an entry reaches its own
// channel when its record was reused is memory_store_test's
// ABatchEntryFollowsItsChannelWhenTheRecordIsReused.)
TEST(MemoryStoreConcurrencyTest, BatchesAgreeWhileChannelSlotsAreReused) {
  SimulatedClock clock(absl::FromUnixSeconds(1'800'000'000));
  MemoryStoreOptions options;
  options.events.announce_max = 100000;  // Every event individually.
  std::unique_ptr<PresenceStore> store = NewMemoryStore(options, &clock);
  Presence presence(store.get(), Limits());
  OccupancyTracker tracker;
  store->AddListener(&tracker);
  constexpr int kChannels = 40;
  constexpr int kUsers = 6;
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int round = 0; round < 300; ++round) {
        BatchRequest batch;
        for (int i = 0; i < 40; ++i) {
          BatchEntry entry;
          const std::string user = absl::StrCat("u", rng() % kUsers);
          std::vector<std::string> channels;
          for (int k = 0; k < 3; ++k)
            channels.push_back(absl::StrCat("c", rng() % kChannels));
          if (rng() % 2) {
            entry.heartbeat.user_id = user;
            entry.heartbeat.channels = channels;
          } else {
            entry.kind = BatchEntry::Kind::kLeave;
            entry.leave.user_id = user;
            entry.leave.channels = channels;
          }
          batch.entries.push_back(std::move(entry));
        }
        absl::StatusOr<BatchResult> result = presence.Batch(std::move(batch));
        ASSERT_TRUE(result.ok()) << result.status();
        for (const BatchEntryResult& entry : result->results)
          ASSERT_TRUE(entry.status.ok()) << entry.status;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  HereNowRequest all;
  for (int c = 0; c < kChannels; ++c)
    all.channels.push_back(absl::StrCat("c", c));
  absl::StatusOr<HereNowResult> here = presence.HereNow(all);
  ASSERT_TRUE(here.ok());
  std::map<std::string, int> occupancy;
  std::map<std::string, std::vector<std::string>> by_user;
  uint64_t memberships = 0;
  for (const ChannelOccupancy& channel : here->channels) {
    occupancy[channel.name] = static_cast<int>(channel.occupancy);
    memberships += channel.occupancy;
    for (const Occupant& occupant : channel.occupants)
      by_user[occupant.user_id].push_back(channel.name);
  }
  for (int c = 0; c < kChannels; ++c) {
    const std::string name = absl::StrCat("c", c);
    EXPECT_EQ(occupancy[name], tracker.occupancy(name)) << name;
  }
  EXPECT_EQ(store->Stats()->memberships, memberships);
  for (auto& [user, channels] : by_user) {
    absl::StatusOr<WhereNowResult> where = presence.WhereNow({user});
    ASSERT_TRUE(where.ok());
    EXPECT_THAT(where->channels, ::testing::UnorderedElementsAreArray(channels))
        << user;
  }
  store->RemoveListener(&tracker);
}

// A mass expiry in one channel is swept in slices, releasing the lock in
// between; joins, leaves, pages and batches of that channel meanwhile keep
// its events and answers consistent.
TEST(MemoryStoreConcurrencyTest, MassExpiryWhileTheChannelChanges) {
  SimulatedClock clock(absl::FromUnixSeconds(1'800'000'000));
  Limits limits;
  limits.min_timeout_seconds = 1;
  MemoryStoreOptions options;
  options.limits = limits;
  options.events.announce_max = 100000;  // Every event individually.
  std::unique_ptr<PresenceStore> store = NewMemoryStore(options, &clock);
  Presence presence(store.get(), limits);
  OccupancyTracker tracker;
  store->AddListener(&tracker);
  for (int round = 0; round < 3; ++round) {
    for (int u = 0; u < 3000; ++u) {
      HeartbeatRequest hb;
      hb.user_id = absl::StrCat("x", u);
      hb.channels = {"big"};
      hb.timeout_seconds = 1 + u % 2;
      ASSERT_TRUE(presence.Heartbeat(hb).ok());
    }
    clock.Advance(absl::Seconds(2));
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937 rng(t + 10 * round);
        while (!stop.load()) {
          const std::string user =
              absl::StrCat(rng() % 2 ? "x" : "y", rng() % 3000);
          switch (rng() % 4) {
            case 0: {
              HeartbeatRequest hb;
              hb.user_id = user;
              hb.channels = {"big"};
              hb.timeout_seconds = 5;
              ASSERT_TRUE(presence.Heartbeat(hb).ok());
              break;
            }
            case 1: {
              LeaveRequest leave;
              leave.user_id = user;
              leave.channels = {"big"};
              ASSERT_TRUE(presence.Leave(leave).ok());
              break;
            }
            case 2: {
              HereNowRequest here;
              here.channels = {"big"};
              here.offset = rng() % 3000;
              here.limit = 100;
              absl::StatusOr<HereNowResult> r = presence.HereNow(here);
              ASSERT_TRUE(r.ok());
              break;
            }
            case 3: {
              BatchRequest batch;
              for (int i = 0; i < 5; ++i) {
                BatchEntry entry;
                entry.heartbeat.user_id = absl::StrCat("y", rng() % 3000);
                entry.heartbeat.channels = {"big", "other"};
                entry.heartbeat.timeout_seconds = 5;
                batch.entries.push_back(entry);
              }
              ASSERT_TRUE(presence.Batch(batch).ok());
              break;
            }
          }
        }
      });
    }
    ASSERT_TRUE(store->ExpireSessions().ok());
    stop = true;
    for (auto& thread : threads) thread.join();
    HereNowRequest here;
    here.channels = {"big"};
    absl::StatusOr<HereNowResult> big = presence.HereNow(here);
    ASSERT_TRUE(big.ok());
    EXPECT_EQ(static_cast<int>(big->channels[0].occupancy),
              tracker.occupancy("big"));
  }
  clock.Advance(absl::Seconds(10));
  ASSERT_TRUE(store->ExpireSessions().ok());
  EXPECT_EQ(tracker.occupancy("big"), 0);
  EXPECT_EQ(store->Stats()->memberships, 0u);
  store->RemoveListener(&tracker);
}

}  // namespace
}  // namespace presence
