#include "presence/store/redis/redis_store.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "presence/base/mutex.h"
#include "presence/internal/group_mirror.h"
#include "presence/internal/listener_list.h"
#include "presence/internal/store_errors.h"
#include "presence/store/redis/redis_pipeline.h"
#include "presence/store/redis/redis_scripts_lua.h"

namespace presence {
namespace {

// Whether a function call's outcome is Redis failing (for the round-trip
// metrics), as opposed to success or the request's own refusal (a missing
// group, a full group, a per-user limit).
bool IsBackendFailure(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDataLoss:
      return true;
    default:
      return false;
  }
}

constexpr char kSep = '\1';

// The functions of redis_scripts.lua.
const RedisLibrary& Library() {
  static const RedisLibrary* const library =
      new RedisLibrary("presence", kRedisScriptsLua);
  return *library;
}

// A stream entry id "ms-seq", comparable.
struct StreamId {
  uint64_t ms = 0;
  uint64_t seq = 0;

  static StreamId Parse(absl::string_view id) {
    StreamId out;
    std::pair<absl::string_view, absl::string_view> parts =
        absl::StrSplit(id, absl::MaxSplits('-', 1));
    (void)absl::SimpleAtoi(parts.first, &out.ms);
    (void)absl::SimpleAtoi(parts.second, &out.seq);
    return out;
  }
  bool operator<(const StreamId& o) const {
    return ms != o.ms ? ms < o.ms : seq < o.seq;
  }
  std::string ToString() const { return absl::StrCat(ms, "-", seq); }
};

void AppendList(std::vector<std::string>& args,
                const std::vector<std::string>& items) {
  args.push_back(absl::StrCat(items.size()));
  args.insert(args.end(), items.begin(), items.end());
}

std::vector<std::string> SplitList(absl::string_view joined) {
  if (joined.empty()) return {};
  return absl::StrSplit(joined, kSep);
}

std::vector<std::string> Strings(const RedisReply& reply) {
  std::vector<std::string> out;
  out.reserve(reply.elements.size());
  for (const RedisReply& element : reply.elements) out.push_back(element.str);
  return out;
}

// A stream entry's field/value list as a map (views into `fields`).
absl::flat_hash_map<absl::string_view, absl::string_view> FieldMap(
    const RedisReply& fields) {
  absl::flat_hash_map<absl::string_view, absl::string_view> map;
  for (size_t i = 0; i + 1 < fields.elements.size(); i += 2) {
    map[fields.elements[i].str] = fields.elements[i + 1].str;
  }
  return map;
}

std::optional<EventType> ParseEventType(absl::string_view name) {
  static const auto* const types =
      new absl::flat_hash_map<std::string, EventType>{
          {"join", EventType::kJoin},
          {"leave", EventType::kLeave},
          {"timeout", EventType::kTimeout},
          {"state-change", EventType::kStateChange},
          {"interval", EventType::kInterval},
          {"active", EventType::kActive},
          {"inactive", EventType::kInactive},
      };
  auto it = types->find(name);
  if (it == types->end()) return std::nullopt;
  return it->second;
}

// A name for this store among the replicas sharing a Redis (the lease's
// holder): unique without relying on any clock.
std::string NewOwnerId(const void* store) {
  std::random_device random;
  return absl::StrCat(getpid(), "-", reinterpret_cast<uintptr_t>(store), "-",
                      uint64_t{random()} << 32 | random());
}

// Holds the result of an asynchronous call until the caller takes it: the
// synchronous forms are the asynchronous ones and a wait.
template <typename T>
class Awaited {
 public:
  absl::AnyInvocable<void(T) &&> Callback() {
    return [this](T value) {
      MutexLock lock(&mu_);
      value_ = std::move(value);
      ready_.SignalAll();
    };
  }

  T Wait() {
    MutexLock lock(&mu_);
    while (!value_.has_value()) ready_.Wait(&mu_);
    return *std::move(value_);
  }

 private:
  Mutex mu_;
  CondVar ready_;
  std::optional<T> value_ ABSL_GUARDED_BY(mu_);
};

absl::Status BlockingOnIoThreadError() {
  return absl::FailedPreconditionError(
      "a synchronous Redis store call on the store's I/O thread (from a "
      "completion callback) would wait for itself");
}

// Runs `start` with a callback and waits for it; refuses on an I/O thread,
// where the wait would never end.
template <typename T, typename Start>
T Await(Start start) {
  if (RedisPipeline::OnIoThread()) return T(BlockingOnIoThreadError());
  Awaited<T> awaited;
  start(awaited.Callback());
  return awaited.Wait();
}

class RedisStore : public PresenceStore {
 public:
  RedisStore(const RedisStoreOptions& options, RedisEndpoint endpoint,
             Clock* clock)
      : options_(options),
        clock_(clock),
        client_(std::move(endpoint), options.pool, {&Library()}),
        common_head_(CommonHead(options)),
        common_tail_(CommonTail(options)),
        stream_keys_(StreamKeys(options)),
        positions_(stream_keys_.size()),
        read_counts_(stream_keys_.size()) {}

  ~RedisStore() override {
    {
      MutexLock lock(&stop_mu_);
      stopping_ = true;
    }
    stop_.SignalAll();
    if (reader_.joinable()) reader_.join();
    if (leader_.joinable()) leader_.join();
  }

  // Starts the event feed: at the streams' current ends if Redis answers
  // now (so no event of a later call is missed), else as soon as it does.
  void StartFeed() {
    absl::StatusOr<std::unique_ptr<RedisConnection>> connection =
        RedisConnection::Connect(client_.endpoint(), options_.pool.timeout,
                                 options_.read_block);
    if (connection.ok() && !Resync(**connection).ok()) connection->reset();
    reader_ =
        std::thread([this, first = connection.ok() ? *std::move(connection)
                                                   : nullptr]() mutable {
          ReadEvents(std::move(first));
        });
  }

