#include "presence/store/memory/memory_store.h"

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "presence/clock.h"
#include "presence/presence.h"
#include "presence/store/memory/name_table.h"
#include "presence/testing/event_recorder.h"
#include "presence/testing/store_conformance.h"

namespace presence {
namespace {

INSTANTIATE_TEST_SUITE_P(Memory, StoreConformanceTest,
                         testing::Values(StoreFactory{
                             "memory",
                             [](Clock* clock, const StoreConfig& config) {
                               MemoryStoreOptions options;
                               options.limits = config.limits;
                               options.events = config.events;
                               return NewMemoryStore(options, clock);
                             }}),
                         [](const testing::TestParamInfo<StoreFactory>& info) {
                           return info.param.name;
                         });

class MemoryStoreTest : public testing::Test {
 protected:
  MemoryStoreTest() {
    limits_.min_timeout_seconds = 1;
    MemoryStoreOptions options;
    options.limits = limits_;
    options.wheel_slot_bits = 8;  // A 2.56 s wheel: long timeouts rotate.
    options.events.announce_max = 1000;  // Every event individually.
    store_ = NewMemoryStore(options, &clock_);
    presence_ = std::make_unique<Presence>(store_.get(), limits_);
    store_->AddListener(&events_);
  }
  ~MemoryStoreTest() override { store_->RemoveListener(&events_); }

  void Join(const std::string& user, const std::string& channel,
            uint32_t timeout) {
    HeartbeatRequest request;
    request.user_id = user;
    request.channels = {channel};
    request.timeout_seconds = timeout;
    ASSERT_TRUE(presence_->Heartbeat(request).ok());
  }

  SimulatedClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  Limits limits_;
  std::unique_ptr<PresenceStore> store_;
  std::unique_ptr<Presence> presence_;
  EventRecorder events_;
};

TEST_F(MemoryStoreTest, TimeoutsLongerThanTheWheelFireOnTime) {
  Join("alice", "lobby", 3600);
  events_.Take();
  for (int s = 0; s < 3599; s += 7) {
    clock_.Advance(absl::Seconds(7));
    ASSERT_TRUE(store_->ExpireSessions().ok());
    if (clock_.Now() < absl::FromUnixSeconds(1'800'000'000 + 3600)) {
      ASSERT_TRUE(events_.Take().empty()) << s;
    }
  }
  clock_.Set(absl::FromUnixSeconds(1'800'000'000 + 3600));
  ASSERT_TRUE(store_->ExpireSessions().ok());
  std::vector<PresenceEvent> events = events_.Take();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, EventType::kTimeout);
  EXPECT_EQ(events[1].type, EventType::kInactive);
}

TEST_F(MemoryStoreTest, AStalledExpiryCatchesUpInOnePass) {
  for (int i = 0; i < 100; ++i) Join(absl::StrCat("u", i), "lobby", 1 + i % 5);
  events_.Take();
  clock_.Advance(absl::Hours(2));  // Many rotations of the small wheel.
  ASSERT_TRUE(store_->ExpireSessions().ok());
  int timeouts = 0;
  for (const PresenceEvent& e : events_.Take()) {
    timeouts += e.type == EventType::kTimeout;
  }
  EXPECT_EQ(timeouts, 100);
}

TEST_F(MemoryStoreTest, TimeoutsFireWithinOneTickOfTheDeadline) {
  Join("alice", "lobby", 1);
  clock_.Advance(absl::Seconds(1) + absl::Milliseconds(9));
  ASSERT_TRUE(store_->ExpireSessions().ok());
  // Fired at the first tick at or after the deadline.
  std::vector<PresenceEvent> events = events_.Take();
  ASSERT_EQ(events.size(), 4u);  // Active, join, timeout, inactive.
  EXPECT_EQ(events[2].type, EventType::kTimeout);
}

TEST_F(MemoryStoreTest, ManyUsersAndChannelsStayConsistent) {
  // Exercise slot reuse: join, leave and time out many memberships, then
  // check both indexes agree.
  for (int round = 0; round < 3; ++round) {
    for (int u = 0; u < 50; ++u) {
      for (int c = 0; c < 8; ++c) {
        Join(absl::StrCat("user", u), absl::StrCat("chan", (u + c) % 20),
             1 + c);
      }
    }
    LeaveRequest leave;
    leave.user_id = "user7";
    leave.channels = {"chan7", "chan8"};
    ASSERT_TRUE(presence_->Leave(leave).ok());
    absl::StatusOr<HereNowResult> all = presence_->HereNow(HereNowRequest());
    ASSERT_TRUE(all.ok());
    uint32_t memberships = 0;
    for (const auto& channel : all->channels) {
      for (const auto& occupant : channel.occupants) {
        absl::StatusOr<WhereNowResult> where =
            presence_->WhereNow({occupant.user_id});
        ASSERT_TRUE(where.ok());
        EXPECT_THAT(where->channels, testing::Contains(channel.name));
      }
      memberships += channel.occupancy;
    }
    EXPECT_EQ(memberships, 50u * 8 - 2);
    clock_.Advance(absl::Seconds(8));
    ASSERT_TRUE(store_->ExpireSessions().ok());
    EXPECT_EQ(presence_->HereNow(HereNowRequest())->total_channels, 0u);
  }
}

TEST_F(MemoryStoreTest, StatsCountChannelsMembershipsAndSessions) {
  EXPECT_EQ(store_->Stats()->channels, 0u);
  Join("alice", "lobby", 10);
  Join("bob", "lobby", 20);
  Join("bob", "hall", 20);
  HeartbeatRequest tab;
  tab.user_id = "bob";
  tab.channels = {"hall"};
  tab.session_id = "tab-2";
  tab.timeout_seconds = 20;
  ASSERT_TRUE(presence_->Heartbeat(tab).ok());
  absl::StatusOr<StoreStats> stats = store_->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->channels, 2u);
  EXPECT_EQ(stats->memberships, 3u);
  EXPECT_EQ(stats->sessions, 4u);  // bob has two in hall.
  clock_.Advance(absl::Seconds(10));
  ASSERT_TRUE(store_->ExpireSessions().ok());
  stats = store_->Stats();
  EXPECT_EQ(stats->channels, 2u);
  EXPECT_EQ(stats->memberships, 2u);
  EXPECT_EQ(stats->sessions, 3u);
  LeaveRequest leave;
  leave.user_id = "bob";
  leave.channels = {"hall", "lobby"};
  ASSERT_TRUE(presence_->Leave(leave).ok());
  stats = store_->Stats();
  EXPECT_EQ(stats->channels, 1u);  // hall: tab-2 lives on.
  EXPECT_EQ(stats->memberships, 1u);
  EXPECT_EQ(stats->sessions, 1u);
}

TEST_F(MemoryStoreTest, TimeoutEventsCarryTheirDeadline) {
  const absl::Time start = clock_.Now();
  Join("alice", "lobby", 5);
  events_.Take();
  clock_.Advance(absl::Seconds(7));
  ASSERT_TRUE(store_->ExpireSessions().ok());
  std::vector<PresenceEvent> events = events_.Take();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0].type, EventType::kTimeout);
  // The deadline, to the store's 10 ms tick (rounded up, never early).
  EXPECT_GE(events[0].deadline, start + absl::Seconds(5));
  EXPECT_LT(events[0].deadline,
            start + absl::Seconds(5) + absl::Milliseconds(10));
  EXPECT_EQ(events[0].time, start + absl::Seconds(7));
  // Other events have none.
  Join("bob", "lobby", 5);
  for (const PresenceEvent& e : events_.Take())
    EXPECT_EQ(e.deadline, absl::InfinitePast()) << EventTypeName(e.type);
}

// More members due at once in one channel than ExpireSessions() times out
// per hold of a lock: they still come in deadline, then user-id, order.
TEST_F(MemoryStoreTest, AMassExpiryInOneChannelComesInOrder) {
  std::vector<std::pair<int, std::string>> expected;
  for (int i = 0; i < 900; ++i) {
    const std::string user = absl::StrCat("u", (i * 7919) % 900);
    const int timeout = 1 + i % 3;
    Join(user, "big", timeout);
    expected.emplace_back(timeout, user);
  }
  Join("stays", "big", 100);
  events_.Take();
  std::sort(expected.begin(), expected.end());
  clock_.Advance(absl::Seconds(3));
  ASSERT_TRUE(store_->ExpireSessions().ok());
  std::vector<PresenceEvent> events = events_.Take();
  ASSERT_EQ(events.size(), expected.size());
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].type, EventType::kTimeout);
    EXPECT_EQ(events[i].user_id, expected[i].second) << i;
    EXPECT_EQ(events[i].occupancy, 900 - i);
  }
  EXPECT_EQ(presence_->HereNow({})->total_occupancy, 1u);
}

