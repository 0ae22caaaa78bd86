// The memory store and the Redis store, side by side: one seeded random
// sequence of operations drives both (each through Presence, each with its
// own SimulatedClock set to the same times), and every answer and every
// channel's event stream must be identical.
//
// CI runs a few fixed seeds for a bounded number of steps. To explore, e.g.
//   bazel test //presence/store:differential_test --test_arg=--seed=12345
//   --test_arg=--steps=20000
// (or PRESENCE_DIFF_SEED / PRESENCE_DIFF_STEPS in the environment). A
// mismatch names the seed, the step and the operation; rerun that seed to
// reproduce it.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "presence/clock.h"
#include "presence/event.h"
#include "presence/limits.h"
#include "presence/presence.h"
#include "presence/store.h"
#include "presence/store/memory/memory_store.h"
#include "presence/store/redis/redis_store.h"
#include "presence/testing/event_recorder.h"
#include "presence/testing/redis_server.h"

namespace presence {
namespace {

// Seeds and steps run when none is given: bounded so the test stays well
// under 20 s warm.
constexpr uint64_t kDefaultSeeds[] = {1, 2, 3};
constexpr int kDefaultSteps = 1500;

// From --seed= / --steps= (left in argv by InitGoogleTest) or the
// environment; 0 when not given.
uint64_t flag_seed = 0;
int flag_steps = 0;

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

// Small limits and a small announce_max, so that group limits, interval
// mode and overflowing interval lists all happen often.
Limits TestLimits() {
  Limits limits;
  limits.max_channels_per_group = 4;
  limits.min_timeout_seconds = 1;
  limits.default_timeout_seconds = 4;
  limits.max_timeout_seconds = 8;
  limits.max_here_now_limit = 5;
  return limits;
}

EventOptions TestEvents() {
  EventOptions events;
  events.announce_max = 3;
  events.interval = absl::Seconds(2);
  events.interval_lists_max_bytes = 24;
  return events;
}

std::string Render(const absl::Status& status) {
  return absl::StrCat(absl::StatusCodeToString(status.code()), " ",
                      status.message());
}

template <typename T>
std::string Render(const absl::StatusOr<T>& result,
                   const std::function<std::string(const T&)>& render) {
  if (!result.ok()) return Render(result.status());
  return absl::StrCat("OK ", render(*result));
}

std::string RenderEvent(const PresenceEvent& e) {
  std::string line = absl::StrCat(
      EventTypeName(e.type), " user=", e.user_id, " occ=", e.occupancy,
      " seq=", e.sequence >> 32, ".", e.sequence & 0xffffffffu,
      " ms=", absl::ToUnixMillis(e.time));
  if (!e.state.empty()) absl::StrAppend(&line, " state=", e.state);
  if (e.type == EventType::kInterval) {
    absl::StrAppend(&line, " +[", absl::StrJoin(e.joined, ","), "] -[",
                    absl::StrJoin(e.left, ","), "] x[",
                    absl::StrJoin(e.timed_out, ","), "]",
                    e.here_now_refresh ? " refresh" : "");
  }
  return line;
}

// Events grouped by channel, in delivery order within each: order is
// promised per channel only (Redis streams are per shard).
std::map<std::string, std::vector<std::string>> ByChannel(
    const std::vector<PresenceEvent>& events) {
  std::map<std::string, std::vector<std::string>> out;
  for (const PresenceEvent& e : events)
    out[e.channel].push_back(RenderEvent(e));
  return out;
}

std::string RenderGroupChanges(const std::vector<GroupChange>& changes) {
  std::vector<std::string> lines;
  for (const GroupChange& c : changes) {
    lines.push_back(
        absl::StrCat(c.group, "=[", absl::StrJoin(c.channels, ","), "]"));
  }
  return absl::StrJoin(lines, " ");
}

// One side of the comparison: a store, its clock, Presence and a recorder.
struct Side {
  Side(std::unique_ptr<PresenceStore> s, std::unique_ptr<SimulatedClock> c)
      : clock(std::move(c)),
        store(std::move(s)),
        presence(std::make_unique<Presence>(store.get(), TestLimits())) {
    store->AddListener(&events);
  }
  ~Side() { store->RemoveListener(&events); }