  // The synchronous forms: the asynchronous ones and a wait.
  absl::StatusOr<HereNowResult> HereNow(
      const HereNowRequest& request) override {
    return Await<absl::StatusOr<HereNowResult>>(
        [&](auto done) { HereNowAsync(request, std::move(done)); });
  }
  absl::StatusOr<WhereNowResult> WhereNow(
      const WhereNowRequest& request) override {
    return Await<absl::StatusOr<WhereNowResult>>(
        [&](auto done) { WhereNowAsync(request, std::move(done)); });
  }
  absl::StatusOr<SetStateResult> SetState(
      const SetStateRequest& request) override {
    return Await<absl::StatusOr<SetStateResult>>(
        [&](auto done) { SetStateAsync(request, std::move(done)); });
  }
  absl::StatusOr<GetStateResult> GetState(
      const GetStateRequest& request) override {
    return Await<absl::StatusOr<GetStateResult>>(
        [&](auto done) { GetStateAsync(request, std::move(done)); });
  }
  absl::Status Heartbeat(const HeartbeatRequest& request) override {
    return Await<absl::Status>(
        [&](auto done) { HeartbeatAsync(request, std::move(done)); });
  }
  absl::StatusOr<LeaveResult> Leave(const LeaveRequest& request) override {
    return Await<absl::StatusOr<LeaveResult>>(
        [&](auto done) { LeaveAsync(request, std::move(done)); });
  }
  std::vector<BatchEntryResult> Batch(
      const std::vector<BatchEntry>& entries) override {
    if (RedisPipeline::OnIoThread()) {
      std::vector<BatchEntryResult> results(entries.size());
      for (BatchEntryResult& result : results) {
        result.status = BlockingOnIoThreadError();
      }
      return results;
    }
    Awaited<std::vector<BatchEntryResult>> awaited;
    BatchAsync(entries, awaited.Callback());
    return awaited.Wait();
  }
  absl::StatusOr<StoreStats> Stats() override {
    return Await<absl::StatusOr<StoreStats>>(
        [&](auto done) { StatsAsync(std::move(done)); });
  }
  absl::Status ExpireSessions() override {
    return Await<absl::Status>([&](auto done) {
      RunAsync(
          "expire", {}, "", clock_->Now(),
          [done = std::move(done)](absl::StatusOr<RedisReply> reply) mutable {
            std::move(done)(std::move(reply).status());
          });
    });
  }
  absl::Status AddChannelsToGroup(
      absl::string_view group,
      const std::vector<std::string>& channels) override {
    return Await<absl::Status>([&](auto done) {
      AddChannelsToGroupAsync(group, channels, std::move(done));
    });
  }
  absl::Status RemoveChannelsFromGroup(
      absl::string_view group,
      const std::vector<std::string>& channels) override {
    return Await<absl::Status>([&](auto done) {
      RemoveChannelsFromGroupAsync(group, channels, std::move(done));
    });
  }
  absl::StatusOr<std::vector<std::string>> ListChannelsInGroup(
      absl::string_view group) override {
    return Await<absl::StatusOr<std::vector<std::string>>>(
        [&](auto done) { ListChannelsInGroupAsync(group, std::move(done)); });
  }
  absl::StatusOr<std::vector<std::string>> ListGroups() override {
    return Await<absl::StatusOr<std::vector<std::string>>>(
        [&](auto done) { ListGroupsAsync(std::move(done)); });
  }
  absl::Status DeleteGroup(absl::string_view group) override {
    return Await<absl::Status>(
        [&](auto done) { DeleteGroupAsync(group, std::move(done)); });
  }

  void HereNowAsync(const HereNowRequest& request,
                    StoreCallback<HereNowResult> done) override;
  void WhereNowAsync(const WhereNowRequest& request,
                     StoreCallback<WhereNowResult> done) override;
  void SetStateAsync(const SetStateRequest& request,
                     StoreCallback<SetStateResult> done) override;
  void GetStateAsync(const GetStateRequest& request,
                     StoreCallback<GetStateResult> done) override;
  void HeartbeatAsync(const HeartbeatRequest& request,
                      StoreStatusCallback done) override;
  void LeaveAsync(const LeaveRequest& request,
                  StoreCallback<LeaveResult> done) override;
  void BatchAsync(
      const std::vector<BatchEntry>& entries,
      absl::AnyInvocable<void(std::vector<BatchEntryResult>) &&> done) override;
  void AddChannelsToGroupAsync(absl::string_view group,
                               const std::vector<std::string>& channels,
                               StoreStatusCallback done) override;
  void RemoveChannelsFromGroupAsync(absl::string_view group,
                                    const std::vector<std::string>& channels,
                                    StoreStatusCallback done) override;
  void ListChannelsInGroupAsync(
      absl::string_view group,
      StoreCallback<std::vector<std::string>> done) override;
  void ListGroupsAsync(StoreCallback<std::vector<std::string>> done) override;
  void DeleteGroupAsync(absl::string_view group,
                        StoreStatusCallback done) override;
  void StatsAsync(StoreCallback<StoreStats> done);

  void AddListener(EventListener* listener) override
      ABSL_LOCKS_EXCLUDED(dispatch_mu_);
  void RemoveListener(EventListener* listener) override {
    listeners_.Remove(listener);
  }
  void AddExclusiveListener(EventListener* listener) override;
  void RemoveExclusiveListener(EventListener* listener) override {
    exclusive_listeners_.Remove(listener);
  }
  absl::Status SyncEvents() override ABSL_LOCKS_EXCLUDED(positions_mu_);
  bool Healthy() const override { return client_.healthy() && feed_ok_.load(); }

 private:
  static std::vector<std::string> StreamKeys(const RedisStoreOptions& options) {
    std::vector<std::string> keys;
    keys.reserve(options.shards + 1);
    for (int s = 0; s < options.shards; ++s) {
      keys.push_back(absl::StrCat(options.key_prefix, ":{s", s, "}:events"));
    }
    keys.push_back(absl::StrCat(options.key_prefix, ":{g}:events"));
    return keys;
  }

