// Scale-out on Redis, end to end: three presence_server processes share one
// real redis-server, and a client talks to each of them. Every replica must
// answer with the same truth, emit every event once (one timeout, one
// webhook) with the same sequence numbers, survive a Redis outage without a
// restart, and lose nothing acknowledged when another replica is SIGKILLed.
//
// Time passes for real (timeouts of 1-2 s), so every wait is on a condition:
// an event on a watch stream, a webhook request, a health status. Each wait
// has a generous bound (watch streams end after kWatchLimit) so that a bug
// fails the test instead of hanging it.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/json.h"
#include "client/presence_client.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "presence/testing/redis_server.h"
#include "service/testing/http_receiver.h"
#include "service/testing/server_process.h"
#include "service/webhooks/webhook_signature.h"

namespace presence {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::presence::client::EventStream;
using ::presence::client::Json;
using ::presence::client::PresenceClient;
using ::presence::client::WatchEvent;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Action = WatchEvent::Action;

// How long a watch stream may stay open: the bound of every wait on events.
constexpr absl::Duration kWatchLimit = absl::Seconds(20);
// How long health may take to follow Redis going away or coming back.
constexpr absl::Duration kHealthLimit = absl::Seconds(15);

constexpr uint64_t kLow32 = 0xffffffffu;

std::string SequenceText(uint64_t sequence) {
  return absl::StrCat(sequence >> 32, ":", sequence & kLow32);
}

// "join:alice", "active", ...: what happened, without sequence numbers.
std::string Describe(const WatchEvent& event) {
  std::string out = client::ActionName(event.action);
  if (!event.user_id.empty()) absl::StrAppend(&out, ":", event.user_id);
  return out;
}

std::vector<std::string> Describe(const std::vector<WatchEvent>& events) {
  std::vector<std::string> out;
  for (const WatchEvent& event : events) out.push_back(Describe(event));
  return out;
}

// Each event with its occupancy and sequence ("join:alice/1@3:2"): two
// replicas agree on an event stream only if these are equal.
std::vector<std::string> DescribeFully(const std::vector<WatchEvent>& events) {
  std::vector<std::string> out;
  for (const WatchEvent& event : events) {
    out.push_back(absl::StrCat(Describe(event), "/", event.occupancy, "@",
                               SequenceText(event.sequence)));
  }
  return out;
}

// Reads events from `stream` into `events` until one satisfies `last` (which
// is kept). Returns false when the stream ended first.
bool ReadUntil(EventStream& stream, std::vector<WatchEvent>& events,
               absl::FunctionRef<bool(const WatchEvent&)> last) {
  WatchEvent event;
  while (stream.Next(&event)) {
    events.push_back(event);
    if (last(event)) return true;
  }
  return false;
}

auto IsAction(Action action, std::string user_id = "") {
  return [action, user_id = std::move(user_id)](const WatchEvent& event) {
    return event.action == action &&
           (user_id.empty() || event.user_id == user_id);
  };
}

// Returns the health status of `service` at `address`, or the RPC's error.
absl::StatusOr<HealthCheckResponse::ServingStatus> CheckHealth(
    const std::string& address, const std::string& service = "") {
  auto stub = Health::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
  HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        status.error_message());
  }
  return response.status();
}

