#include "presence/store/redis/redis_store.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
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
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "presence/base/mutex.h"
#include "presence/internal/group_mirror.h"
#include "presence/internal/listener_list.h"
#include "presence/internal/store_errors.h"
#include "presence/store/redis/redis_scripts_lua.h"

namespace presence {
namespace {

constexpr char kSep = '\1';

// The scripts of redis_scripts.lua: the library, then one body per name.
class ScriptSet {
 public:
  ScriptSet() {
    const absl::string_view text = kRedisScriptsLua;
    constexpr absl::string_view kMarker = "\n--@@ ";
    size_t at = text.find(kMarker);
    const std::string library(text.substr(0, at + 1));
    while (at != absl::string_view::npos) {
      const size_t name_start = at + kMarker.size();
      const size_t name_end = text.find('\n', name_start);
      const size_t next = text.find(kMarker, name_end);
      std::string name(text.substr(name_start, name_end - name_start));
      std::string body(text.substr(
          name_end, next == absl::string_view::npos ? next : next - name_end));
      scripts_.emplace(std::move(name), RedisScript(library + body));
      at = next;
    }
  }

  const RedisScript& operator[](const std::string& name) const {
    return scripts_.at(name);
  }

 private:
  std::map<std::string, RedisScript> scripts_;
};

const ScriptSet& Scripts() {
  static const ScriptSet* const scripts = new ScriptSet();
  return *scripts;
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

class RedisStore : public PresenceStore {
 public:
  RedisStore(const RedisStoreOptions& options, RedisEndpoint endpoint,
             Clock* clock)
      : options_(options),
        clock_(clock),
        pool_(std::move(endpoint), options.pool),
        stream_keys_(StreamKeys(options)),
        positions_(stream_keys_.size()) {}

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
        RedisConnection::Connect(pool_.endpoint(), options_.pool.timeout,
                                 options_.read_block);
    if (connection.ok() && !Resync(**connection).ok()) connection->reset();
    reader_ =
        std::thread([this, first = connection.ok() ? *std::move(connection)
                                                   : nullptr]() mutable {
          ReadEvents(std::move(first));
        });
  }

  absl::StatusOr<HereNowResult> HereNow(const HereNowRequest& request) override;
  absl::StatusOr<WhereNowResult> WhereNow(
      const WhereNowRequest& request) override;
  absl::StatusOr<SetStateResult> SetState(
      const SetStateRequest& request) override;
  absl::StatusOr<GetStateResult> GetState(
      const GetStateRequest& request) override;
  absl::Status Heartbeat(const HeartbeatRequest& request) override;
  absl::StatusOr<LeaveResult> Leave(const LeaveRequest& request) override;
  absl::Status ExpireSessions() override;

  absl::Status AddChannelsToGroup(
      absl::string_view group,
      const std::vector<std::string>& channels) override;
  absl::Status RemoveChannelsFromGroup(
      absl::string_view group,
      const std::vector<std::string>& channels) override;
  absl::StatusOr<std::vector<std::string>> ListChannelsInGroup(
      absl::string_view group) override;
  absl::StatusOr<std::vector<std::string>> ListGroups() override;
  absl::Status DeleteGroup(absl::string_view group) override;

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
  bool Healthy() const override { return pool_.healthy() && feed_ok_.load(); }

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

  // The arguments every script starts with; `now` rounded down to ms, so
  // nothing is found due before it is.
  std::vector<std::string> CommonArgs(absl::Time now) const {
    return {options_.key_prefix,
            absl::StrCat(options_.shards),
            absl::StrCat(absl::ToUnixMillis(now)),
            absl::StrCat(options_.events.announce_max),
            absl::StrCat(absl::ToInt64Milliseconds(options_.events.interval)),
            absl::StrCat(options_.events.interval_lists_max_bytes),
            absl::StrCat(options_.stream_max_len)};
  }

  // Runs a script; maps error replies to statuses.
  absl::StatusOr<RedisReply> Run(const std::string& script,
                                 std::vector<std::string> args,
                                 absl::string_view context = "",
                                 std::optional<absl::Time> now = std::nullopt);

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
  absl::Status Resync(RedisConnection& connection)
      ABSL_LOCKS_EXCLUDED(dispatch_mu_, positions_mu_);
  void Dispatch(size_t stream, const RedisReply& fields)
      ABSL_LOCKS_EXCLUDED(dispatch_mu_);
  void FeedBroken(const absl::Status& status) ABSL_LOCKS_EXCLUDED(dispatch_mu_);
  // Decodes a shard stream entry's fields; nullopt for an unknown type.
  static std::optional<PresenceEvent> DecodeEvent(const RedisReply& fields);

  // Exclusive delivery: holds a lease in Redis and, while it does, reads
  // the shard streams from a cursor shared by all replicas and hands the
  // events to the exclusive listeners.
  void Lead();
  // One round as lease holder: reads and delivers what is new, and records
  // the cursor. Returns whether the lease was still held at the end.
  absl::StatusOr<bool> LeadRound(RedisConnection& connection,
                                 std::vector<StreamId>& cursor);

  const RedisStoreOptions options_;
  Clock* const clock_;
  RedisPool pool_;
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

absl::StatusOr<RedisReply> RedisStore::Run(const std::string& script,
                                           std::vector<std::string> args,
                                           absl::string_view context,
                                           std::optional<absl::Time> now) {
  std::vector<std::string> all = CommonArgs(now.value_or(clock_->Now()));
  all.insert(all.end(), std::make_move_iterator(args.begin()),
             std::make_move_iterator(args.end()));
  absl::StatusOr<RedisReply> reply = pool_.Eval(Scripts()[script], all);
  if (!reply.ok() || !reply->is_error()) return reply;
  absl::string_view error = reply->str;
  if (absl::ConsumePrefix(&error, "NOTFOUND "))
    return GroupNotFoundError(error);
  if (absl::ConsumePrefix(&error, "ABSENT ")) {
    return NotPresentError(context, SplitList(error));
  }
  if (absl::ConsumePrefix(&error, "GROUPFULL ")) {
    size_t would_hold = 0;
    (void)absl::SimpleAtoi(error, &would_hold);
    return GroupFullError(context, would_hold,
                          options_.limits.max_channels_per_group);
  }
  return absl::InternalError(
      absl::StrCat("redis script ", script, ": ", error));
}

absl::Status RedisStore::Heartbeat(const HeartbeatRequest& request) {
  // One clock read: the script's "now" is rounded down, the deadline up.
  const absl::Time now = clock_->Now();
  const absl::Time deadline = now + absl::Seconds(request.timeout_seconds);
  const int64_t deadline_ms = absl::ToInt64Milliseconds(
      absl::Ceil(deadline - absl::UnixEpoch(), absl::Milliseconds(1)));
  std::vector<std::string> args = {request.user_id, request.session_id,
                                   absl::StrCat(deadline_ms)};
  AppendList(args, request.channels);
  AppendList(args, request.channel_groups);
  std::vector<std::string> pairs;
  for (const auto& [key, state] : request.states) {
    pairs.push_back(key);
    pairs.push_back(state);
  }
  AppendList(args, pairs);
  return Run("heartbeat", std::move(args), "", now).status();
}

absl::StatusOr<LeaveResult> RedisStore::Leave(const LeaveRequest& request) {
  std::vector<std::string> args = {request.user_id, request.session_id};
  AppendList(args, request.channels);
  AppendList(args, request.channel_groups);
  absl::StatusOr<RedisReply> reply = Run("leave", std::move(args));
  if (!reply.ok()) return reply.status();
  LeaveResult result;
  result.channels = Strings(*reply);
  std::sort(result.channels.begin(), result.channels.end());
  return result;
}

absl::StatusOr<SetStateResult> RedisStore::SetState(
    const SetStateRequest& request) {
  std::vector<std::string> args = {request.user_id, request.state};
  AppendList(args, request.channels);
  AppendList(args, request.channel_groups);
  absl::StatusOr<RedisReply> reply =
      Run("set_state", std::move(args), request.user_id);
  if (!reply.ok()) return reply.status();
  SetStateResult result;
  result.channels = Strings(*reply);
  std::sort(result.channels.begin(), result.channels.end());
  result.state = request.state;
  return result;
}

absl::StatusOr<GetStateResult> RedisStore::GetState(
    const GetStateRequest& request) {
  std::vector<std::string> args = {request.user_id};
  AppendList(args, request.channels);
  AppendList(args, request.channel_groups);
  absl::StatusOr<RedisReply> reply = Run("get_state", std::move(args));
  if (!reply.ok()) return reply.status();
  GetStateResult result;
  for (size_t i = 0; i + 1 < reply->elements.size(); i += 2) {
    result.states.push_back(
        ChannelState{reply->elements[i].str, reply->elements[i + 1].str});
  }
  std::sort(result.states.begin(), result.states.end(),
            [](const ChannelState& a, const ChannelState& b) {
              return a.channel < b.channel;
            });
  return result;
}

absl::StatusOr<HereNowResult> RedisStore::HereNow(
    const HereNowRequest& request) {
  std::vector<std::string> args = {
      request.include_user_ids ? "1" : "0", request.include_state ? "1" : "0",
      absl::StrCat(request.limit), absl::StrCat(request.offset)};
  AppendList(args, request.channels);
  AppendList(args, request.channel_groups);
  absl::StatusOr<RedisReply> reply = Run("here_now", std::move(args));
  if (!reply.ok()) return reply.status();
  HereNowResult result;
  for (const RedisReply& entry : reply->elements) {
    ChannelOccupancy channel;
    channel.name = entry.elements[0].str;
    channel.occupancy = static_cast<uint32_t>(entry.elements[1].integer);
    const RedisReply& ids = entry.elements[2];
    const RedisReply& states = entry.elements[3];
    for (size_t i = 0; i < ids.elements.size(); ++i) {
      Occupant occupant;
      occupant.user_id = ids.elements[i].str;
      if (i < states.elements.size()) occupant.state = states.elements[i].str;
      channel.occupants.push_back(std::move(occupant));
    }
    result.total_occupancy += channel.occupancy;
    result.channels.push_back(std::move(channel));
  }
  std::sort(result.channels.begin(), result.channels.end(),
            [](const ChannelOccupancy& a, const ChannelOccupancy& b) {
              return a.name < b.name;
            });
  result.total_channels = static_cast<uint32_t>(result.channels.size());
  return result;
}

absl::StatusOr<WhereNowResult> RedisStore::WhereNow(
    const WhereNowRequest& request) {
  absl::StatusOr<RedisReply> reply = Run("where_now", {request.user_id});
  if (!reply.ok()) return reply.status();
  WhereNowResult result;
  result.channels = Strings(*reply);
  std::sort(result.channels.begin(), result.channels.end());
  return result;
}

absl::Status RedisStore::ExpireSessions() { return Run("expire", {}).status(); }

absl::Status RedisStore::AddChannelsToGroup(
    absl::string_view group, const std::vector<std::string>& channels) {
  std::vector<std::string> args = {
      std::string(group), absl::StrCat(options_.limits.max_channels_per_group)};
  AppendList(args, channels);
  return Run("group_add", std::move(args), group).status();
}

absl::Status RedisStore::RemoveChannelsFromGroup(
    absl::string_view group, const std::vector<std::string>& channels) {
  std::vector<std::string> args = {std::string(group)};
  AppendList(args, channels);
  return Run("group_remove", std::move(args), group).status();
}

absl::StatusOr<std::vector<std::string>> RedisStore::ListChannelsInGroup(
    absl::string_view group) {
  absl::StatusOr<RedisReply> reply = Run("group_list", {std::string(group)});
  if (!reply.ok()) return reply.status();
  std::vector<std::string> channels = Strings(*reply);
  std::sort(channels.begin(), channels.end());
  return channels;
}

absl::StatusOr<std::vector<std::string>> RedisStore::ListGroups() {
  absl::StatusOr<RedisReply> reply = pool_.Command(
      {"SMEMBERS", absl::StrCat(options_.key_prefix, ":{g}:groups")});
  if (!reply.ok()) return reply.status();
  std::vector<std::string> groups = Strings(*reply);
  std::sort(groups.begin(), groups.end());
  return groups;
}

absl::Status RedisStore::DeleteGroup(absl::string_view group) {
  return Run("group_delete", {std::string(group)}, group).status();
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

absl::Status RedisStore::Resync(RedisConnection& connection) {
  absl::StatusOr<RedisReply> reply =
      connection.Eval(Scripts()["group_snapshot"], CommonArgs(clock_->Now()));
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) return absl::InternalError(reply->str);
  const size_t streams = stream_keys_.size();
  {
    MutexLock lock(&positions_mu_);
    for (size_t i = 0; i < streams; ++i) {
      positions_[i] = StreamId::Parse(reply->elements[i].str);
    }
  }
  positions_advanced_.SignalAll();
  MutexLock lock(&dispatch_mu_);
  groups_.Clear();
  for (size_t i = streams; i + 1 < reply->elements.size(); i += 2) {
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
          RedisConnection::Connect(pool_.endpoint(), options_.pool.timeout,
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
    for (const RedisReply& stream : reply->elements) {
      const size_t index = std::find(stream_keys_.begin(), stream_keys_.end(),
                                     stream.elements[0].str) -
                           stream_keys_.begin();
      for (const RedisReply& entry : stream.elements[1].elements) {
        Dispatch(index, entry.elements[1]);
        MutexLock lock(&positions_mu_);
        positions_[index] = StreamId::Parse(entry.elements[0].str);
      }
    }
    positions_advanced_.SignalAll();
  }
}

void RedisStore::AddExclusiveListener(EventListener* listener) {
  exclusive_listeners_.Add(listener);
  // Only replicas with exclusive listeners compete for the lease.
  std::call_once(lead_once_,
                 [this] { leader_ = std::thread([this] { Lead(); }); });
}

absl::StatusOr<bool> RedisStore::LeadRound(RedisConnection& connection,
                                           std::vector<StreamId>& cursor) {
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
  for (size_t i = 0; i < shards; ++i) command.push_back(cursor[i].ToString());
  absl::StatusOr<RedisReply> reply = connection.Command(command);
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) return absl::InternalError(reply->str);
  if (reply->type != RedisReply::Type::kArray) return true;  // Nothing new.
  std::vector<std::string> checkpoint = {owner_};
  for (const RedisReply& stream : reply->elements) {
    const size_t index = std::find(stream_keys_.begin(), stream_keys_.end(),
                                   stream.elements[0].str) -
                         stream_keys_.begin();
    for (const RedisReply& entry : stream.elements[1].elements) {
      std::optional<PresenceEvent> event = DecodeEvent(entry.elements[1]);
      if (event.has_value()) exclusive_listeners_.Notify(*event);
      cursor[index] = StreamId::Parse(entry.elements[0].str);
    }
    checkpoint.push_back(absl::StrCat(index));
    checkpoint.push_back(cursor[index].ToString());
  }
  absl::StatusOr<RedisReply> held = Run("checkpoint", std::move(checkpoint));
  if (!held.ok()) return held.status();
  return held->integer == 1;
}

void RedisStore::Lead() {
  // A round (at most one exclusive_read_block XREAD) always starts right
  // after the lease was taken or renewed, so it runs well within the lease.
  const std::string lease_ms =
      absl::StrCat(absl::ToInt64Milliseconds(options_.lease));
  std::unique_ptr<RedisConnection> connection;
  std::vector<StreamId> cursor(stream_keys_.size() - 1);
  bool leading = false;
  while (!stopping()) {
    absl::StatusOr<RedisReply> held = Run("lease", {owner_, lease_ms});
    if (!held.ok() || held->integer != 1) {
      leading = false;
      WaitFor(held.ok() ? options_.lease_retry : options_.pool.initial_backoff);
      continue;
    }
    if (!leading) {
      // Taking over: resume at the shared cursor. A shard no holder ever
      // delivered from (a new deployment, or a Redis that lost its data)
      // starts at the beginning of its stream: at least once, never skipped.
      absl::StatusOr<RedisReply> saved = Run("cursor", {});
      if (!saved.ok()) continue;
      std::fill(cursor.begin(), cursor.end(), StreamId());
      for (size_t i = 0; i + 1 < saved->elements.size(); i += 2) {
        size_t index = 0;
        if (absl::SimpleAtoi(saved->elements[i].str, &index) &&
            index < cursor.size()) {
          cursor[index] = StreamId::Parse(saved->elements[i + 1].str);
        }
      }
      leading = true;
    }
    if (connection == nullptr || connection->broken()) {
      absl::StatusOr<std::unique_ptr<RedisConnection>> connected =
          RedisConnection::Connect(pool_.endpoint(), options_.pool.timeout,
                                   options_.exclusive_read_block);
      if (!connected.ok()) {
        WaitFor(options_.pool.initial_backoff);
        continue;
      }
      connection = *std::move(connected);
    }
    absl::StatusOr<bool> still_leading = LeadRound(*connection, cursor);
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