  // The arguments every function starts with (see redis_scripts.lua), in
  // wire form: those before "now", and those after it.
  static std::string CommonHead(const RedisStoreOptions& options) {
    std::string out;
    RespArg(out, options.key_prefix);
    RespArg(out, absl::StrCat(options.shards));
    return out;
  }
  static std::string CommonTail(const RedisStoreOptions& options) {
    std::string out;
    RespArg(out, absl::StrCat(options.events.announce_max));
    RespArg(out,
            absl::StrCat(absl::ToInt64Milliseconds(options.events.interval)));
    RespArg(out, absl::StrCat(options.events.interval_lists_max_bytes));
    RespArg(out, absl::StrCat(options.stream_max_len));
    return out;
  }
  static constexpr size_t kCommonArgs = 7;
  // The same as a list, for the event reader's own connection.
  std::vector<std::string> CommonArgs(absl::Time now) const {
    return {options_.key_prefix,
            absl::StrCat(options_.shards),
            absl::StrCat(absl::ToUnixMillis(now)),
            absl::StrCat(options_.events.announce_max),
            absl::StrCat(absl::ToInt64Milliseconds(options_.events.interval)),
            absl::StrCat(options_.events.interval_lists_max_bytes),
            absl::StrCat(options_.stream_max_len)};
  }

  // The FCALL of a function with the common arguments (`now` rounded down
  // to ms, so nothing is found due before it is) and `args`.
  std::string FunctionCommand(absl::string_view function, absl::Time now,
                              const std::vector<std::string>& args) const;

  // Calls a function asynchronously (on `pipeline`, or the client's pick);
  // `done` gets its reply, with Redis's error replies mapped to statuses
  // (`context` names the group or user that NOTFOUND, ABSENT and GROUPFULL
  // are about).
  void RunAsync(const char* function, const std::vector<std::string>& args,
                std::string context, absl::Time now, RedisCallback done,
                RedisPipeline* pipeline = nullptr);
  // Calls a function and waits for its reply (for the store's own threads).
  absl::StatusOr<RedisReply> Run(const char* function,
                                 const std::vector<std::string>& args) {
    return Await<absl::StatusOr<RedisReply>>([&](auto done) {
      RunAsync(function, args, "", clock_->Now(), std::move(done));
    });
  }
  absl::Status MapError(absl::string_view function, absl::string_view context,
                        absl::string_view error) const;

  // The heartbeat and leave functions' arguments (a heartbeat's include
  // the per-user limits of `limits`).
  static std::vector<std::string> HeartbeatArgs(const HeartbeatRequest& request,
                                                absl::Time now,
                                                const Limits& limits);
  static std::vector<std::string> LeaveArgs(const LeaveRequest& request);
  static LeaveResult ToLeaveResult(const RedisReply& reply);

  // Whether the destructor has begun.
  bool stopping() const ABSL_LOCKS_EXCLUDED(stop_mu_) {
    MutexLock lock(&stop_mu_);
    return stopping_;
  }

  // Waits until the injected clock has moved `d` past now, or the store is
  // stopping; returns false in the latter case. It looks at the clock every
  // few real milliseconds, so a test's SimulatedClock decides when the wait
  // ends, and the destructor never waits for it.
  bool WaitFor(absl::Duration d) ABSL_LOCKS_EXCLUDED(stop_mu_);

  // The event feed, on its own thread and connection.
  void ReadEvents(std::unique_ptr<RedisConnection> connection);
  // Starts (or restarts) the feed at the streams' ends; sends group state.
  // With `lost` not OK, first tells the listeners that (OnEventsInterrupted)
  // once the new positions are taken.
  absl::Status Resync(RedisConnection& connection,
                      const absl::Status& lost = absl::OkStatus())
      ABSL_LOCKS_EXCLUDED(dispatch_mu_, positions_mu_);
  void Dispatch(size_t stream, const RedisReply& fields)
      ABSL_LOCKS_EXCLUDED(dispatch_mu_);
  void FeedBroken(const absl::Status& status) ABSL_LOCKS_EXCLUDED(dispatch_mu_);
  // Returns DATA_LOSS if trimming cut a stream of `read` (an XREAD reply)
  // after this reader's position in it: events were lost to this replica.
  // Checked after the read, so trimming in between (a reader within one
  // read of the cap) also counts: conservative, never a silent loss.
  absl::Status CheckGaps(RedisConnection& connection, const RedisReply& read)
      ABSL_LOCKS_EXCLUDED(positions_mu_);
  // The index of a stream key in stream_keys_.
  size_t StreamIndex(absl::string_view key) const;
  // Decodes a shard stream entry's fields; nullopt for an unknown type.
  static std::optional<PresenceEvent> DecodeEvent(const RedisReply& fields);

  // Exclusive delivery: holds a lease in Redis and, while it does, reads
  // the shard streams from a cursor shared by all replicas and hands the
  // events to the exclusive listeners.
  void Lead();
  // The lease holder's delivery: how far it has read each shard stream,
  // how far its exclusive listeners are done (the shared cursor it
  // records), and the events offered but not yet done, in offered order.
  struct LeadState {
    struct Pending {
      uint64_t position;  // PresenceEvent::delivery_position.
      size_t stream;
      StreamId id;
    };
    std::vector<StreamId> read;
    std::vector<StreamId> done;
    std::deque<Pending> pending;
    uint64_t offered = 0;  // The last delivery_position given out.
  };
  // One round as lease holder: reads and delivers what is new, and records
  // in the shared cursor how far the listeners are done. Returns whether
  // the lease was still held at the end.
  absl::StatusOr<bool> LeadRound(RedisConnection& connection, LeadState& state);

  const RedisStoreOptions options_;
  Clock* const clock_;
  // Requests (functions), pipelined; the event reader and the lease holder
  // have connections of their own for their blocking reads.
  RedisClient client_;
  const std::string common_head_;
  const std::string common_tail_;
  const std::vector<std::string> stream_keys_;
  ListenerList listeners_;

  // Serialises dispatching with adding listeners, so a new listener gets the
  // current groups and then every change, in order.
  Mutex dispatch_mu_;
  GroupMirror groups_ ABSL_GUARDED_BY(dispatch_mu_);

