// The Redis store: the conformance suite against a real redis-server, and
// what only a shared store has: several stores (replicas) on one Redis, and
// Redis going away and coming back.
#include "presence/store/redis/redis_store.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "presence/base/mutex.h"
#include "presence/clock.h"
#include "presence/presence.h"
#include "presence/store/redis/redis_client.h"
#include "presence/testing/event_recorder.h"
#include "presence/testing/redis_server.h"
#include "presence/testing/store_conformance.h"

namespace presence {
namespace {

using ::testing::ElementsAre;

// One redis-server for the whole test binary.
RedisServer* redis = nullptr;

class RedisEnvironment : public testing::Environment {
 public:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RedisServer>> server = RedisServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    redis = server_.get();
  }
  void TearDown() override {
    redis = nullptr;
    server_.reset();
  }

 private:
  std::unique_ptr<RedisServer> server_;
};

const testing::Environment* const environment =
    testing::AddGlobalTestEnvironment(new RedisEnvironment());

RedisStoreOptions Options(const StoreConfig& config) {
  RedisStoreOptions options;
  options.url = redis->url();
  options.limits = config.limits;
  options.events = config.events;
  options.read_block = absl::Milliseconds(20);
  options.pool.timeout = absl::Milliseconds(500);
  return options;
}

INSTANTIATE_TEST_SUITE_P(
    Redis, StoreConformanceTest,
    testing::Values(StoreFactory{
        "redis",
        [](Clock* clock,
           const StoreConfig& config) -> std::unique_ptr<PresenceStore> {
          EXPECT_TRUE(redis->FlushAll().ok());
          absl::StatusOr<std::unique_ptr<PresenceStore>> store =
              NewRedisStore(Options(config), clock);
          EXPECT_TRUE(store.ok()) << store.status();
          return store.ok() ? *std::move(store) : nullptr;
        }}),
    [](const testing::TestParamInfo<StoreFactory>& info) {
      return info.param.name;
    });

// Records events and interruptions; thread-safe.
class Recorder : public EventRecorder {
 public:
  void OnEventsInterrupted(const absl::Status& status) override {
    MutexLock lock(&mu_);
    interruptions_.push_back(status);
    interrupted_.SignalAll();
  }
  std::vector<absl::Status> TakeInterruptions() {
    MutexLock lock(&mu_);
    return std::exchange(interruptions_, {});
  }
  bool WaitForInterruption(absl::Duration timeout) {
    MutexLock lock(&mu_);
    return interrupted_.WaitFor(
        &mu_,
        [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return !interruptions_.empty();
        },
        timeout);
  }

 private:
  Mutex mu_;
  CondVar interrupted_;
  std::vector<absl::Status> interruptions_ ABSL_GUARDED_BY(mu_);
};

// Two stores on one Redis, as two replicas would be.
class ReplicasTest : public testing::Test {
 protected:
  ReplicasTest() {
    EXPECT_TRUE(redis->FlushAll().ok());
    StoreConfig config;
    config.limits.min_timeout_seconds = 1;
    for (int i = 0; i < 2; ++i) {
      auto store = NewRedisStore(Options(config), &clock_);
      EXPECT_TRUE(store.ok()) << store.status();
      stores_[i] = *std::move(store);
      presence_[i] =
          std::make_unique<Presence>(stores_[i].get(), config.limits);
      stores_[i]->AddListener(&events_[i]);
    }
  }
  ~ReplicasTest() override {
    for (int i = 0; i < 2; ++i) stores_[i]->RemoveListener(&events_[i]);
  }

  void Join(int replica, const std::string& user, const std::string& channel,
            uint32_t timeout = 60) {
    HeartbeatRequest request;
    request.user_id = user;
    request.channels = {channel};
    request.timeout_seconds = timeout;
    ASSERT_TRUE(presence_[replica]->Heartbeat(request).ok());
  }

  std::vector<PresenceEvent> Take(int replica) {
    EXPECT_TRUE(stores_[replica]->SyncEvents().ok());
    return events_[replica].Take();
  }

  SimulatedClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  std::unique_ptr<PresenceStore> stores_[2];
  std::unique_ptr<Presence> presence_[2];
  Recorder events_[2];
};

TEST_F(ReplicasTest, AChangeThroughOneIsVisibleThroughTheOther) {
  Join(0, "alice", "lobby");
  HereNowRequest here;
  here.channels = {"lobby"};
  absl::StatusOr<HereNowResult> seen = presence_[1]->HereNow(here);
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(seen->total_occupancy, 1u);
  EXPECT_THAT(presence_[1]->WhereNow({"alice"})->channels,
              ElementsAre("lobby"));
}

TEST_F(ReplicasTest, ATimeoutHappensOnceWhicheverReplicasExpire) {
  for (int u = 0; u < 50; ++u) Join(u % 2, absl::StrCat("u", u), "lobby", 5);
  Take(0);
  Take(1);
  clock_.Advance(absl::Seconds(5));
  std::thread other([this] { ASSERT_TRUE(stores_[1]->ExpireSessions().ok()); });
  ASSERT_TRUE(stores_[0]->ExpireSessions().ok());
  other.join();
  // Both replicas see every timeout once, with the same sequence numbers.
  std::vector<PresenceEvent> seen[2] = {Take(0), Take(1)};
  ASSERT_EQ(seen[0].size(), seen[1].size());
  // 50 users above announce_max (20): the timeouts come as interval lists
  // at the next interval; all 50 are listed exactly once.
  clock_.Advance(absl::Seconds(10));
  ASSERT_TRUE(stores_[0]->ExpireSessions().ok());
  ASSERT_TRUE(stores_[1]->ExpireSessions().ok());
  for (int r = 0; r < 2; ++r) {
    std::vector<PresenceEvent> more = Take(r);
    seen[r].insert(seen[r].end(), more.begin(), more.end());
  }
  for (int r = 0; r < 2; ++r) {
    std::multiset<std::string> timed_out;
    for (const PresenceEvent& e : seen[r]) {
      if (e.type == EventType::kTimeout) timed_out.insert(e.user_id);
      for (const std::string& u : e.timed_out) timed_out.insert(u);
    }
    EXPECT_EQ(timed_out.size(), 50u) << r;
    EXPECT_EQ(std::set<std::string>(timed_out.begin(), timed_out.end()).size(),
              50u);
  }
  ASSERT_EQ(seen[0].size(), seen[1].size());
  for (size_t i = 0; i < seen[0].size(); ++i) {
    EXPECT_EQ(seen[0][i].sequence, seen[1][i].sequence);
    EXPECT_EQ(seen[0][i].type, seen[1][i].type);
  }
}

TEST_F(ReplicasTest, ConcurrentReplicasNeverTearTheIndexes) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t] {
      Presence& presence = *presence_[t % 2];
      for (int i = 0; i < 150; ++i) {
        const std::string user = absl::StrCat("u", (i * 7 + t) % 15);
        const std::string channel = absl::StrCat("c", (i + t) % 6);
        if (i % 4 == 3) {
          LeaveRequest leave;
          leave.user_id = user;
          leave.channels = {channel};
          ASSERT_TRUE(presence.Leave(leave).ok());
        } else {
          HeartbeatRequest beat;
          beat.user_id = user;
          beat.channels = {channel, absl::StrCat("c", (i + 3) % 6)};
          beat.session_id = absl::StrCat("s", t);
          ASSERT_TRUE(presence.Heartbeat(beat).ok());
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  absl::StatusOr<HereNowResult> all = presence_[0]->HereNow(HereNowRequest());
  ASSERT_TRUE(all.ok());
  size_t listed = 0;
  for (const auto& channel : all->channels) {
    EXPECT_EQ(channel.occupancy, channel.occupants.size());
    for (const auto& occupant : channel.occupants) {
      EXPECT_THAT(presence_[1]->WhereNow({occupant.user_id})->channels,
                  testing::Contains(channel.name));
    }
    listed += channel.occupancy;
  }
  size_t indexed = 0;
  for (int u = 0; u < 15; ++u) {
    indexed += presence_[1]->WhereNow({absl::StrCat("u", u)})->channels.size();
  }
  EXPECT_EQ(listed, indexed);
}

TEST_F(ReplicasTest, ExclusiveListenersGetEachEventOnce) {
  EventRecorder exclusive[2];
  stores_[0]->AddExclusiveListener(&exclusive[0]);
  stores_[1]->AddExclusiveListener(&exclusive[1]);
  // Wait until one holds the lease (it delivers a marker event).
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  std::set<std::string> delivered;
  int marker = 0;
  int total = 0;
  while (absl::Now() < deadline) {
    Join(marker % 2, absl::StrCat("m", marker), "lobby");
    ++marker;
    absl::SleepFor(absl::Milliseconds(20));
    for (auto& recorder : exclusive) {
      for (const PresenceEvent& e : recorder.Take()) {
        ++total;
        delivered.insert(absl::StrCat(e.channel, "#", e.sequence));
      }
    }
    if (total > 0 && marker > 20) break;
  }
  ASSERT_GT(total, 0) << "no replica ever delivered";
  // Drain what is still being delivered, then compare.
  absl::SleepFor(absl::Milliseconds(300));
  for (auto& recorder : exclusive) {
    for (const PresenceEvent& e : recorder.Take()) {
      ++total;
      delivered.insert(absl::StrCat(e.channel, "#", e.sequence));
    }
  }
  EXPECT_EQ(static_cast<size_t>(total), delivered.size())
      << "an event went twice";
  stores_[0]->RemoveExclusiveListener(&exclusive[0]);
  stores_[1]->RemoveExclusiveListener(&exclusive[1]);
}

// Waits until the recorders together hold an event of `user`; returns how
// many they hold in all.
int WaitForUserEvent(EventRecorder* recorders, int n, const std::string& user,
                     std::vector<PresenceEvent>* seen) {
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    for (int i = 0; i < n; ++i) {
      std::vector<PresenceEvent> events = recorders[i].Take();
      seen->insert(seen->end(), events.begin(), events.end());
    }
    int count = 0;
    for (const PresenceEvent& e : *seen) count += e.user_id == user;
    if (count > 0) return count;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return 0;
}

// Returns the index of the recorder that holds an event of `user`, waiting
// up to 20 s (real time) for it; -1 if none does by then. (A template:
// `recorders` is an array of some EventRecorder type.)
template <typename Recorders>
int WaitForUserEventIn(Recorders* recorders, int n, const std::string& user,
                       std::vector<PresenceEvent>* seen) {
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    for (int i = 0; i < n; ++i) {
      for (const PresenceEvent& e : recorders[i].Take()) {
        seen[i].push_back(e);
      }
      for (const PresenceEvent& e : seen[i]) {
        if (e.user_id == user) return i;
      }
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return -1;
}

// The keys of the store in Redis now.
std::vector<std::string> Keys() {
  RedisEndpoint endpoint;
  endpoint.port = redis->port();
  auto connection = RedisConnection::Connect(endpoint, absl::Seconds(5));
  EXPECT_TRUE(connection.ok());
  if (!connection.ok()) return {};
  absl::StatusOr<RedisReply> keys = (*connection)->Command({"KEYS", "*"});
  EXPECT_TRUE(keys.ok());
  std::vector<std::string> out;
  if (keys.ok()) {
    for (const RedisReply& key : keys->elements) out.push_back(key.str);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Many deadlines in the same seconds (more than a wheel slot holds), some
// extended, some left early: each membership times out once, never early,
// within a sweep of its deadline, with that deadline on its event, in
// deadline order per channel; and nothing of them stays behind in Redis.
TEST(RedisStoreTest, ManyDeadlinesTimeOutOnceInOrderAndLeaveNothingBehind) {
  ASSERT_TRUE(redis->FlushAll().ok());
  const absl::Time start = absl::FromUnixMillis(1'800'000'000'000);
  SimulatedClock clock(start);
  StoreConfig config;
  config.limits.min_timeout_seconds = 1;
  config.events.announce_max = 100'000;  // Per-user events only.
  auto store = NewRedisStore(Options(config), &clock);
  ASSERT_TRUE(store.ok()) << store.status();
  Presence presence(store->get(), config.limits);
  EventRecorder events;
  (*store)->AddListener(&events);

  constexpr int kUsers = 1000;
  std::map<std::string, absl::Time> deadline;  // "<channel>/<user>"
  auto beat = [&](int u, uint32_t timeout) {
    HeartbeatRequest request;
    request.user_id = absl::StrCat("u", 1000 + u);
    request.channels = {u % 2 == 0 ? "even" : "odd", "all"};
    request.timeout_seconds = timeout;
    ASSERT_TRUE(presence.Heartbeat(request).ok());
    for (const std::string& channel : request.channels) {
      deadline[channel + "/" + request.user_id] =
          clock.Now() + absl::Seconds(timeout);
    }
  };
  for (int u = 0; u < kUsers; ++u) {
    clock.Advance(absl::Milliseconds(1));
    beat(u, 10);
  }
  // Some are extended (their wheel entries move only when found due), some
  // extended with a shorter timeout (their entries move at once), some
  // leave.
  for (int u = 0; u < kUsers; ++u) {
    clock.Advance(absl::Milliseconds(2));
    if (u % 5 == 0) beat(u, 15);
  }
  for (int u = 0; u < kUsers; u += 7) {
    if (u % 5 == 0) continue;
    if (u % 3 == 0) {
      beat(u, 4);
      continue;
    }
    LeaveRequest leave;
    leave.user_id = absl::StrCat("u", 1000 + u);
    leave.channels = {u % 2 == 0 ? "even" : "odd", "all"};
    ASSERT_TRUE(presence.Leave(leave).ok());
    for (const std::string& channel : leave.channels) {
      deadline.erase(channel + "/" + leave.user_id);
    }
  }
  // The wheel needed more than one slot for some second.
  bool overflowed = false;
  for (const std::string& key : Keys()) {
    overflowed |= absl::StrContains(key, ":w:") && !absl::EndsWith(key, ":0");
  }
  EXPECT_TRUE(overflowed);
  absl::StatusOr<StoreStats> stats = (*store)->Stats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->channels, 3u);
  EXPECT_EQ(stats->memberships, deadline.size());
  EXPECT_EQ(stats->sessions, deadline.size());
  ASSERT_TRUE((*store)->SyncEvents().ok());
  events.Take();

  constexpr absl::Duration kStep = absl::Milliseconds(50);
  std::vector<PresenceEvent> timeouts;
  while (clock.Now() < start + absl::Seconds(25)) {
    clock.Advance(kStep);
    ASSERT_TRUE((*store)->ExpireSessions().ok());
    ASSERT_TRUE((*store)->SyncEvents().ok());
    for (PresenceEvent& e : events.Take()) {
      if (e.type == EventType::kTimeout) timeouts.push_back(std::move(e));
    }
  }
  std::map<std::string, int> seen;
  std::map<std::string, std::pair<absl::Time, std::string>> last;
  for (const PresenceEvent& e : timeouts) {
    const std::string key = e.channel + "/" + e.user_id;
    ++seen[key];
    ASSERT_TRUE(deadline.count(key)) << key << " timed out after leaving";
    const absl::Time expected = absl::FromUnixMillis(absl::ToInt64Milliseconds(
        absl::Ceil(deadline[key] - absl::UnixEpoch(), absl::Milliseconds(1))));
    EXPECT_EQ(e.deadline, expected) << key;
    EXPECT_GE(e.time, e.deadline) << key << " timed out early";
    EXPECT_LT(e.time - e.deadline, kStep + absl::Milliseconds(1)) << key;
    auto& [previous_deadline, previous_user] = last[e.channel];
    EXPECT_LE(std::make_pair(previous_deadline, previous_user),
              std::make_pair(e.deadline, e.user_id))
        << key << " out of order";
    last[e.channel] = {e.deadline, e.user_id};
  }
  EXPECT_EQ(seen.size(), deadline.size());
  for (const auto& [key, n] : seen) EXPECT_EQ(n, 1) << key;

  stats = (*store)->Stats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->channels, 0u);
  EXPECT_EQ(stats->memberships, 0u);
  EXPECT_EQ(stats->sessions, 0u);
  (*store)->RemoveListener(&events);
  for (const std::string& key : Keys()) {
    for (absl::string_view part : {":m:", ":d:", ":st:", ":u:", ":w:", ":iv"}) {
      EXPECT_FALSE(absl::StrContains(key, part)) << key;
    }
  }
}

TEST(RedisStoreTest, StatsCountChannelsMembershipsAndSessions) {
  ASSERT_TRUE(redis->FlushAll().ok());
  SimulatedClock clock(absl::FromUnixSeconds(1'800'000'000));
  StoreConfig config;
  config.limits.min_timeout_seconds = 1;
  auto store = NewRedisStore(Options(config), &clock);
  ASSERT_TRUE(store.ok()) << store.status();
  Presence presence(store->get(), config.limits);
  auto beat = [&](const std::string& user, const std::string& session,
                  std::vector<std::string> channels, uint32_t timeout) {
    HeartbeatRequest request;
    request.user_id = user;
    request.session_id = session;
    request.channels = std::move(channels);
    request.timeout_seconds = timeout;
    ASSERT_TRUE(presence.Heartbeat(request).ok());
  };
  auto stats = [&]() {
    absl::StatusOr<StoreStats> got = (*store)->Stats();
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? std::vector<uint64_t>{got->channels, got->memberships,
                                            got->sessions}
                    : std::vector<uint64_t>{};
  };
  EXPECT_THAT(stats(), ElementsAre(0, 0, 0));
  beat("alice", "", {"a", "b"}, 60);
  beat("alice", "phone", {"a"}, 60);
  beat("bob", "", {"a"}, 5);
  EXPECT_THAT(stats(), ElementsAre(2, 3, 4));
  LeaveRequest leave;
  leave.user_id = "alice";
  leave.session_id = "phone";
  leave.channels = {"a"};
  ASSERT_TRUE(presence.Leave(leave).ok());
  EXPECT_THAT(stats(), ElementsAre(2, 3, 3));
  clock.Advance(absl::Seconds(5));
  ASSERT_TRUE((*store)->ExpireSessions().ok());
  EXPECT_THAT(stats(), ElementsAre(2, 2, 2));
}

TEST(RedisLeaseTest, AHandoverWaitsForTheLeaseToExpireOnTheInjectedClock) {
  ASSERT_TRUE(redis->FlushAll().ok());
  SimulatedClock clock(absl::FromUnixSeconds(1'800'000'000));
  StoreConfig config;
  RedisStoreOptions options = Options(config);
  // Hours of the injected clock: real time alone would never end them.
  options.lease = absl::Hours(1);
  options.lease_retry = absl::Minutes(1);
  std::unique_ptr<PresenceStore> stores[2];
  std::unique_ptr<Presence> presence[2];
  EventRecorder exclusive[2];
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<std::unique_ptr<PresenceStore>> store =
        NewRedisStore(options, &clock);
    ASSERT_TRUE(store.ok()) << store.status();
    stores[i] = *std::move(store);
    presence[i] = std::make_unique<Presence>(stores[i].get(), config.limits);
    stores[i]->AddExclusiveListener(&exclusive[i]);
  }
  auto join = [&](int replica, const std::string& user) {
    HeartbeatRequest beat;
    beat.user_id = user;
    beat.channels = {"lobby"};
    ASSERT_TRUE(presence[replica]->Heartbeat(beat).ok());
  };
  std::vector<PresenceEvent> seen[2];
  join(0, "first");
  const int holder = WaitForUserEventIn(exclusive, 2, "first", seen);
  ASSERT_GE(holder, 0) << "no replica ever delivered";
  const int other = 1 - holder;

  // The holder goes away without giving the lease up; the other replica
  // takes it once the lease has expired by the injected clock.
  stores[holder]->RemoveExclusiveListener(&exclusive[holder]);
  presence[holder].reset();
  stores[holder].reset();
  join(other, "second");
  absl::SleepFor(absl::Milliseconds(200));
  for (const PresenceEvent& e : exclusive[other].Take()) {
    EXPECT_NE(e.user_id, "second") << "delivered before the lease expired";
    seen[other].push_back(e);
  }
  clock.Advance(options.lease + options.lease_retry);
  EXPECT_EQ(WaitForUserEventIn(&exclusive[other], 1, "second", &seen[other]),
            0);
  stores[other]->RemoveExclusiveListener(&exclusive[other]);
}

TEST(RedisLeaseTest, AStoreWaitingOnItsClockStopsAtOnce) {
  absl::StatusOr<std::unique_ptr<RedisServer>> server = RedisServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  StoreConfig config;
  RedisStoreOptions options = Options(config);
  options.url = (*server)->url();
  options.pool.initial_backoff = absl::Hours(1);
  options.pool.max_backoff = absl::Hours(1);
  SimulatedClock clock;  // Never moves: every wait on it would be endless.
  absl::StatusOr<std::unique_ptr<PresenceStore>> store =
      NewRedisStore(options, &clock);
  ASSERT_TRUE(store.ok()) << store.status();
  Recorder events;
  (*store)->AddListener(&events);
  (*server)->Kill();
  // The event reader loses Redis and waits an hour of `clock` to retry.
  ASSERT_TRUE(events.WaitForInterruption(absl::Seconds(10)));
  (*store)->RemoveListener(&events);
  store->reset();  // Returns without waiting for the hour (or hangs here).
}

TEST(RedisOutageTest, WebhookDeliveryResumesAfterRedisLosesItsData) {
  absl::StatusOr<std::unique_ptr<RedisServer>> server = RedisServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  StoreConfig config;
  RedisStoreOptions options = Options(config);
  options.url = (*server)->url();
  std::unique_ptr<PresenceStore> stores[2];
  std::unique_ptr<Presence> presence[2];
  EventRecorder exclusive[2];
  for (int i = 0; i < 2; ++i) {
    stores[i] = *NewRedisStore(options, Clock::Real());
    presence[i] = std::make_unique<Presence>(stores[i].get(), config.limits);
    stores[i]->AddExclusiveListener(&exclusive[i]);
  }
  auto join = [&](int replica, const std::string& user) {
    HeartbeatRequest beat;
    beat.user_id = user;
    beat.channels = {"lobby"};
    return presence[replica]->Heartbeat(beat);
  };
  std::vector<PresenceEvent> seen;
  ASSERT_TRUE(join(0, "before").ok());
  ASSERT_EQ(WaitForUserEvent(exclusive, 2, "before", &seen), 1);

  // Redis restarts empty: the lease and the delivery cursor are gone.
  (*server)->Kill();
  ASSERT_TRUE((*server)->Restart().ok());
  absl::Status status = absl::UnavailableError("not yet");
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (!status.ok() && absl::Now() < deadline) {
    status = join(1, "after").status();
    if (!status.ok()) absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_TRUE(status.ok()) << status;
  // The first event written after the restart is still delivered, once.
  seen.clear();
  EXPECT_EQ(WaitForUserEvent(exclusive, 2, "after", &seen), 1);
  for (int i = 0; i < 2; ++i) stores[i]->RemoveExclusiveListener(&exclusive[i]);
}

TEST(RedisOutageTest, CallsFailFastWhileRedisIsDownAndRecover) {
  absl::StatusOr<std::unique_ptr<RedisServer>> server = RedisServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  StoreConfig config;
  RedisStoreOptions options = Options(config);
  options.url = (*server)->url();
  SimulatedClock clock;
  auto store = NewRedisStore(options, &clock);
  ASSERT_TRUE(store.ok());
  Presence presence((*store).get(), config.limits);
  Recorder events;
  (*store)->AddListener(&events);
  HeartbeatRequest beat;
  beat.user_id = "alice";
  beat.channels = {"lobby"};
  ASSERT_TRUE(presence.Heartbeat(beat).ok());
  EXPECT_TRUE((*store)->Healthy());

  (*server)->Kill();
  absl::StatusOr<HeartbeatResult> failed = presence.Heartbeat(beat);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable)
      << failed.status();
  // Fails fast from now on: no call waits for a connection timeout.
  EXPECT_EQ(presence.WhereNow({"alice"}).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_FALSE((*store)->Healthy());
  EXPECT_TRUE(events.WaitForInterruption(absl::Seconds(10)));

  ASSERT_TRUE((*server)->Restart().ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (!(*store)->Healthy() && absl::Now() < deadline) {
    (void)presence.WhereNow({"alice"});  // Calls find Redis back too.
    absl::SleepFor(absl::Milliseconds(20));
    // The event reader's reconnection backoff runs on the store's clock.
    clock.Advance(absl::Milliseconds(20));
  }
  EXPECT_TRUE((*store)->Healthy());
  EXPECT_TRUE(presence.Heartbeat(beat).ok());
  EXPECT_THAT(presence.WhereNow({"alice"})->channels, ElementsAre("lobby"));
  (*store)->RemoveListener(&events);
}

// A command on a connection of its own to the test's Redis.
absl::StatusOr<RedisReply> RawCommand(const std::vector<std::string>& args) {
  RedisEndpoint endpoint;
  endpoint.port = redis->port();
  absl::StatusOr<std::unique_ptr<RedisConnection>> connection =
      RedisConnection::Connect(endpoint, absl::Seconds(5));
  if (!connection.ok()) return connection.status();
  return (*connection)->Command(args);
}

// An exclusive listener that finishes events only when told, like a
// webhook receiver holding a batch: it is done through what the test
// acknowledged.
class HoldingRecorder : public EventRecorder {
 public:
  uint64_t DoneThrough() const override { return done_.load(); }
  void AckThrough(uint64_t position) { done_.store(position); }

 private:
  std::atomic<uint64_t> done_{0};
};

// The delivery_position of `user`'s join among `events`; 0 if none.
uint64_t PositionOf(const std::vector<PresenceEvent>& events,
                    const std::string& user) {
  for (const PresenceEvent& e : events) {
    if (e.type == EventType::kJoin && e.user_id == user) {
      return e.delivery_position;
    }
  }
  return 0;
}

TEST(RedisLeaseTest, AHolderThatDiesMidFlightLeavesItsEventsToTheNext) {
  ASSERT_TRUE(redis->FlushAll().ok());
  SimulatedClock clock(absl::FromUnixSeconds(1'800'000'000));
  StoreConfig config;
  RedisStoreOptions options = Options(config);
  // Hours of the injected clock: only the test hands the lease over.
  options.lease = absl::Hours(1);
  options.lease_retry = absl::Minutes(1);
  // Declared before the stores, which call them until destroyed.
  HoldingRecorder exclusive[2];
  std::unique_ptr<PresenceStore> stores[2];
  std::unique_ptr<Presence> presence[2];
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<std::unique_ptr<PresenceStore>> store =
        NewRedisStore(options, &clock);
    ASSERT_TRUE(store.ok()) << store.status();
    stores[i] = *std::move(store);
    presence[i] = std::make_unique<Presence>(stores[i].get(), config.limits);
    stores[i]->AddExclusiveListener(&exclusive[i]);
  }
  auto join = [&](int replica, const std::string& user) {
    HeartbeatRequest beat;
    beat.user_id = user;
    beat.channels = {"lobby"};
    ASSERT_TRUE(presence[replica]->Heartbeat(beat).ok());
  };
  std::vector<PresenceEvent> seen[2];
  join(0, "acked");
  const int holder = WaitForUserEventIn(exclusive, 2, "acked", seen);
  ASSERT_GE(holder, 0) << "no replica ever delivered";
  const int other = 1 - holder;
  const uint64_t acked = PositionOf(seen[holder], "acked");
  ASSERT_GT(acked, 0u);

  // The holder's receiver acknowledges "acked": the shared cursor records
  // it (and nothing before the acknowledgement did).
  absl::StatusOr<RedisReply> cursor =
      RawCommand({"HGETALL", "presence:{g}:cursor"});
  ASSERT_TRUE(cursor.ok()) << cursor.status();
  EXPECT_TRUE(cursor->elements.empty()) << "recorded before acknowledged";
  exclusive[holder].AckThrough(acked);
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (cursor.ok() && cursor->elements.empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
    cursor = RawCommand({"HGETALL", "presence:{g}:cursor"});
  }
  ASSERT_TRUE(cursor.ok() && !cursor->elements.empty())
      << "the acknowledgement never reached the cursor";

  // "held" reaches the holder, whose receiver holds it; then the holder
  // dies without giving the lease up.
  join(other, "held");
  ASSERT_EQ(WaitForUserEventIn(&exclusive[holder], 1, "held", &seen[holder]),
            0);
  presence[holder].reset();
  stores[holder].reset();

  // The other replica takes over at the cursor: "held" comes again (at
  // least once), "acked" does not, and new events follow. (The hour the
  // clock moved times both users out: their timeouts come too.)
  clock.Advance(options.lease + options.lease_retry);
  ASSERT_EQ(WaitForUserEventIn(&exclusive[other], 1, "held", &seen[other]), 0);
  join(other, "later");
  ASSERT_EQ(WaitForUserEventIn(&exclusive[other], 1, "later", &seen[other]), 0);
  EXPECT_EQ(PositionOf(seen[other], "acked"), 0u) << "acknowledged, resent";
  stores[other]->RemoveExclusiveListener(&exclusive[other]);
}

// A replica whose reader falls behind a stream by more than its capped
// length: the trimming happens between two of its reads (in one MULTI, as
// if the reader had been paused while others wrote), so the entry after
// its position is gone when it reads again.
TEST(RedisGapTest, AReaderThatFallsBehindTheTrimLosesEventsSaysSoAndResumes) {
  ASSERT_TRUE(redis->FlushAll().ok());
  StoreConfig config;
  RedisStoreOptions options = Options(config);
  options.stream_max_len = 10;
  Recorder events;
  absl::StatusOr<std::unique_ptr<PresenceStore>> store =
      NewRedisStore(options, Clock::Real());
  ASSERT_TRUE(store.ok()) << store.status();
  Presence presence(store->get(), config.limits);
  (*store)->AddListener(&events);
  HeartbeatRequest beat;
  beat.user_id = "before";
  beat.channels = {"lobby"};
  ASSERT_TRUE(presence.Heartbeat(beat).ok());
  ASSERT_TRUE((*store)->SyncEvents().ok());
  ASSERT_FALSE(events.Take().empty());

  const std::string stream = "presence:{s0}:events";
  auto entry = [&](const std::string& user) {
    return std::vector<std::string>{"XADD", stream,    "*", "t",  "join",
                                    "c",    "trimmed", "u", user, "o",
                                    "1",    "ms",      "1", "q",  "1:1"};
  };
  RedisEndpoint endpoint;
  endpoint.port = redis->port();
  absl::StatusOr<std::unique_ptr<RedisConnection>> connection =
      RedisConnection::Connect(endpoint, absl::Seconds(5));
  ASSERT_TRUE(connection.ok()) << connection.status();
  ASSERT_TRUE((*connection)->Command({"MULTI"}).ok());
  ASSERT_TRUE((*connection)->Command(entry("lost")).ok());
  ASSERT_TRUE((*connection)->Command(entry("skipped")).ok());
  ASSERT_TRUE((*connection)->Command({"XTRIM", stream, "MAXLEN", "1"}).ok());
  absl::StatusOr<RedisReply> exec = (*connection)->Command({"EXEC"});
  ASSERT_TRUE(exec.ok() && !exec->is_error());

  ASSERT_TRUE(events.WaitForInterruption(absl::Seconds(20)));
  const std::vector<absl::Status> interruptions = events.TakeInterruptions();
  ASSERT_EQ(interruptions.size(), 1u);
  EXPECT_TRUE(absl::IsDataLoss(interruptions[0])) << interruptions[0];
  EXPECT_TRUE(absl::StrContains(interruptions[0].message(),
                                "fell behind the event stream of shard 0"))
      << interruptions[0];
  EXPECT_TRUE(absl::StrContains(interruptions[0].message(),
                                "--redis_stream_max_len=10"))
      << interruptions[0];

  // It resumed from the streams' current ends: new events flow, and what
  // was left of the stream after the gap was not delivered either.
  beat.user_id = "after";
  ASSERT_TRUE(presence.Heartbeat(beat).ok());
  ASSERT_TRUE((*store)->SyncEvents().ok());
  std::vector<std::string> users;
  for (const PresenceEvent& e : events.Take()) users.push_back(e.user_id);
  EXPECT_THAT(users, ElementsAre("after"));
  EXPECT_TRUE(events.TakeInterruptions().empty());
  (*store)->RemoveListener(&events);
}

}  // namespace
}  // namespace presence