  std::unique_ptr<SimulatedClock> clock;
  std::unique_ptr<PresenceStore> store;
  std::unique_ptr<Presence> presence;
  EventRecorder events;
};

// An operation: its description and how to run it on one side, rendering
// the answer as text.
struct Op {
  std::string text;
  std::function<std::string(Side&)> run;
};

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  Op Next() {
    const int kind = Pick(100);
    if (kind < 30) return Heartbeat();
    if (kind < 40) return Leave();
    if (kind < 50) return Advance();
    if (kind < 58) return SetState();
    if (kind < 63) return GetState();
    if (kind < 73) return GroupEdit();
    if (kind < 78) return GroupRead();
    if (kind < 93) return HereNow();
    return WhereNow();
  }

 private:
  int Pick(int n) { return static_cast<int>(rng_() % n); }
  bool Chance(int percent) { return Pick(100) < percent; }

  std::string User() { return absl::StrCat("u", Pick(8)); }
  std::string Session() {
    const int s = Pick(4);
    return s == 0 ? "" : absl::StrCat("s", s);
  }
  std::string Channel() { return absl::StrCat("c", Pick(10)); }
  std::string Group() { return absl::StrCat("g", Pick(3)); }
  std::vector<std::string> Channels(int max) {
    std::vector<std::string> out;
    for (int n = Pick(max + 1); n > 0; --n) out.push_back(Channel());
    return out;
  }
  std::vector<std::string> Groups(int max) {
    std::vector<std::string> out;
    for (int n = Pick(max + 1); n > 0; --n) out.push_back(Group());
    return out;
  }
  std::string State() {
    const int s = Pick(5);
    return s == 0 ? "{}" : absl::StrCat(R"({"n":)", s, "}");
  }
  static std::string List(const std::vector<std::string>& names) {
    return absl::StrCat("[", absl::StrJoin(names, ","), "]");
  }

  // Channels and groups such that at least one of either is named (the
  // calls need one), unless `allow_none`.
  void Targets(std::vector<std::string>& channels,
               std::vector<std::string>& groups, bool allow_none = false) {
    channels = Channels(3);
    groups = Chance(30) ? Groups(2) : std::vector<std::string>{};
    if (!allow_none && channels.empty() && groups.empty() && !Chance(5)) {
      channels.push_back(Channel());
    }
  }

  Op Heartbeat() {
    HeartbeatRequest request;
    request.user_id = User();
    request.session_id = Session();
    Targets(request.channels, request.channel_groups);
    request.timeout_seconds = Chance(20) ? 0 : 1 + Pick(8);
    std::vector<std::string> keys = request.channels;
    keys.insert(keys.end(), request.channel_groups.begin(),
                request.channel_groups.end());
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    for (const std::string& key : keys) {
      if (Chance(30)) request.states.emplace_back(key, State());
    }
    std::string states;
    for (const auto& [key, state] : request.states) {
      absl::StrAppend(&states, " ", key, "=", state);
    }
    return {
        absl::StrCat("Heartbeat ", request.user_id, "/", request.session_id,
                     " ", List(request.channels), List(request.channel_groups),
                     " timeout=", request.timeout_seconds, states),
        [request](Side& side) {
          return Render<HeartbeatResult>(
              side.presence->Heartbeat(request), [](const auto& r) {
                return absl::StrCat(r.timeout_seconds, "/",
                                    r.heartbeat_interval_seconds);
              });
        }};
  }

  Op Leave() {
    LeaveRequest request;
    request.user_id = User();
    request.session_id = Session();
    Targets(request.channels, request.channel_groups);
    return {
        absl::StrCat("Leave ", request.user_id, "/", request.session_id, " ",
                     List(request.channels), List(request.channel_groups)),
        [request](Side& side) {
          return Render<LeaveResult>(
              side.presence->Leave(request),
              [](const auto& r) { return List(r.channels); });
        }};
  }

  // Time moves in multiples of the memory store's 10 ms tick; then both
  // stores expire what is due, so neither has anything due left over.
  Op Advance() {
    const int ticks = Chance(70) ? 1 + Pick(60) : 50 + Pick(400);
    const absl::Duration d = absl::Milliseconds(10 * ticks);
    return {
        absl::StrCat("Advance ", absl::FormatDuration(d), " + ExpireSessions"),
        [d](Side& side) {
          side.clock->Advance(d);
          return Render(side.store->ExpireSessions());
        }};
  }

  Op SetState() {
    SetStateRequest request;
    request.user_id = User();
    Targets(request.channels, request.channel_groups);
    request.state = State();
    return {
        absl::StrCat("SetState ", request.user_id, " ", List(request.channels),
                     List(request.channel_groups), " ", request.state),
        [request](Side& side) {
          return Render<SetStateResult>(
              side.presence->SetState(request), [](const auto& r) {
                return absl::StrCat(List(r.channels), " ", r.state);
              });
        }};
  }