  Mutex positions_mu_;
  CondVar positions_advanced_;
  // Read up to here.
  std::vector<StreamId> positions_ ABSL_GUARDED_BY(positions_mu_);
  // How many entries each stream had ever been added when the reader read
  // through positions_ (Redis's entries-added then): the gap check.
  std::vector<uint64_t> read_counts_ ABSL_GUARDED_BY(positions_mu_);
  std::atomic<bool> feed_ok_{false};

  mutable Mutex stop_mu_;
  CondVar stop_;  // Signalled when stopping_ is set.
  bool stopping_ ABSL_GUARDED_BY(stop_mu_) = false;

  std::thread reader_;
  // Exclusive delivery (see Lead()).
  ListenerList exclusive_listeners_;
  const std::string owner_ = NewOwnerId(this);
  std::once_flag lead_once_;
  std::thread leader_;
};

std::string RedisStore::FunctionCommand(
    absl::string_view function, absl::Time now,
    const std::vector<std::string>& args) const {
  size_t bytes = 96 + common_head_.size() + common_tail_.size();
  for (const std::string& arg : args) bytes += arg.size() + 16;
  std::string out;
  out.reserve(bytes);
  RespBegin(out, 3 + kCommonArgs + args.size());
  RespArg(out, "FCALL");
  RespArg(out, Library().Function(function));
  RespArg(out, "0");
  out.append(common_head_);
  RespArg(out, absl::StrCat(absl::ToUnixMillis(now)));
  out.append(common_tail_);
  for (const std::string& arg : args) RespArg(out, arg);
  return out;
}

absl::Status RedisStore::MapError(absl::string_view function,
                                  absl::string_view context,
                                  absl::string_view error) const {
  if (absl::ConsumePrefix(&error, "NOTFOUND ")) {
    return GroupNotFoundError(error);
  }
  if (absl::ConsumePrefix(&error, "ABSENT ")) {
    return NotPresentError(context, SplitList(error));
  }
  if (absl::ConsumePrefix(&error, "USERLIMIT ")) {
    // "sessions <count>" or "channels <count>"; `context` is the user.
    const bool sessions = absl::ConsumePrefix(&error, "sessions ");
    if (!sessions) error = absl::StripPrefix(error, "channels ");
    size_t count = 0;
    (void)absl::SimpleAtoi(error, &count);
    return sessions
               ? UserLimitError(context, UserLimit::kSessionsPerUser,
                                options_.limits.max_sessions_per_user, count)
               : UserLimitError(context, UserLimit::kChannelsPerUser,
                                options_.limits.max_channels_per_user, count);
  }
  if (absl::ConsumePrefix(&error, "GROUPFULL ")) {
    size_t would_hold = 0;
    (void)absl::SimpleAtoi(error, &would_hold);
    return GroupFullError(context, would_hold,
                          options_.limits.max_channels_per_group);
  }
  return absl::InternalError(
      absl::StrCat("redis function ", function, ": ", error));
}

void RedisStore::RunAsync(const char* function,
                          const std::vector<std::string>& args,
                          std::string context, absl::Time now,
                          RedisCallback done, RedisPipeline* pipeline) {
  RedisPipeline& target = pipeline != nullptr ? *pipeline : client_.Pick();
  target.Send(
      FunctionCommand(function, now, args), &Library(),
      [this, function, context = std::move(context), sent = clock_->Now(),
       done = std::move(done)](absl::StatusOr<RedisReply> reply) mutable {
        absl::Status mapped = reply.ok() ? absl::OkStatus() : reply.status();
        if (reply.ok() && reply->is_error()) {
          mapped = MapError(function, context, reply->str);
        }
        if (options_.on_round_trip) {
          options_.on_round_trip(
              function, std::max(clock_->Now() - sent, absl::ZeroDuration()),
              IsBackendFailure(mapped));
        }
        if (!mapped.ok()) return std::move(done)(std::move(mapped));
        std::move(done)(std::move(reply));
      });
}

std::vector<std::string> RedisStore::HeartbeatArgs(
    const HeartbeatRequest& request, absl::Time now, const Limits& limits) {
  // One clock read: the function's "now" is rounded down, the deadline up.
  const absl::Time deadline = now + absl::Seconds(request.timeout_seconds);
  const int64_t deadline_ms = absl::ToInt64Milliseconds(
      absl::Ceil(deadline - absl::UnixEpoch(), absl::Milliseconds(1)));
  std::vector<std::string> args = {request.user_id, request.session_id,
                                   absl::StrCat(deadline_ms)};
  AppendList(args, request.channels);
  AppendList(args, request.channel_groups);
  args.push_back(absl::StrCat(request.states.size() * 2));
  for (const auto& [key, state] : request.states) {
    args.push_back(key);
    args.push_back(state);
  }
  args.push_back(absl::StrCat(limits.max_sessions_per_user));
  args.push_back(absl::StrCat(limits.max_channels_per_user));
  return args;
}

std::vector<std::string> RedisStore::LeaveArgs(const LeaveRequest& request) {
  std::vector<std::string> args = {request.user_id, request.session_id};
  AppendList(args, request.channels);
  AppendList(args, request.channel_groups);
  return args;
}

LeaveResult RedisStore::ToLeaveResult(const RedisReply& reply) {
  LeaveResult result;
  result.channels = Strings(reply);
  std::sort(result.channels.begin(), result.channels.end());
  return result;
}

void RedisStore::HeartbeatAsync(const HeartbeatRequest& request,
                                StoreStatusCallback done) {
  const absl::Time now = clock_->Now();
  RunAsync("heartbeat", HeartbeatArgs(request, now, options_.limits),
           request.user_id, now,
           [done = std::move(done)](absl::StatusOr<RedisReply> reply) mutable {
             std::move(done)(std::move(reply).status());
           });
}

void RedisStore::LeaveAsync(const LeaveRequest& request,
                            StoreCallback<LeaveResult> done) {
  RunAsync("leave", LeaveArgs(request), "", clock_->Now(),
           [done = std::move(done)](absl::StatusOr<RedisReply> reply) mutable {
             if (!reply.ok()) return std::move(done)(std::move(reply).status());
             std::move(done)(ToLeaveResult(*reply));
           });
}

void RedisStore::BatchAsync(
    const std::vector<BatchEntry>& entries,
    absl::AnyInvocable<void(std::vector<BatchEntryResult>) &&> done) {
  if (entries.empty()) return std::move(done)({});
  struct Pending {
    std::vector<BatchEntryResult> results;
    std::atomic<size_t> left;
    absl::AnyInvocable<void(std::vector<BatchEntryResult>) &&> done;
  };
  auto pending = std::make_shared<Pending>();
  pending->results.resize(entries.size());
  pending->left = entries.size();
  pending->done = std::move(done);
  // One connection for the whole batch: Redis runs its entries in order.
  RedisPipeline& pipeline = client_.Pick();
  for (size_t i = 0; i < entries.size(); ++i) {
    const BatchEntry& entry = entries[i];
    const bool heartbeat = entry.kind == BatchEntry::Kind::kHeartbeat;
    const absl::Time now = clock_->Now();
    RunAsync(
        heartbeat ? "heartbeat" : "leave",
        heartbeat ? HeartbeatArgs(entry.heartbeat, now, options_.limits)
                  : LeaveArgs(entry.leave),
        heartbeat ? entry.heartbeat.user_id : "", now,
        [pending, i, heartbeat](absl::StatusOr<RedisReply> reply) {
          BatchEntryResult& result = pending->results[i];
          if (!reply.ok()) {
            result.status = std::move(reply).status();
          } else if (!heartbeat) {
            result.leave = ToLeaveResult(*reply);
          }
          if (pending->left.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            std::move(pending->done)(std::move(pending->results));
          }
        },
        &pipeline);
  }
}

void RedisStore::SetStateAsync(const SetStateRequest& request,
                               StoreCallback<SetStateResult> done) {
  std::vector<std::string> args = {request.user_id, request.state};
  AppendList(args, request.channels);
  AppendList(args, request.channel_groups);
  RunAsync("set_state", args, request.user_id, clock_->Now(),
           [state = request.state,
            done = std::move(done)](absl::StatusOr<RedisReply> reply) mutable {
             if (!reply.ok()) return std::move(done)(std::move(reply).status());
             SetStateResult result;
             result.channels = Strings(*reply);
             std::sort(result.channels.begin(), result.channels.end());
             result.state = std::move(state);
             std::move(done)(std::move(result));
           });
}

void RedisStore::GetStateAsync(const GetStateRequest& request,
                               StoreCallback<GetStateResult> done) {
  std::vector<std::string> args = {request.user_id};
  AppendList(args, request.channels);
  AppendList(args, request.channel_groups);
  RunAsync("get_state", args, "", clock_->Now(),
           [done = std::move(done)](absl::StatusOr<RedisReply> reply) mutable {
             if (!reply.ok()) return std::move(done)(std::move(reply).status());
             GetStateResult result;
             for (size_t i = 0; i + 1 < reply->elements.size(); i += 2) {
               result.states.push_back(
                   ChannelState{std::move(reply->elements[i].str),
                                std::move(reply->elements[i + 1].str)});
             }
             std::sort(result.states.begin(), result.states.end(),
                       [](const ChannelState& a, const ChannelState& b) {
                         return a.channel < b.channel;
                       });
             std::move(done)(std::move(result));
           });
}

void RedisStore::HereNowAsync(const HereNowRequest& request,
                              StoreCallback<HereNowResult> done) {
  std::vector<std::string> args = {
      request.include_user_ids ? "1" : "0", request.include_state ? "1" : "0",
      absl::StrCat(request.limit), absl::StrCat(request.offset)};
  AppendList(args, request.channels);
  AppendList(args, request.channel_groups);
  RunAsync(
      "here_now", args, "", clock_->Now(),
      [done = std::move(done)](absl::StatusOr<RedisReply> reply) mutable {
        if (!reply.ok()) return std::move(done)(std::move(reply).status());
        HereNowResult result;
        result.channels.reserve(reply->elements.size());
        for (RedisReply& entry : reply->elements) {
          ChannelOccupancy channel;
          channel.name = std::move(entry.elements[0].str);
          channel.occupancy = static_cast<uint32_t>(entry.elements[1].integer);
          std::vector<RedisReply>& ids = entry.elements[2].elements;
          std::vector<RedisReply>& states = entry.elements[3].elements;
          channel.occupants.resize(ids.size());
          for (size_t i = 0; i < ids.size(); ++i) {
            channel.occupants[i].user_id = std::move(ids[i].str);
            if (i < states.size()) {
              channel.occupants[i].state = std::move(states[i].str);
            }
          }
          result.total_occupancy += channel.occupancy;
          result.channels.push_back(std::move(channel));
        }
        std::sort(result.channels.begin(), result.channels.end(),
                  [](const ChannelOccupancy& a, const ChannelOccupancy& b) {
                    return a.name < b.name;
                  });
        result.total_channels = static_cast<uint32_t>(result.channels.size());
        std::move(done)(std::move(result));
      });
}

void RedisStore::WhereNowAsync(const WhereNowRequest& request,
                               StoreCallback<WhereNowResult> done) {
  RunAsync("where_now", {request.user_id}, "", clock_->Now(),
           [done = std::move(done)](absl::StatusOr<RedisReply> reply) mutable {
             if (!reply.ok()) return std::move(done)(std::move(reply).status());
             WhereNowResult result;
             result.channels = Strings(*reply);
             std::sort(result.channels.begin(), result.channels.end());
             std::move(done)(std::move(result));
           });
}

void RedisStore::StatsAsync(StoreCallback<StoreStats> done) {
  RunAsync("stats", {}, "", clock_->Now(),
           [done = std::move(done)](absl::StatusOr<RedisReply> reply) mutable {
             if (!reply.ok()) return std::move(done)(std::move(reply).status());
             StoreStats stats;
             if (reply->elements.size() == 3) {
               stats.channels = reply->elements[0].integer;
               stats.memberships = reply->elements[1].integer;
               stats.sessions = reply->elements[2].integer;
             }
             std::move(done)(stats);
           });
}

void RedisStore::AddChannelsToGroupAsync(
    absl::string_view group, const std::vector<std::string>& channels,
    StoreStatusCallback done) {
  std::vector<std::string> args = {
      std::string(group), absl::StrCat(options_.limits.max_channels_per_group)};
  AppendList(args, channels);
  RunAsync("group_add", args, std::string(group), clock_->Now(),
           [done = std::move(done)](absl::StatusOr<RedisReply> reply) mutable {
             std::move(done)(std::move(reply).status());
           });
}

void RedisStore::RemoveChannelsFromGroupAsync(
    absl::string_view group, const std::vector<std::string>& channels,
    StoreStatusCallback done) {
  std::vector<std::string> args = {std::string(group)};
  AppendList(args, channels);
  RunAsync("group_remove", args, std::string(group), clock_->Now(),
           [done = std::move(done)](absl::StatusOr<RedisReply> reply) mutable {
             std::move(done)(std::move(reply).status());
           });
}

void RedisStore::ListChannelsInGroupAsync(
    absl::string_view group, StoreCallback<std::vector<std::string>> done) {
  RunAsync("group_list", {std::string(group)}, "", clock_->Now(),
           [done = std::move(done)](absl::StatusOr<RedisReply> reply) mutable {
             if (!reply.ok()) return std::move(done)(std::move(reply).status());
             std::vector<std::string> channels = Strings(*reply);
             std::sort(channels.begin(), channels.end());
             std::move(done)(std::move(channels));
           });
}

void RedisStore::ListGroupsAsync(StoreCallback<std::vector<std::string>> done) {
  client_.Send(
      FormatCommand(
          {"SMEMBERS", absl::StrCat(options_.key_prefix, ":{g}:groups")}),
      nullptr,
      [done = std::move(done)](absl::StatusOr<RedisReply> reply) mutable {
        if (!reply.ok()) return std::move(done)(std::move(reply).status());
        if (reply->is_error()) {
          return std::move(done)(absl::InternalError(
              absl::StrCat("redis: SMEMBERS: ", reply->str)));
        }
        std::vector<std::string> groups = Strings(*reply);
        std::sort(groups.begin(), groups.end());
        std::move(done)(std::move(groups));
      });
}

void RedisStore::DeleteGroupAsync(absl::string_view group,
                                  StoreStatusCallback done) {
  RunAsync("group_delete", {std::string(group)}, std::string(group),
           clock_->Now(),
           [done = std::move(done)](absl::StatusOr<RedisReply> reply) mutable {
             std::move(done)(std::move(reply).status());
           });
}

void RedisStore::AddListener(EventListener* listener) {
  // Under the dispatch lock: the reader thread delivers nothing until the
  // listener has every group.
  MutexLock lock(&dispatch_mu_);
  for (const GroupChange& change : groups_.Snapshot()) {
    listener->OnGroupChange(change);
  }
  listeners_.Add(listener);
}

bool RedisStore::WaitFor(absl::Duration d) {
  constexpr absl::Duration kSlice = absl::Milliseconds(10);
  const absl::Time deadline = clock_->Now() + d;
  MutexLock lock(&stop_mu_);
  while (!stopping_) {
    const absl::Duration left = deadline - clock_->Now();
    if (left <= absl::ZeroDuration()) return true;
    stop_.WaitWithTimeout(&stop_mu_, std::min(left, kSlice));
  }
  return false;
}

absl::Status RedisStore::SyncEvents() {
  absl::StatusOr<RedisReply> reply = Run("positions", {});
  if (!reply.ok()) return reply.status();
  std::vector<StreamId> targets;
  for (const RedisReply& id : reply->elements)
    targets.push_back(StreamId::Parse(id.str));
  // A bound in real time, not the injected clock's: this waits for Redis
  // and the reader thread, which only real time moves.
  MutexLock lock(&positions_mu_);
  const bool caught_up = positions_advanced_.WaitFor(
      &positions_mu_,
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(positions_mu_) {
        for (size_t i = 0; i < targets.size(); ++i) {
          if (positions_[i] < targets[i]) return false;
        }
        return true;
      },
      options_.pool.timeout * 5);
  if (!caught_up) {
    return absl::DeadlineExceededError("redis: the event feed is behind");
  }
  return absl::OkStatus();
}

void RedisStore::FeedBroken(const absl::Status& status) {
  if (!feed_ok_.exchange(false)) return;  // Already reported.
  MutexLock lock(&dispatch_mu_);
  groups_.Clear();
  listeners_.NotifyInterrupted(status);
}

absl::Status RedisStore::Resync(RedisConnection& connection,
                                const absl::Status& lost) {
  absl::StatusOr<RedisReply> reply =
      connection.Call(Library(), "group_snapshot", CommonArgs(clock_->Now()));
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) return absl::InternalError(reply->str);
  const size_t streams = stream_keys_.size();
  if (reply->elements.size() < 2 * streams) {
    return absl::InternalError("redis: group_snapshot: a short reply");
  }
  {
    MutexLock lock(&positions_mu_);
    for (size_t i = 0; i < streams; ++i) {
      positions_[i] = StreamId::Parse(reply->elements[i].str);
      read_counts_[i] = static_cast<uint64_t>(
          std::max<int64_t>(reply->elements[streams + i].integer, 0));
    }
  }
  positions_advanced_.SignalAll();
  MutexLock lock(&dispatch_mu_);
  // After the new positions are taken, so that a watcher that starts over
  // once told misses nothing from then on.
  if (!lost.ok()) listeners_.NotifyInterrupted(lost);
  groups_.Clear();
  for (size_t i = 2 * streams; i + 1 < reply->elements.size(); i += 2) {
    GroupChange change{reply->elements[i].str,
                       SplitList(reply->elements[i + 1].str)};
    std::sort(change.channels.begin(), change.channels.end());
    groups_.Apply(change);
    listeners_.NotifyGroupChange(change);
  }
  feed_ok_ = true;
  return absl::OkStatus();
}