// Polls the health of "" at `address` until it is `wanted` or `limit`
// passes; returns whether it got there.
bool WaitForHealth(const std::string& address,
                   HealthCheckResponse::ServingStatus wanted,
                   absl::Duration limit = kHealthLimit) {
  const absl::Time deadline = absl::Now() + limit;
  while (absl::Now() < deadline) {
    absl::StatusOr<HealthCheckResponse::ServingStatus> status =
        CheckHealth(address);
    if (status.ok() && *status == wanted) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

// The webhook events received so far, as (channel, sequence) -> deliveries.
class WebhookTally {
 public:
  explicit WebhookTally(HttpReceiver* receiver) : receiver_(receiver) {}

  // Reads requests (waiting for new ones) until `done` holds for the tally.
  // Returns false when no new request came within the receiver's timeout.
  bool ReadUntil(absl::FunctionRef<bool(const WebhookTally&)> done) {
    while (!done(*this)) {
      if (!receiver_->WaitForRequests(read_ + 1)) return false;
      const std::vector<HttpReceiver::Request> requests = receiver_->requests();
      for (; read_ < requests.size(); ++read_) Add(requests[read_]);
    }
    return true;
  }

  int count(const std::string& channel, uint64_t sequence) const {
    auto it = deliveries_.find({channel, sequence});
    return it == deliveries_.end() ? 0 : it->second;
  }

  const std::map<std::pair<std::string, uint64_t>, int>& deliveries() const {
    return deliveries_;
  }

 private:
  void Add(const HttpReceiver::Request& request) {
    EXPECT_EQ(request.method, "POST");
    // X-Presence-Signature: t=<unix s>,v1=<hex HMAC(secret, "t.body")>
    std::vector<std::string> parts =
        absl::StrSplit(request.Header("x-presence-signature"), ',');
    if (parts.size() == 2) {
      EXPECT_EQ(absl::StripPrefix(parts[1], "v1="),
                HmacSha256Hex("s3cret",
                              absl::StrCat(absl::StripPrefix(parts[0], "t="),
                                           ".", request.body)));
    } else {
      ADD_FAILURE() << "bad signature header: "
                    << request.Header("x-presence-signature");
    }
    absl::StatusOr<Json> body = Json::Parse(request.body);
    ASSERT_TRUE(body.ok()) << body.status() << ": " << request.body;
    const Json* events = body->find("events");
    ASSERT_TRUE(events != nullptr && events->is_array()) << request.body;
    for (const Json& event : events->as_array()) {
      const Json* channel = event.find("channel");
      const Json* sequence = event.find("sequence");
      uint64_t number = 0;
      ASSERT_TRUE(channel != nullptr && channel->is_string() &&
                  sequence != nullptr && sequence->is_string() &&
                  absl::SimpleAtoi(sequence->as_string(), &number))
          << request.body;
      ++deliveries_[{channel->as_string(), number}];
    }
  }

  HttpReceiver* const receiver_;
  size_t read_ = 0;  // Requests added to the tally.
  std::map<std::pair<std::string, uint64_t>, int> deliveries_;
};

// One redis-server and three replicas on it (A, B, C), fresh per test.
class ReplicasTest : public testing::Test {
 protected:
  static constexpr int kReplicas = 3;

  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = *std::move(redis);
  }

  // Starts the three replicas with the common flags and `extra_flags`.
  void StartReplicas(const std::vector<std::string>& extra_flags = {}) {
    std::vector<std::string> flags = {
        "--store=redis",         "--redis_url=" + redis_->url(),
        "--redis_timeout=500ms", "--min_timeout_seconds=1",
        "--shutdown_grace=1s",
    };
    flags.insert(flags.end(), extra_flags.begin(), extra_flags.end());
    for (int i = 0; i < kReplicas; ++i) {
      replicas_.push_back(
          std::make_unique<ServerProcess>(ServerBinaryPath(), flags));
      absl::Status started = replicas_.back()->Start();
      ASSERT_TRUE(started.ok()) << started << replicas_.back()->Log();
      clients_.emplace_back(PresenceClient::Options{
          .target = replicas_.back()->address(), .user_id = "tester"});
      running_.push_back(true);
    }
  }

  // SIGKILLs replica `i`; returns its wait status.
  int Kill(int i) {
    running_[i] = false;
    return replicas_[i]->Stop(SIGKILL);
  }

  // Every replica still running drains and exits 0 on SIGTERM (in parallel,
  // each within --shutdown_grace).
  void TearDown() override {
    std::vector<int> statuses(replicas_.size(), 0);
    std::vector<std::thread> stoppers;
    for (size_t i = 0; i < replicas_.size(); ++i) {
      if (!running_[i]) continue;
      stoppers.emplace_back(
          [this, i, &statuses] { statuses[i] = replicas_[i]->Stop(SIGTERM); });
    }
    for (std::thread& stopper : stoppers) stopper.join();
    for (size_t i = 0; i < replicas_.size(); ++i) {
      if (!running_[i]) continue;
      EXPECT_TRUE(WIFEXITED(statuses[i]) && WEXITSTATUS(statuses[i]) == 0)
          << "replica " << i << " wait status " << statuses[i] << ":\n"
          << replicas_[i]->Log();
    }
  }

  // Opens a watch of `channel` at replica `i`, registered on return.
  std::unique_ptr<EventStream> Watch(int i, const std::string& channel) {
    absl::StatusOr<std::unique_ptr<EventStream>> stream =
        clients_[i].watch().channels({channel}).timeout(kWatchLimit).open();
    EXPECT_TRUE(stream.ok()) << stream.status();
    return stream.ok() ? *std::move(stream) : nullptr;
  }

  // Heartbeats `user` into `channel` through replica `i`.
  absl::Status Join(int i, const std::string& user, const std::string& channel,
                    uint32_t timeout_seconds) {
    return clients_[i]
        .heartbeat()
        .user_id(user)
        .channels({channel})
        .timeout_seconds(timeout_seconds)
        .execute()
        .status();
  }

  // Opens a watch of `channel` at every replica; fails the test (and
  // returns fewer) if one cannot be opened.
  std::vector<std::unique_ptr<EventStream>> WatchEverywhere(
      const std::string& channel) {
    std::vector<std::unique_ptr<EventStream>> watches;
    for (int i = 0; i < kReplicas; ++i) {
      std::unique_ptr<EventStream> watch = Watch(i, channel);
      if (watch == nullptr) break;
      watches.push_back(std::move(watch));
    }
    return watches;
  }

  std::unique_ptr<RedisServer> redis_;
  std::vector<std::unique_ptr<ServerProcess>> replicas_;
  std::vector<PresenceClient> clients_;
  std::vector<bool> running_;
};

constexpr int kA = 0, kB = 1, kC = 2;

TEST_F(ReplicasTest, EveryReplicaReadsWhatAnotherWrote) {
  ASSERT_NO_FATAL_FAILURE(StartReplicas());
  const Json mood = Json::object({{"mood", "happy"}});
  ASSERT_TRUE(clients_[kA]
                  .heartbeat()
                  .user_id("alice")
                  .channels({"lobby", "kitchen"})
                  .timeout_seconds(60)
                  .state("lobby", mood)
                  .execute()
                  .ok());

  for (int i : {kB, kC}) {
    SCOPED_TRACE(absl::StrCat("replica ", i));
    absl::StatusOr<client::HereNowResult> here = clients_[i]
                                                     .here_now()
                                                     .channels({"lobby"})
                                                     .include_state(true)
                                                     .execute();
    ASSERT_TRUE(here.ok()) << here.status();
    EXPECT_EQ(here->total_occupancy, 1u);
    ASSERT_EQ(here->channels.size(), 1u);
    EXPECT_EQ(here->channels[0].name, "lobby");
    ASSERT_EQ(here->channels[0].occupants.size(), 1u);
    EXPECT_EQ(here->channels[0].occupants[0].user_id, "alice");
    EXPECT_EQ(here->channels[0].occupants[0].state, mood);

    absl::StatusOr<client::WhereNowResult> where =
        clients_[i].where_now().user_id("alice").execute();
    ASSERT_TRUE(where.ok()) << where.status();
    EXPECT_THAT(where->channels, ElementsAre("kitchen", "lobby"));

    absl::StatusOr<client::GetStateResult> state = clients_[i]
                                                       .get_presence_state()
                                                       .user_id("alice")
                                                       .channels({"lobby"})
                                                       .execute();
    ASSERT_TRUE(state.ok()) << state.status();
    ASSERT_EQ(state->state.size(), 1u);
    EXPECT_EQ(state->state[0].channel_name, "lobby");
    EXPECT_EQ(state->state[0].state, mood);
  }

  absl::StatusOr<client::LeaveResult> left =
      clients_[kC].leave().user_id("alice").channels({"lobby"}).execute();
  ASSERT_TRUE(left.ok()) << left.status();
  EXPECT_THAT(left->channels, ElementsAre("lobby"));

  absl::StatusOr<client::HereNowResult> here =
      clients_[kA].here_now().channels({"lobby"}).execute();
  ASSERT_TRUE(here.ok()) << here.status();
  EXPECT_EQ(here->total_occupancy, 0u);
  absl::StatusOr<client::WhereNowResult> where =
      clients_[kA].where_now().user_id("alice").execute();
  ASSERT_TRUE(where.ok()) << where.status();
  EXPECT_THAT(where->channels, ElementsAre("kitchen"));
}

TEST_F(ReplicasTest, ATimeoutHappensOnceWhateverReplicasWatch) {
  ASSERT_NO_FATAL_FAILURE(StartReplicas());
  std::vector<std::unique_ptr<EventStream>> watches = WatchEverywhere("room");
  ASSERT_EQ(watches.size(), static_cast<size_t>(kReplicas));
  ASSERT_TRUE(Join(kA, "u", "room", 1).ok());

  // Every replica runs the expiry sweep; each must see one timeout of u.
  std::vector<std::vector<WatchEvent>> seen(kReplicas);
  for (int i = 0; i < kReplicas; ++i) {
    ASSERT_TRUE(ReadUntil(*watches[i], seen[i], IsAction(Action::kInactive)))
        << "replica " << i << ": " << watches[i]->Finish() << "; saw "
        << absl::StrJoin(Describe(seen[i]), ", ");
  }
  // A marker after the inactive: a second timeout would come before it.
  ASSERT_TRUE(Join(kB, "marker", "room", 60).ok());
  for (int i = 0; i < kReplicas; ++i) {
    ASSERT_TRUE(
        ReadUntil(*watches[i], seen[i], IsAction(Action::kJoin, "marker")))
        << "replica " << i << ": " << watches[i]->Finish();
    EXPECT_THAT(Describe(seen[i]),
                ElementsAre("active", "join:u", "timeout:u", "inactive",
                            "active", "join:marker"))
        << "replica " << i;
  }

  // One epoch per activation, counted from 1, the same on every replica.
  const std::vector<WatchEvent>& first = seen[kA];
  ASSERT_EQ(first.size(), 6u);
  const uint64_t epoch = first[0].sequence >> 32;
  for (int k = 0; k < 4; ++k) {
    EXPECT_EQ(first[k].sequence, (epoch << 32) | (k + 1))
        << SequenceText(first[k].sequence);
  }
  EXPECT_GT(first[4].sequence >> 32, epoch);
  EXPECT_EQ(first[4].sequence & kLow32, 1u);
  EXPECT_EQ(first[5].sequence, first[4].sequence + 1);
  EXPECT_EQ(DescribeFully(seen[kB]), DescribeFully(first));
  EXPECT_EQ(DescribeFully(seen[kC]), DescribeFully(first));
}

TEST_F(ReplicasTest, EveryReplicaSeesABurstInOneOrder) {
  ASSERT_NO_FATAL_FAILURE(StartReplicas());
  std::vector<std::unique_ptr<EventStream>> watches = WatchEverywhere("burst");
  ASSERT_EQ(watches.size(), static_cast<size_t>(kReplicas));
  // The anchor keeps the channel occupied, so the burst is one epoch.
  ASSERT_TRUE(Join(kA, "anchor", "burst", 60).ok());

  // One writer per replica, concurrently: join, change state, leave.
  constexpr int kUsersPerWriter = 6;
  std::vector<std::thread> writers;
  for (int i = 0; i < kReplicas; ++i) {
    writers.emplace_back([this, i] {
      for (int k = 0; k < kUsersPerWriter; ++k) {
        const std::string user = absl::StrCat("w", i, "-", k);
        EXPECT_TRUE(Join(i, user, "burst", 60).ok()) << user;
        EXPECT_TRUE(clients_[i]
                        .set_presence_state(Json::object({{"k", k}}))
                        .user_id(user)
                        .channels({"burst"})
                        .execute()
                        .ok())
            << user;
        EXPECT_TRUE(clients_[(i + 1) % kReplicas]
                        .leave()
                        .user_id(user)
                        .channels({"burst"})
                        .execute()
                        .ok())
            << user;
      }
    });
  }
  for (std::thread& writer : writers) writer.join();
  ASSERT_TRUE(clients_[kC]
                  .leave()
                  .user_id("anchor")
                  .channels({"burst"})
                  .execute()
                  .ok());

  std::vector<std::vector<WatchEvent>> seen(kReplicas);
  for (int i = 0; i < kReplicas; ++i) {
    ASSERT_TRUE(ReadUntil(*watches[i], seen[i], IsAction(Action::kInactive)))
        << "replica " << i << ": " << watches[i]->Finish();
  }
  // active, join anchor, 3 per user, leave anchor, inactive.
  const std::vector<WatchEvent>& first = seen[kA];
  ASSERT_EQ(first.size(), 4u + 3u * kReplicas * kUsersPerWriter)
      << absl::StrJoin(Describe(first), ", ");
  EXPECT_EQ(DescribeFully(seen[kB]), DescribeFully(first));
  EXPECT_EQ(DescribeFully(seen[kC]), DescribeFully(first));

  // Consecutive sequences of one epoch; each user's events in the order it
  // made them; occupancy after each event consistent with that order.
  const uint64_t epoch = first[0].sequence >> 32;
  std::map<std::string, std::vector<std::string>> by_user;
  uint32_t occupancy = 0;
  for (size_t k = 0; k < first.size(); ++k) {
    const WatchEvent& event = first[k];
    EXPECT_EQ(event.sequence, (epoch << 32) | (k + 1))
        << k << ": " << SequenceText(event.sequence);
    if (event.action == Action::kJoin) ++occupancy;
    if (event.action == Action::kLeave) --occupancy;
    // An active event carries the occupancy of the join it announces.
    EXPECT_EQ(event.occupancy, event.action == Action::kActive ? 1 : occupancy)
        << k << ": " << Describe(event);
    if (!event.user_id.empty()) {
      by_user[event.user_id].push_back(client::ActionName(event.action));
    }
  }
  EXPECT_EQ(first.front().action, Action::kActive);
  EXPECT_EQ(first.back().action, Action::kInactive);
  EXPECT_EQ(by_user.size(), 1u + kReplicas * kUsersPerWriter);
  for (const auto& [user, actions] : by_user) {
    if (user == "anchor") {
      EXPECT_THAT(actions, ElementsAre("join", "leave"));
    } else {
      EXPECT_THAT(actions, ElementsAre("join", "state-change", "leave"))
          << user;
    }
  }
}

TEST_F(ReplicasTest, OneWebhookPerEventAcrossReplicas) {
  auto receiver = HttpReceiver::Start();
  ASSERT_TRUE(receiver.ok()) << receiver.status();
  ASSERT_NO_FATAL_FAILURE(StartReplicas({
      "--webhook_url=" + (*receiver)->url("/hook"),
      "--webhook_secret=s3cret",
      "--webhook_batch_delay=20ms",
  }));
  std::unique_ptr<EventStream> watch = Watch(kA, "hooked");
  ASSERT_NE(watch, nullptr);

  // Users join and leave through every replica: 2 epochs of events.
  constexpr int kUsers = 6;
  for (int round = 0; round < 2; ++round) {
    for (int k = 0; k < kUsers; ++k) {
      ASSERT_TRUE(clients_[k % kReplicas]
                      .heartbeat()
                      .user_id(absl::StrCat("u", k))
                      .channels({"hooked"})
                      .timeout_seconds(60)
                      .execute()
                      .ok());
    }
    for (int k = 0; k < kUsers; ++k) {
      ASSERT_TRUE(clients_[(k + 1) % kReplicas]
                      .leave()
                      .user_id(absl::StrCat("u", k))
                      .channels({"hooked"})
                      .execute()
                      .ok());
    }
  }
  // What the watch saw is what the webhooks must carry.
  std::vector<WatchEvent> events;
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE(ReadUntil(*watch, events, IsAction(Action::kInactive)))
        << watch->Finish();
  }
  ASSERT_EQ(events.size(), 2u * (2 + 2 * kUsers));
  std::set<uint64_t> expected;
  for (const WatchEvent& event : events) expected.insert(event.sequence);
  ASSERT_EQ(expected.size(), events.size());

  WebhookTally tally(receiver->get());
  ASSERT_TRUE(tally.ReadUntil([&](const WebhookTally& t) {
    for (uint64_t sequence : expected) {
      if (t.count("hooked", sequence) == 0) return false;
    }
    return true;
  })) << "webhooks missing; got "
      << (*receiver)->requests().size() << " requests";

  // A marker after everything: a second delivery of an event (from another
  // replica) would not arrive later than this.
  ASSERT_TRUE(Join(kB, "marker", "hooked", 60).ok());
  ASSERT_TRUE(ReadUntil(*watch, events, IsAction(Action::kJoin, "marker")))
      << watch->Finish();
  const uint64_t marker = events.back().sequence;
  expected.insert(events[events.size() - 2].sequence);  // Its active.
  expected.insert(marker);
  ASSERT_TRUE(tally.ReadUntil([&](const WebhookTally& t) {
    return t.count("hooked", marker) > 0;
  })) << "the marker's webhook did not arrive";

  std::vector<std::string> unexpected;
  for (const auto& [key, deliveries] : tally.deliveries()) {
    const bool known = key.first == "hooked" && expected.count(key.second);
    if (!known || deliveries != 1) {
      unexpected.push_back(absl::StrCat(
          key.first, "@", SequenceText(key.second), " x", deliveries));
    }
  }
  EXPECT_THAT(unexpected, IsEmpty());
  EXPECT_EQ(tally.deliveries().size(), expected.size());
}