TEST_F(MemoryStoreTest, WhereNowIsExactBetweenSweeps) {
  Join("alice", "short", 5);
  Join("alice", "long", 50);
  Join("bob", "long", 5);            // Due with alice still present in `long`.
  clock_.Advance(absl::Seconds(6));  // No ExpireSessions().
  absl::StatusOr<WhereNowResult> alice = presence_->WhereNow({"alice"});
  ASSERT_TRUE(alice.ok());
  EXPECT_THAT(alice->channels, testing::ElementsAre("long"));
  EXPECT_THAT(presence_->WhereNow({"bob"})->channels, testing::IsEmpty());
}

TEST_F(MemoryStoreTest, PagesOfABigChannelFollowUserIdOrder) {
  std::vector<std::string> users;
  for (int i = 0; i < 5000; ++i) {
    users.push_back(absl::StrCat("user-", (i * 7919) % 5000));
    Join(users.back(), "big", 60);
  }
  std::sort(users.begin(), users.end());
  std::mt19937 rng(1);
  for (int round = 0; round < 50; ++round) {
    HereNowRequest request;
    request.channels = {"big"};
    request.offset = rng() % 5200;
    request.limit = 1 + rng() % 300;
    absl::StatusOr<HereNowResult> page = presence_->HereNow(request);
    ASSERT_TRUE(page.ok());
    ASSERT_EQ(page->channels[0].occupancy, 5000u);
    std::vector<std::string> got;
    for (const Occupant& o : page->channels[0].occupants)
      got.push_back(o.user_id);
    std::vector<std::string> want(
        users.begin() + std::min<size_t>(request.offset, users.size()),
        users.begin() +
            std::min<size_t>(request.offset + request.limit, users.size()));
    ASSERT_EQ(got, want) << request.offset << " " << request.limit;
  }
}

// Batch() prefetches a chunk's channels before applying its entries, and
// remembers the record each was found in. Here an earlier entry frees that
// record and the next one takes it for another channel of the same shard:
// the last entry must still reach its own channel.
TEST_F(MemoryStoreTest, ABatchEntryFollowsItsChannelWhenTheRecordIsReused) {
  const std::string x = "x";
  std::string y;
  for (int i = 0; y.empty(); ++i) {
    const std::string name = absl::StrCat("y", i);
    if (NameTable::ShardOf(name) == NameTable::ShardOf(x)) y = name;
  }
  Join("a", x, 60);
  BatchRequest batch;
  batch.entries.resize(3);
  batch.entries[0].kind = BatchEntry::Kind::kLeave;
  batch.entries[0].leave.user_id = "a";
  batch.entries[0].leave.channels = {x};  // x's record is freed...
  batch.entries[1].heartbeat.user_id = "b";
  batch.entries[1].heartbeat.channels = {y};  // ...and taken by y...
  batch.entries[2].heartbeat.user_id = "c";
  batch.entries[2].heartbeat.channels = {x};  // ...before x is joined.
  absl::StatusOr<BatchResult> result = presence_->Batch(batch);
  ASSERT_TRUE(result.ok()) << result.status();
  for (const BatchEntryResult& entry : result->results)
    ASSERT_TRUE(entry.status.ok()) << entry.status;
  HereNowRequest both;
  both.channels = {x, y};
  absl::StatusOr<HereNowResult> here = presence_->HereNow(both);
  ASSERT_TRUE(here.ok());
  ASSERT_EQ(here->channels.size(), 2u);
  EXPECT_EQ(here->channels[0].name, x);
  EXPECT_THAT(here->channels[0].occupants,
              testing::ElementsAre(testing::Field(&Occupant::user_id, "c")));
  EXPECT_EQ(here->channels[1].name, y);
  EXPECT_THAT(here->channels[1].occupants,
              testing::ElementsAre(testing::Field(&Occupant::user_id, "b")));
}