std::optional<PresenceEvent> RedisStore::DecodeEvent(const RedisReply& fields) {
  absl::flat_hash_map<absl::string_view, absl::string_view> field =
      FieldMap(fields);
  std::optional<EventType> type = ParseEventType(field["t"]);
  if (!type.has_value()) return std::nullopt;
  PresenceEvent event;
  event.type = *type;
  event.channel = std::string(field["c"]);
  event.user_id = std::string(field["u"]);
  (void)absl::SimpleAtoi(field["o"], &event.occupancy);
  int64_t ms = 0;
  (void)absl::SimpleAtoi(field["ms"], &ms);
  event.time = absl::FromUnixMillis(ms);
  event.state = std::string(field["s"]);
  std::pair<absl::string_view, absl::string_view> sequence =
      absl::StrSplit(field["q"], absl::MaxSplits(':', 1));
  uint64_t epoch = 0, count = 0;
  (void)absl::SimpleAtoi(sequence.first, &epoch);
  (void)absl::SimpleAtoi(sequence.second, &count);
  event.sequence = (epoch << 32) | count;
  if (int64_t deadline_ms = 0; event.type == EventType::kTimeout &&
                               absl::SimpleAtoi(field["d"], &deadline_ms)) {
    event.deadline = absl::FromUnixMillis(deadline_ms);
  }
  if (event.type == EventType::kInterval) {
    event.joined = SplitList(field["j"]);
    event.left = SplitList(field["l"]);
    event.timed_out = SplitList(field["x"]);
    event.here_now_refresh = field["r"] == "1";
  }
  return event;
}