  Op GetState() {
    GetStateRequest request;
    request.user_id = User();
    Targets(request.channels, request.channel_groups);
    return {absl::StrCat("GetState ", request.user_id, " ",
                         List(request.channels), List(request.channel_groups)),
            [request](Side& side) {
              return Render<GetStateResult>(
                  side.presence->GetState(request), [](const auto& r) {
                    std::string out;
                    for (const ChannelState& s : r.states) {
                      absl::StrAppend(&out, s.channel, "=", s.state, " ");
                    }
                    return out;
                  });
            }};
  }

  Op GroupEdit() {
    const std::string group = Group();
    const int kind = Pick(10);
    if (kind < 6) {
      std::vector<std::string> channels = Channels(3);
      if (channels.empty()) channels.push_back(Channel());
      return {
          absl::StrCat("AddChannelsToGroup ", group, " ", List(channels)),
          [group, channels](Side& side) {
            return Render(side.presence->AddChannelsToGroup(group, channels));
          }};
    }
    if (kind < 9) {
      std::vector<std::string> channels = Channels(3);
      if (channels.empty()) channels.push_back(Channel());
      return {
          absl::StrCat("RemoveChannelsFromGroup ", group, " ", List(channels)),
          [group, channels](Side& side) {
            return Render(
                side.presence->RemoveChannelsFromGroup(group, channels));
          }};
    }
    return {absl::StrCat("DeleteGroup ", group), [group](Side& side) {
              return Render(side.presence->DeleteGroup(group));
            }};
  }

  Op GroupRead() {
    if (Chance(50)) {
      return {"ListGroups", [](Side& side) {
                return Render<std::vector<std::string>>(
                    side.presence->ListGroups(),
                    [](const auto& groups) { return List(groups); });
              }};
    }
    const std::string group = Group();
    return {absl::StrCat("ListChannelsInGroup ", group), [group](Side& side) {
              return Render<std::vector<std::string>>(
                  side.presence->ListChannelsInGroup(group),
                  [](const auto& channels) { return List(channels); });
            }};
  }

  Op HereNow() {
    HereNowRequest request;
    if (!Chance(20)) Targets(request.channels, request.channel_groups, true);
    request.include_user_ids = !Chance(20);
    request.include_state = Chance(50);
    request.limit = Pick(4);
    request.offset = Chance(70) ? 0 : Pick(4);
    return {
        absl::StrCat(
            "HereNow ", List(request.channels), List(request.channel_groups),
            " ids=", request.include_user_ids, " state=", request.include_state,
            " limit=", request.limit, " offset=", request.offset),
        [request](Side& side) {
          return Render<HereNowResult>(
              side.presence->HereNow(request), [](const auto& r) {
                std::string out =
                    absl::StrCat(r.total_channels, "/", r.total_occupancy, ":");
                for (const ChannelOccupancy& c : r.channels) {
                  absl::StrAppend(&out, " ", c.name, "=", c.occupancy, "[");
                  for (const Occupant& o : c.occupants) {
                    absl::StrAppend(&out, o.user_id, o.state, ",");
                  }
                  absl::StrAppend(&out, "]");
                }
                return out;
              });
        }};
  }

  Op WhereNow() {
    const std::string user = User();
    return {absl::StrCat("WhereNow ", user), [user](Side& side) {
              return Render<WhereNowResult>(
                  side.presence->WhereNow({user}),
                  [](const auto& r) { return List(r.channels); });
            }};
  }