// Batch() applies each entry as Heartbeat() or Leave() would: two stores,
// one fed batches and one the same entries one call at a time, give the
// same answers and the same events.
TEST(MemoryStoreBatchTest, BatchesMatchSingleCalls) {
  Limits limits;
  limits.min_timeout_seconds = 1;
  limits.max_channels_per_group = 4;
  MemoryStoreOptions options;
  options.limits = limits;
  options.events.announce_max = 3;
  options.events.interval = absl::Seconds(2);
  SimulatedClock batch_clock{absl::FromUnixSeconds(1'800'000'000)};
  SimulatedClock single_clock{absl::FromUnixSeconds(1'800'000'000)};
  auto batch_store = NewMemoryStore(options, &batch_clock);
  auto single_store = NewMemoryStore(options, &single_clock);
  Presence batched(batch_store.get(), limits);
  Presence single(single_store.get(), limits);
  EventRecorder batch_events, single_events;
  batch_store->AddListener(&batch_events);
  single_store->AddListener(&single_events);
  for (Presence* p : {&batched, &single}) {
    ASSERT_TRUE(p->AddChannelsToGroup("g1", {"c1", "c2", "c3"}).ok());
    ASSERT_TRUE(p->AddChannelsToGroup("g2", {"c3", "c4"}).ok());
  }
  auto render = [](const std::vector<PresenceEvent>& events) {
    std::map<std::string, std::vector<std::string>> by_channel;
    for (const PresenceEvent& e : events) {
      by_channel[e.channel].push_back(absl::StrCat(
          EventTypeName(e.type), " ", e.user_id, " ", e.occupancy, " ",
          e.sequence, " ", e.state, " ", absl::StrJoin(e.joined, ","), "/",
          absl::StrJoin(e.left, ","), "/", absl::StrJoin(e.timed_out, ",")));
    }
    std::string out;
    for (const auto& [channel, lines] : by_channel)
      absl::StrAppend(&out, channel, ":\n", absl::StrJoin(lines, "\n"), "\n");
    return out;
  };
  std::mt19937 rng(5);
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  for (int round = 0; round < 300; ++round) {
    BatchRequest request;
    for (int n = 1 + pick(40); n > 0; --n) {
      BatchEntry entry;
      const std::string user = absl::StrCat("u", pick(12));
      const std::string session =
          pick(3) == 0 ? absl::StrCat("s", pick(3)) : "";
      std::vector<std::string> channels;
      for (int c = pick(4); c > 0; --c)
        channels.push_back(absl::StrCat("c", pick(8)));
      std::vector<std::string> groups;
      if (pick(5) == 0) groups.push_back(pick(4) == 0 ? "missing" : "g1");
      if (channels.empty() && groups.empty()) channels.push_back("c0");
      if (pick(4) == 0) {
        entry.kind = BatchEntry::Kind::kLeave;
        entry.leave.user_id = user;
        entry.leave.session_id = session;
        entry.leave.channels = channels;
        entry.leave.channel_groups = groups;
      } else {
        entry.heartbeat.user_id = user;
        entry.heartbeat.session_id = session;
        entry.heartbeat.channels = channels;
        entry.heartbeat.channel_groups = groups;
        entry.heartbeat.timeout_seconds = 1 + pick(5);
        if (pick(3) == 0 && !channels.empty()) {
          entry.heartbeat.states.emplace_back(
              channels[0], absl::StrCat(R"({"n":)", pick(3), "}"));
        }
      }
      request.entries.push_back(std::move(entry));
    }
    std::vector<std::string> singles;
    for (const BatchEntry& entry : request.entries) {
      if (entry.kind == BatchEntry::Kind::kHeartbeat) {
        absl::StatusOr<HeartbeatResult> r = single.Heartbeat(entry.heartbeat);
        singles.push_back(r.ok() ? "ok" : std::string(r.status().message()));
      } else {
        absl::StatusOr<LeaveResult> r = single.Leave(entry.leave);
        singles.push_back(r.ok() ? absl::StrJoin(r->channels, ",")
                                 : std::string(r.status().message()));
      }
    }
    absl::StatusOr<BatchResult> result = batched.Batch(request);
    ASSERT_TRUE(result.ok());
    ASSERT_EQ(result->results.size(), request.entries.size());
    for (size_t i = 0; i < request.entries.size(); ++i) {
      const BatchEntryResult& r = result->results[i];
      const std::string got =
          !r.status.ok() ? std::string(r.status.message())
          : request.entries[i].kind == BatchEntry::Kind::kHeartbeat
              ? "ok"
              : absl::StrJoin(r.leave.channels, ",");
      // Batch errors name the entry ("entries[3]: ...").
      EXPECT_TRUE(absl::EndsWith(got, singles[i]))
          << "round " << round << " entry " << i << ": " << got << " vs "
          << singles[i];
    }
    ASSERT_EQ(render(batch_events.Take()), render(single_events.Take()))
        << "round " << round;
    const absl::Duration step = absl::Milliseconds(10 * (1 + pick(150)));
    batch_clock.Advance(step);
    single_clock.Advance(step);
    ASSERT_TRUE(batch_store->ExpireSessions().ok());
    ASSERT_TRUE(single_store->ExpireSessions().ok());
    ASSERT_EQ(render(batch_events.Take()), render(single_events.Take()))
        << "round " << round << " expiry";
  }
  batch_store->RemoveListener(&batch_events);
  single_store->RemoveListener(&single_events);
}

}  // namespace
}  // namespace presence