void RedisStore::Dispatch(size_t stream, const RedisReply& fields) {
  MutexLock lock(&dispatch_mu_);
  if (stream == stream_keys_.size() - 1) {
    absl::flat_hash_map<absl::string_view, absl::string_view> field =
        FieldMap(fields);
    GroupChange change;
    change.group = std::string(field["g"]);
    change.channels = SplitList(field["cs"]);
    std::sort(change.channels.begin(), change.channels.end());
    groups_.Apply(change);
    listeners_.NotifyGroupChange(change);
    return;
  }
  std::optional<PresenceEvent> event = DecodeEvent(fields);
  if (event.has_value()) listeners_.Notify(*event);
}

void RedisStore::ReadEvents(std::unique_ptr<RedisConnection> connection) {
  absl::Duration backoff = options_.pool.initial_backoff;
  const std::string block =
      absl::StrCat(absl::ToInt64Milliseconds(options_.read_block));
  while (!stopping()) {
    if (connection == nullptr || connection->broken()) {
      absl::StatusOr<std::unique_ptr<RedisConnection>> connected =
          RedisConnection::Connect(client_.endpoint(), options_.pool.timeout,
                                   options_.read_block);
      absl::Status status = connected.status();
      if (connected.ok()) {
        connection = *std::move(connected);
        status = Resync(*connection);
      }
      if (!status.ok()) {
        connection.reset();
        FeedBroken(absl::UnavailableError(
            absl::StrCat("the event feed was interrupted (", status.message(),
                         "); re-read and watch again")));
        if (!WaitFor(backoff)) return;
        backoff = std::min(backoff * 2, options_.pool.max_backoff);
        continue;
      }
      backoff = options_.pool.initial_backoff;
    }
    std::vector<std::string> command = {"XREAD", "COUNT", "1000",
                                        "BLOCK", block,   "STREAMS"};
    command.insert(command.end(), stream_keys_.begin(), stream_keys_.end());
    {
      MutexLock lock(&positions_mu_);
      for (const StreamId& id : positions_) command.push_back(id.ToString());
    }
    absl::StatusOr<RedisReply> reply = connection->Command(command);
    if (!reply.ok() || reply->is_error()) {
      connection.reset();
      FeedBroken(absl::UnavailableError(
          absl::StrCat("the event feed was interrupted (",
                       reply.ok() ? reply->str : reply.status().message(),
                       "); re-read and watch again")));
      continue;
    }
    if (reply->type != RedisReply::Type::kArray) continue;  // Timed out.
    if (absl::Status gap = CheckGaps(*connection, *reply); !gap.ok()) {
      // Events were trimmed before this replica read them: resume from the
      // streams' current ends and say so (or, if that fails, say so and
      // reconnect).
      if (!Resync(*connection, gap).ok()) {
        connection.reset();
        FeedBroken(gap);
      }
      continue;
    }
    for (const RedisReply& stream : reply->elements) {
      const size_t index = StreamIndex(stream.elements[0].str);
      for (const RedisReply& entry : stream.elements[1].elements) {
        Dispatch(index, entry.elements[1]);
        MutexLock lock(&positions_mu_);
        positions_[index] = StreamId::Parse(entry.elements[0].str);
        ++read_counts_[index];
      }
    }
    positions_advanced_.SignalAll();
  }
}