  std::mt19937_64 rng_;
};

// Runs `steps` random operations of `seed` on both stores; returns at the
// first difference (a test failure naming the seed, step and operation).
void RunSeed(uint64_t seed, int steps) {
  ASSERT_TRUE(redis->FlushAll().ok());
  // A start that is not a whole second, so epochs meet second boundaries
  // mid-run.
  const absl::Time start = absl::FromUnixMillis(1'800'000'000'000 + 370);
  auto memory_clock = std::make_unique<SimulatedClock>(start);
  auto redis_clock = std::make_unique<SimulatedClock>(start);
  SimulatedClock* const memory_clock_ptr = memory_clock.get();
  SimulatedClock* const redis_clock_ptr = redis_clock.get();

  MemoryStoreOptions memory_options;
  memory_options.limits = TestLimits();
  memory_options.events = TestEvents();
  Side memory(NewMemoryStore(memory_options, memory_clock_ptr),
              std::move(memory_clock));

  RedisStoreOptions redis_options;
  redis_options.url = redis->url();
  redis_options.limits = TestLimits();
  redis_options.events = TestEvents();
  redis_options.read_block = absl::Milliseconds(20);
  absl::StatusOr<std::unique_ptr<PresenceStore>> redis_store =
      NewRedisStore(redis_options, redis_clock_ptr);
  ASSERT_TRUE(redis_store.ok()) << redis_store.status();
  Side redis_side(*std::move(redis_store), std::move(redis_clock));

  // What the run exercised, printed at the end (a run that compared little
  // proves little).
  std::map<std::string, int> seen;
  Generator generator(seed);
  for (int step = 0; step < steps; ++step) {
    const Op op = generator.Next();
    const std::string where =
        absl::StrCat("seed ", seed, ", step ", step, ": ", op.text);
    const std::string memory_answer = op.run(memory);
    const std::string redis_answer = op.run(redis_side);
    ASSERT_EQ(memory_answer, redis_answer) << where;
    if (!absl::StartsWith(memory_answer, "OK")) ++seen["error answers"];

    ASSERT_TRUE(memory.store->SyncEvents().ok()) << where;
    ASSERT_TRUE(redis_side.store->SyncEvents().ok()) << where;
    const std::vector<PresenceEvent> taken = memory.events.Take();
    for (const PresenceEvent& e : taken) {
      ++seen[std::string(EventTypeName(e.type))];
      if (e.here_now_refresh) ++seen["here_now_refresh"];
    }
    const auto memory_events = ByChannel(taken);
    const auto redis_events = ByChannel(redis_side.events.Take());
    for (const auto& [channel, lines] : memory_events) {
      auto it = redis_events.find(channel);
      ASSERT_EQ(absl::StrJoin(lines, "\n"),
                it == redis_events.end() ? "" : absl::StrJoin(it->second, "\n"))
          << "events of " << channel << " (memory, then redis); " << where;
    }
    for (const auto& [channel, lines] : redis_events) {
      ASSERT_TRUE(memory_events.count(channel))
          << "events of " << channel << " only from redis:\n"
          << absl::StrJoin(lines, "\n") << "\n"
          << where;
    }
    ASSERT_EQ(RenderGroupChanges(memory.events.TakeGroupChanges()),
              RenderGroupChanges(redis_side.events.TakeGroupChanges()))
        << "group changes; " << where;
  }
  std::string summary;
  for (const auto& [what, count] : seen) {
    absl::StrAppend(&summary, " ", what, "=", count);
  }
  std::printf("seed %llu, %d steps:%s\n", static_cast<unsigned long long>(seed),
              steps, summary.c_str());
}

TEST(DifferentialTest, MemoryAndRedisStoresAgree) {
  std::vector<uint64_t> seeds(std::begin(kDefaultSeeds),
                              std::end(kDefaultSeeds));
  if (flag_seed != 0) seeds = {flag_seed};
  const int steps = flag_steps > 0 ? flag_steps : kDefaultSteps;
  for (uint64_t seed : seeds) {
    SCOPED_TRACE(absl::StrCat("seed ", seed, " (rerun with --seed=", seed,
                              " --steps=", steps, ")"));
    RunSeed(seed, steps);
    if (HasFatalFailure()) return;
  }
}

// Reads --seed=N and --steps=N from argv, then the environment.
void ParseFlags(int argc, char** argv) {
  auto number = [](absl::string_view text, auto* out) {
    if (!absl::SimpleAtoi(text, out)) {
      std::fprintf(stderr, "differential_test: bad number \"%s\"\n",
                   std::string(text).c_str());
      std::exit(2);
    }
  };
  if (const char* env = std::getenv("PRESENCE_DIFF_SEED"))
    number(env, &flag_seed);
  if (const char* env = std::getenv("PRESENCE_DIFF_STEPS"))
    number(env, &flag_steps);
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (absl::ConsumePrefix(&arg, "--seed=")) {
      number(arg, &flag_seed);
    } else if (absl::ConsumePrefix(&arg, "--steps=")) {
      number(arg, &flag_steps);
    } else {
      std::fprintf(stderr, "differential_test: unknown flag %s\n", argv[i]);
      std::exit(2);
    }
  }
}

}  // namespace
}  // namespace presence

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  presence::ParseFlags(argc, argv);
  testing::AddGlobalTestEnvironment(new presence::RedisEnvironment());
  return RUN_ALL_TESTS();
}