TEST_F(ReplicasTest, ARedisOutageFailsFastAndHealsWithoutRestarts) {
  ASSERT_NO_FATAL_FAILURE(StartReplicas());
  std::vector<std::unique_ptr<EventStream>> watches = WatchEverywhere("outage");
  ASSERT_EQ(watches.size(), static_cast<size_t>(kReplicas));
  ASSERT_TRUE(Join(kA, "u", "outage", 60).ok());
  for (int i = 0; i < kReplicas; ++i) {
    std::vector<WatchEvent> seen;
    ASSERT_TRUE(ReadUntil(*watches[i], seen, IsAction(Action::kJoin, "u")))
        << "replica " << i << ": " << watches[i]->Finish();
  }

  // Traffic through every replica while Redis goes away.
  struct Outcome {
    bool started_after_kill;
    absl::Status status;
  };
  std::atomic<bool> killed{false};
  std::atomic<bool> stop_traffic{false};
  std::mutex outcomes_mu;
  std::vector<Outcome> outcomes;
  std::thread traffic([&] {
    for (int n = 0; !stop_traffic; ++n) {
      const bool after = killed;
      absl::Status status = clients_[n % kReplicas]
                                .heartbeat()
                                .user_id("traffic")
                                .channels({"busy"})
                                .timeout_seconds(60)
                                .timeout(absl::Seconds(3))
                                .execute()
                                .status();
      {
        std::lock_guard<std::mutex> lock(outcomes_mu);
        outcomes.push_back({after, status});
      }
      absl::SleepFor(absl::Milliseconds(5));  // Pacing, not waiting.
    }
  });
  // Some traffic succeeds before the outage.
  const absl::Time traffic_deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < traffic_deadline) {
    {
      std::lock_guard<std::mutex> lock(outcomes_mu);
      if (outcomes.size() >= 3) break;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  redis_->Kill();
  killed = true;

  // Every kind of call fails fast with UNAVAILABLE on every replica.
  for (int i = 0; i < kReplicas; ++i) {
    SCOPED_TRACE(absl::StrCat("replica ", i));
    const absl::Duration deadline = absl::Seconds(3);
    PresenceClient& c = clients_[i];
    EXPECT_EQ(c.heartbeat()
                  .user_id("v")
                  .channels({"outage"})
                  .timeout(deadline)
                  .execute()
                  .status()
                  .code(),
              absl::StatusCode::kUnavailable);
    EXPECT_EQ(c.here_now()
                  .channels({"outage"})
                  .timeout(deadline)
                  .execute()
                  .status()
                  .code(),
              absl::StatusCode::kUnavailable);
    EXPECT_EQ(
        c.where_now().user_id("u").timeout(deadline).execute().status().code(),
        absl::StatusCode::kUnavailable);
    EXPECT_EQ(c.get_presence_state()
                  .user_id("u")
                  .channels({"outage"})
                  .timeout(deadline)
                  .execute()
                  .status()
                  .code(),
              absl::StatusCode::kUnavailable);
    EXPECT_EQ(c.set_presence_state(Json::object({{"a", 1}}))
                  .user_id("u")
                  .channels({"outage"})
                  .timeout(deadline)
                  .execute()
                  .status()
                  .code(),
              absl::StatusCode::kUnavailable);
    EXPECT_EQ(c.leave()
                  .user_id("u")
                  .channels({"outage"})
                  .timeout(deadline)
                  .execute()
                  .status()
                  .code(),
              absl::StatusCode::kUnavailable);
  }
  // Readiness follows; the processes keep running and answering.
  for (int i = 0; i < kReplicas; ++i) {
    EXPECT_TRUE(WaitForHealth(replicas_[i]->address(),
                              HealthCheckResponse::NOT_SERVING))
        << "replica " << i << ":\n"
        << replicas_[i]->Log();
  }
  // Watches end: they may have missed events.
  for (int i = 0; i < kReplicas; ++i) {
    std::vector<WatchEvent> rest;
    EXPECT_FALSE(
        ReadUntil(*watches[i], rest, [](const WatchEvent&) { return false; }));
    EXPECT_THAT(Describe(rest), IsEmpty()) << "replica " << i;
    EXPECT_EQ(watches[i]->Finish().code(), absl::StatusCode::kUnavailable)
        << "replica " << i;
  }
  stop_traffic = true;
  traffic.join();
  int failed_after_kill = 0;
  for (const Outcome& outcome : outcomes) {
    if (outcome.started_after_kill) {
      EXPECT_EQ(outcome.status.code(), absl::StatusCode::kUnavailable)
          << outcome.status;
      ++failed_after_kill;
    } else {
      EXPECT_TRUE(outcome.status.ok() ||
                  outcome.status.code() == absl::StatusCode::kUnavailable)
          << outcome.status;
    }
  }
  EXPECT_GT(failed_after_kill, 0);

  // Redis comes back (empty) on the same port: the same processes serve.
  ASSERT_TRUE(redis_->Restart().ok());
  for (int i = 0; i < kReplicas; ++i) {
    ASSERT_TRUE(
        WaitForHealth(replicas_[i]->address(), HealthCheckResponse::SERVING))
        << "replica " << i << ":\n"
        << replicas_[i]->Log();
  }
  std::vector<std::unique_ptr<EventStream>> new_watches =
      WatchEverywhere("after");
  ASSERT_EQ(new_watches.size(), static_cast<size_t>(kReplicas));
  for (int i = 0; i < kReplicas; ++i) {
    absl::Status beat = clients_[i]
                            .heartbeat()
                            .user_id(absl::StrCat("back", i))
                            .channels({"after"})
                            .timeout_seconds(60)
                            .execute()
                            .status();
    EXPECT_TRUE(beat.ok()) << "replica " << i << ": " << beat;
  }
  for (int i = 0; i < kReplicas; ++i) {
    absl::StatusOr<client::HereNowResult> here =
        clients_[i].here_now().channels({"after"}).execute();
    ASSERT_TRUE(here.ok()) << "replica " << i << ": " << here.status();
    EXPECT_EQ(here->total_occupancy, 3u) << "replica " << i;
  }
  for (int i = 0; i < kReplicas; ++i) {
    std::vector<WatchEvent> seen;
    ASSERT_TRUE(
        ReadUntil(*new_watches[i], seen, IsAction(Action::kJoin, "back2")))
        << "replica " << i << ": " << new_watches[i]->Finish();
    EXPECT_THAT(Describe(seen),
                ElementsAre("active", "join:back0", "join:back1", "join:back2"))
        << "replica " << i;
  }
}

// The pid of the replica holding the webhook lease ("<pid>-..." is its
// owner id), read with redis-cli; -1 if none.
pid_t LeaseHolderPid(int redis_port) {
  const std::string command = absl::StrCat("redis-cli -p ", redis_port,
                                           " --raw GET 'presence:{g}:lease'");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  char buffer[256] = {};
  const size_t n = fread(buffer, 1, sizeof(buffer) - 1, pipe);
  pclose(pipe);
  const std::string value(buffer, n);
  int pid = -1;
  if (!absl::SimpleAtoi(value.substr(0, value.find('-')), &pid)) return -1;
  return pid;
}

// Webhooks are at least once across replicas: the shared delivery cursor
// moves only past what the receiver acknowledged, so a batch in flight when
// its replica is SIGKILLed is sent again by the replica that takes the
// lease over (a duplicate, which receivers dedupe by (channel, sequence)).
TEST_F(ReplicasTest, AWebhookBatchInFlightOnAKilledReplicaIsSentAgain) {
  auto receiver = HttpReceiver::Start();
  ASSERT_TRUE(receiver.ok()) << receiver.status();
  (*receiver)->Pause();  // Receives the batch and holds it, unanswered.
  ASSERT_NO_FATAL_FAILURE(StartReplicas({
      "--webhook_url=" + (*receiver)->url("/hook"),
      "--webhook_secret=s3cret",
      "--webhook_batch_delay=20ms",
  }));
  ASSERT_TRUE(Join(kA, "held", "inflight", 60).ok());
  // One batch in flight per URL: until it is answered, this is the only
  // request, and it came from the lease holder.
  ASSERT_TRUE((*receiver)->WaitForRequests(1));
  WebhookTally first(receiver->get());
  ASSERT_TRUE(first.ReadUntil(
      [](const WebhookTally& t) { return !t.deliveries().empty(); }));
  const pid_t holder_pid = LeaseHolderPid(redis_->port());
  int holder = -1;
  for (int i = 0; i < kReplicas; ++i) {
    if (replicas_[i]->pid() == holder_pid) holder = i;
  }
  ASSERT_GE(holder, 0) << "no replica holds the lease (" << holder_pid << ")";
  const int status = Kill(holder);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  (*receiver)->Resume();

  // Another replica takes the lease once it expires and sends every event
  // of the unacknowledged batch again.
  WebhookTally all(receiver->get());
  ASSERT_TRUE(all.ReadUntil([&](const WebhookTally& t) {
    for (const auto& [key, count] : first.deliveries()) {
      if (t.count(key.first, key.second) < 2) return false;
    }
    return true;
  })) << "the batch in flight was not sent again; got "
      << (*receiver)->requests().size() << " requests";
}

TEST_F(ReplicasTest, AKilledReplicaLosesNothingAcknowledged) {
  ASSERT_NO_FATAL_FAILURE(StartReplicas());
  std::unique_ptr<EventStream> watch = Watch(kB, "crash");
  ASSERT_NE(watch, nullptr);
  // v first, so its first deadline passes before u's.
  for (const char* user : {"v", "u"}) {
    ASSERT_TRUE(Join(kA, user, "crash", 2).ok());
  }
  const int status = Kill(kA);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;

  // v's client moves to B and keeps v alive there.
  ASSERT_TRUE(Join(kB, "v", "crash", 30).ok());
  absl::StatusOr<client::HereNowResult> here =
      clients_[kC].here_now().channels({"crash"}).execute();
  ASSERT_TRUE(here.ok()) << here.status();
  ASSERT_EQ(here->channels.size(), 1u);
  EXPECT_EQ(here->channels[0].occupancy, 2u);

  // u's deadline lives in Redis: the surviving replicas time it out.
  std::vector<WatchEvent> seen;
  ASSERT_TRUE(ReadUntil(*watch, seen, IsAction(Action::kTimeout, "u")))
      << watch->Finish() << "; saw " << absl::StrJoin(Describe(seen), ", ");
  // A marker: a timeout of v would come before it.
  ASSERT_TRUE(clients_[kC]
                  .set_presence_state(Json::object({{"still", "here"}}))
                  .user_id("v")
                  .channels({"crash"})
                  .execute()
                  .ok());
  ASSERT_TRUE(ReadUntil(*watch, seen, IsAction(Action::kStateChange, "v")))
      << watch->Finish();
  EXPECT_THAT(Describe(seen), ElementsAre("active", "join:v", "join:u",
                                          "timeout:u", "state-change:v"));

  for (int i : {kB, kC}) {
    absl::StatusOr<client::HereNowResult> now =
        clients_[i].here_now().channels({"crash"}).execute();
    ASSERT_TRUE(now.ok()) << now.status();
    ASSERT_EQ(now->channels.size(), 1u);
    EXPECT_EQ(now->channels[0].occupancy, 1u) << "replica " << i;
    ASSERT_EQ(now->channels[0].occupants.size(), 1u);
    EXPECT_EQ(now->channels[0].occupants[0].user_id, "v");
  }
}

}  // namespace
}  // namespace presence