size_t RedisStore::StreamIndex(absl::string_view key) const {
  return std::find(stream_keys_.begin(), stream_keys_.end(), key) -
         stream_keys_.begin();
}

absl::Status RedisStore::CheckGaps(RedisConnection& connection,
                                   const RedisReply& read) {
  std::vector<std::string> args = CommonArgs(clock_->Now());
  {
    MutexLock lock(&positions_mu_);
    for (const RedisReply& stream : read.elements) {
      const size_t index = StreamIndex(stream.elements[0].str);
      args.push_back(absl::StrCat(index));
      args.push_back(absl::StrCat(read_counts_[index]));
    }
  }
  absl::StatusOr<RedisReply> gaps = connection.Call(Library(), "gaps", args);
  // A failed check is the connection's failure, which the next read meets.
  if (!gaps.ok() || gaps->is_error() || gaps->elements.empty()) {
    return absl::OkStatus();
  }
  const size_t shards = stream_keys_.size() - 1;
  const int64_t first = gaps->elements[0].integer;
  return absl::DataLossError(absl::StrCat(
      "events were lost: this replica fell behind the event stream ",
      first >= 0 && static_cast<size_t>(first) < shards
          ? absl::StrCat("of shard ", first)
          : std::string("of channel groups"),
      " by more than its capped length (--redis_stream_max_len=",
      options_.stream_max_len,
      ") and the missed events were trimmed; re-read and watch again"));
}

void RedisStore::AddExclusiveListener(EventListener* listener) {
  exclusive_listeners_.Add(listener);
  // Only replicas with exclusive listeners compete for the lease.
  std::call_once(lead_once_,
                 [this] { leader_ = std::thread([this] { Lead(); }); });
}

absl::StatusOr<bool> RedisStore::LeadRound(RedisConnection& connection,
                                           LeadState& state) {
  const size_t shards = stream_keys_.size() - 1;
  std::vector<std::string> command = {
      "XREAD",
      "COUNT",
      "1000",
      "BLOCK",
      absl::StrCat(absl::ToInt64Milliseconds(options_.exclusive_read_block)),
      "STREAMS"};
  command.insert(command.end(), stream_keys_.begin(),
                 stream_keys_.begin() + shards);
  for (size_t i = 0; i < shards; ++i) {
    command.push_back(state.read[i].ToString());
  }
  absl::StatusOr<RedisReply> reply = connection.Command(command);
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) return absl::InternalError(reply->str);
  if (reply->type == RedisReply::Type::kArray) {
    for (const RedisReply& stream : reply->elements) {
      const size_t index = StreamIndex(stream.elements[0].str);
      for (const RedisReply& entry : stream.elements[1].elements) {
        const StreamId id = StreamId::Parse(entry.elements[0].str);
        std::optional<PresenceEvent> event = DecodeEvent(entry.elements[1]);
        if (event.has_value()) {
          event->delivery_position = ++state.offered;
          exclusive_listeners_.Notify(*event);
        }
        // An entry that is no event is done when the event before it is.
        state.pending.push_back({state.offered, index, id});
        state.read[index] = id;
      }
    }
  }
  // The shared cursor moves only past what the listeners are done with
  // (a webhook: acknowledged by its receiver, or given up), so a holder
  // that dies with events in flight leaves them to the next one.
  const uint64_t done = exclusive_listeners_.MinDoneThrough();
  std::vector<bool> moved(shards, false);
  while (!state.pending.empty() && state.pending.front().position <= done) {
    const LeadState::Pending& front = state.pending.front();
    state.done[front.stream] = front.id;
    moved[front.stream] = true;
    state.pending.pop_front();
  }
  std::vector<std::string> checkpoint = {owner_};
  for (size_t i = 0; i < shards; ++i) {
    if (!moved[i]) continue;
    checkpoint.push_back(absl::StrCat(i));
    checkpoint.push_back(state.done[i].ToString());
  }
  if (checkpoint.size() == 1) return true;  // Nothing more is done.
  absl::StatusOr<RedisReply> held = Run("checkpoint", checkpoint);
  if (!held.ok()) return held.status();
  return held->integer == 1;
}

void RedisStore::Lead() {
  // A round (at most one exclusive_read_block XREAD) always starts right
  // after the lease was taken or renewed, so it runs well within the lease.
  const std::string lease_ms =
      absl::StrCat(absl::ToInt64Milliseconds(options_.lease));
  std::unique_ptr<RedisConnection> connection;
  LeadState state;
  state.read.resize(stream_keys_.size() - 1);
  state.done.resize(stream_keys_.size() - 1);
  bool leading = false;
  while (!stopping()) {
    // Without exclusive listeners (all removed, e.g. while shutting down)
    // this replica delivers nothing and so records nothing: the lease
    // lapses and another replica resumes at the shared cursor.
    if (exclusive_listeners_.empty()) {
      leading = false;
      WaitFor(options_.lease_retry);
      continue;
    }
    absl::StatusOr<RedisReply> held = Run("lease", {owner_, lease_ms});
    if (!held.ok() || held->integer != 1) {
      leading = false;
      WaitFor(held.ok() ? options_.lease_retry : options_.pool.initial_backoff);
      continue;
    }
    if (!leading) {
      // Taking over: resume at the shared cursor, re-delivering what the
      // previous holder had not finished. A shard no holder ever delivered
      // from (a new deployment, or a Redis that lost its data) starts at the
      // beginning of its stream: at least once, never skipped. Events this
      // replica offered before (as an earlier holder) may still complete;
      // they are delivered again all the same.
      absl::StatusOr<RedisReply> saved = Run("cursor", {});
      if (!saved.ok()) continue;
      std::fill(state.read.begin(), state.read.end(), StreamId());
      for (size_t i = 0; i + 1 < saved->elements.size(); i += 2) {
        size_t index = 0;
        if (absl::SimpleAtoi(saved->elements[i].str, &index) &&
            index < state.read.size()) {
          state.read[index] = StreamId::Parse(saved->elements[i + 1].str);
        }
      }
      state.done = state.read;
      state.pending.clear();
      leading = true;
    }
    if (connection == nullptr || connection->broken()) {
      absl::StatusOr<std::unique_ptr<RedisConnection>> connected =
          RedisConnection::Connect(client_.endpoint(), options_.pool.timeout,
                                   options_.exclusive_read_block);
      if (!connected.ok()) {
        WaitFor(options_.pool.initial_backoff);
        continue;
      }
      connection = *std::move(connected);
    }
    absl::StatusOr<bool> still_leading = LeadRound(*connection, state);
    if (!still_leading.ok()) connection.reset();
    // Lost the lease, or an error: re-read the cursor when leading again.
    if (!still_leading.ok() || !*still_leading) leading = false;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<PresenceStore>> NewRedisStore(
    const RedisStoreOptions& options, Clock* clock) {
  absl::StatusOr<RedisEndpoint> endpoint = ParseRedisUrl(options.url);
  if (!endpoint.ok()) return endpoint.status();
  auto store =
      std::make_unique<RedisStore>(options, *std::move(endpoint), clock);
  store->StartFeed();
  return store;
}

}  // namespace presence
