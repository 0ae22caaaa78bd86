#include "presence/store/memory/memory_store.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "presence/base/mutex.h"
#include "presence/internal/channel_group_registry.h"
#include "presence/internal/event_pipeline.h"
#include "presence/internal/listener_list.h"
#include "presence/internal/store_errors.h"
#include "presence/store/memory/chunked_vector.h"
#include "presence/store/memory/name_table.h"
#include "presence/store/memory/timing_wheel.h"

namespace presence {
namespace {

using Id = NameTable::Id;
constexpr Id kNoId = NameTable::kNoId;
constexpr size_t kShards = NameTable::kShards;
constexpr uint32_t kNil = TimingWheel::kNil;

// Membership::session values besides interned session ids.
constexpr uint32_t kDefaultSession = 0xfffffffeu;  // The "" session.
constexpr uint32_t kMultiSession = 0xfffffffdu;    // See Shard::sessions.

// One user present on one channel. Its node in the shard's timing wheel has
// the same index and is due when the last of its sessions is.
struct Membership {
  Id user = kNoId;     // Holds a reference in users_.
  Id channel = kNoId;  // The channel record holds the name's reference.
  uint32_t session = kDefaultSession;  // Holds a reference in sessions_.
};

struct Session {
  uint32_t id;        // kDefaultSession or an interned id (holding a ref).
  uint32_t deadline;  // Tick.
};

// Heterogeneous key to find a channel's membership of a user.
struct UserKey {
  Id user;
};

// A channel's members are membership indices, hashed and compared by user.
struct MemberHash {
  using is_transparent = void;
  const ChunkedVector<Membership>* memberships;
  size_t operator()(uint32_t m) const {
    return (*this)(UserKey{(*memberships)[m].user});
  }
  size_t operator()(UserKey key) const {
    return absl::Hash<uint32_t>()(key.user);
  }
};

struct MemberEq {
  using is_transparent = void;
  const ChunkedVector<Membership>* memberships;
  bool operator()(uint32_t a, uint32_t b) const { return a == b; }
  bool operator()(uint32_t m, UserKey key) const {
    return (*memberships)[m].user == key.user;
  }
  bool operator()(UserKey key, uint32_t m) const { return (*this)(m, key); }
};

using MemberSet = absl::flat_hash_set<uint32_t, MemberHash, MemberEq>;

struct Channel {
  Channel(const ChunkedVector<Membership>* memberships, uint64_t sequence)
      : members(0, MemberHash{memberships}, MemberEq{memberships}),
        sequence(sequence) {}

  MemberSet members;
  uint64_t sequence;  // Of the channel's last event.
};

// A sixteenth of the channels (by NameTable::ShardOf of the name), with
// their memberships, sessions, states and deadlines.
struct Shard {
  explicit Shard(const MemoryStoreOptions& options)
      : wheel(options.wheel_slot_bits) {}

  Mutex mu;
  ChunkedVector<Membership> memberships ABSL_GUARDED_BY(mu);
  // Membership slots ever handed out.
  uint32_t used ABSL_GUARDED_BY(mu) = 0;
  std::vector<uint32_t> free ABSL_GUARDED_BY(mu);  // Released slots.
  TimingWheel wheel ABSL_GUARDED_BY(mu);           // Node i is membership i.
  absl::flat_hash_map<Id, Channel> channels ABSL_GUARDED_BY(mu);
  // By membership.
  absl::flat_hash_map<uint32_t, std::string> states ABSL_GUARDED_BY(mu);
  // Memberships with more than one session (Membership::session is
  // kMultiSession); a single session is kept inline in the membership.
  absl::flat_hash_map<uint32_t, absl::InlinedVector<Session, 2>> sessions
      ABSL_GUARDED_BY(mu);
  // The last epoch of channels that went inactive, kept while it may still
  // matter (see MemoryStore::NewEpochLocked); each entry holds a reference
  // to the channel's name, so the id stays the channel's.
  absl::flat_hash_map<Id, uint32_t> past_epochs ABSL_GUARDED_BY(mu);
  // The Unix second past_epochs was last pruned at: every pruned epoch was
  // below it. Only grows.
  int64_t pruned_second ABSL_GUARDED_BY(mu) = 0;
};

// user -> channels, the index behind WhereNow. Sharded like the user names
// (NameTable::ShardOf); its locks are taken after any presence shard's.
class UserIndex {
 public:
  void Add(Id user, Id channel) {
    Shard& shard = shards_[NameTable::ShardOf(user)];
    MutexLock lock(&shard.mu);
    shard.channels[user].push_back(channel);
  }

  void Remove(Id user, Id channel) {
    Shard& shard = shards_[NameTable::ShardOf(user)];
    MutexLock lock(&shard.mu);
    auto it = shard.channels.find(user);
    if (it == shard.channels.end()) return;
    auto& list = it->second;
    auto pos = std::find(list.begin(), list.end(), channel);
    if (pos != list.end()) {
      *pos = list.back();
      list.pop_back();
    }
    if (list.empty()) shard.channels.erase(it);
  }

  // Calls fn(channel id) for each channel of the user named `user` (ids of
  // `users`), with the index lock of the user held. That is what makes the
  // ids safe to use in `fn`: a membership leaves the index (under this
  // lock) before its user and channel names are released.
  template <typename Fn>
  void ForEachChannel(absl::string_view user, const NameTable& users, Fn fn) {
    Shard& shard = shards_[NameTable::ShardOf(user)];
    MutexLock lock(&shard.mu);
    const Id id = users.Find(user);
    if (id == kNoId) return;
    auto it = shard.channels.find(id);
    if (it == shard.channels.end()) return;
    for (Id channel : it->second) fn(channel);
  }

 private:
  struct Shard {
    Mutex mu;
    absl::flat_hash_map<Id, absl::InlinedVector<Id, 2>> channels
        ABSL_GUARDED_BY(mu);
  };
  std::array<Shard, NameTable::kShards> shards_;
};

// Locks a set of shards in ascending order (the store's lock order) and
// unlocks them on destruction. The set is only known at run time, which the
// thread-safety analysis cannot follow: code that uses a shard of the set
// says so with `shard.mu.AssertHeld()`.
class ShardLocks {
 public:
  ShardLocks(std::array<std::unique_ptr<Shard>, kShards>& shards,
             uint32_t mask) ABSL_NO_THREAD_SAFETY_ANALYSIS : shards_(shards),
                                                             mask_(mask) {
    for (size_t s = 0; s < kShards; ++s) {
      if (mask_ & (1u << s)) shards_[s]->mu.Lock();
    }
  }
  ~ShardLocks() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (size_t s = kShards; s-- > 0;) {
      if (mask_ & (1u << s)) shards_[s]->mu.Unlock();
    }
  }
  ShardLocks(const ShardLocks&) = delete;
  ShardLocks& operator=(const ShardLocks&) = delete;

 private:
  std::array<std::unique_ptr<Shard>, kShards>& shards_;
  const uint32_t mask_;
};

// Returns the sorted union of two sorted lists.
std::vector<std::string> SortedUnion(const std::vector<std::string>& a,
                                     const std::vector<std::string>& b) {
  std::vector<std::string> out;
  out.reserve(a.size() + b.size());
  std::set_union(a.begin(), a.end(), b.begin(), b.end(),
                 std::back_inserter(out));
  return out;
}

uint32_t ShardMask(const std::vector<std::string>& channels) {
  uint32_t mask = 0;
  for (const std::string& channel : channels) {
    mask |= 1u << NameTable::ShardOf(channel);
  }
  return mask;
}

class MemoryStore : public PresenceStore {
 public:
  MemoryStore(const MemoryStoreOptions& options, Clock* clock)
      : clock_(clock),
        tick_ns_(absl::ToInt64Nanoseconds(options.tick)),
        start_(clock->Now()),
        pipeline_(options.events, clock),
        groups_(options.limits.max_channels_per_group, &raw_listeners_) {
    for (auto& shard : shards_) shard = std::make_unique<Shard>(options);
    raw_listeners_.Add(&pipeline_);
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
      const std::vector<std::string>& channels) override {
    return groups_.Add(group, channels);
  }
  absl::Status RemoveChannelsFromGroup(
      absl::string_view group,
      const std::vector<std::string>& channels) override {
    return groups_.Remove(group, channels);
  }
  absl::StatusOr<std::vector<std::string>> ListChannelsInGroup(
      absl::string_view group) override {
    return groups_.List(group);
  }
  absl::StatusOr<std::vector<std::string>> ListGroups() override {
    return groups_.Groups();
  }
  absl::Status DeleteGroup(absl::string_view group) override {
    return groups_.Delete(group);
  }

  // The groups first (replayed under the registry's lock, so no change
  // slips between them and the registration), then every event and change.
  void AddListener(EventListener* listener) override {
    groups_.ReplayThenRegister(listener,
                               [&] { pipeline_.AddListener(listener); });
  }
  void RemoveListener(EventListener* listener) override {
    pipeline_.RemoveListener(listener);
  }
  // One process: every event goes to its exclusive listeners too, but no
  // group change.
  void AddExclusiveListener(EventListener* listener) override {
    pipeline_.AddListener(listener, /*group_changes=*/false);
  }
  void RemoveExclusiveListener(EventListener* listener) override {
    pipeline_.RemoveListener(listener);
  }

 private:
  // Ticks since start_, rounded down (for "now") or up (for deadlines, so a
  // deadline never fires early).
  uint32_t FloorTick(absl::Time t) const {
    return static_cast<uint32_t>(absl::ToInt64Nanoseconds(t - start_) /
                                 tick_ns_);
  }
  uint32_t CeilTick(absl::Time t) const {
    return static_cast<uint32_t>(
        (absl::ToInt64Nanoseconds(t - start_) + tick_ns_ - 1) / tick_ns_);
  }

  // The whole Unix second of `t` (0 before 1970).
  static int64_t UnixSecond(absl::Time t) {
    return std::max<int64_t>(0, absl::ToUnixSeconds(t));
  }

  // Returns the request's channels and its groups' channels, sorted.
  absl::StatusOr<std::vector<std::string>> Targets(
      const std::vector<std::string>& channels,
      const std::vector<std::string>& groups) const {
    absl::StatusOr<std::vector<std::string>> expanded = groups_.Expand(groups);
    if (!expanded.ok()) return expanded.status();
    return SortedUnion(channels, *expanded);
  }

  Shard& ShardFor(absl::string_view channel) {
    return *shards_[NameTable::ShardOf(channel)];
  }

  // Times out every membership of the shard that is due at `now`, and
  // prunes the past epochs that can no longer matter.
  void AdvanceLocked(Shard& shard, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  // AdvanceLocked() for every shard in `mask`, whose locks the caller holds
  // (ShardLocks).
  void AdvanceShards(uint32_t mask, absl::Time now) {
    for (size_t s = 0; s < kShards; ++s) {
      if ((mask & (1u << s)) == 0) continue;
      Shard& shard = *shards_[s];
      shard.mu.AssertHeld();  // The caller's ShardLocks holds every shard.
      AdvanceLocked(shard, now);
    }
  }

  // Returns the epoch of channel `channel_id` becoming active at `now`:
  // max(the Unix second of now, its previous epoch + 1), where the previous
  // epoch is remembered (Shard::past_epochs) while it is not below the
  // current second; and never below a pruned epoch (a caller may hold an
  // older clock reading than the one that pruned). So a channel's epochs
  // increase, and across restarts of the store they repeat only if the
  // restart is quicker than how far they ran ahead of the clock.
  uint32_t NewEpochLocked(Shard& shard, Id channel_id, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  // Returns the channel record of `name` and its id, or nullptr.
  Channel* FindChannelLocked(Shard& shard, absl::string_view name, Id* id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  // Returns the membership of `user` in `channel`, or kNil.
  static uint32_t FindMember(const Channel& channel, Id user) {
    if (user == kNoId) return kNil;
    auto it = channel.members.find(UserKey{user});
    return it == channel.members.end() ? kNil : *it;
  }

  // Removes membership `m`, discarding its state and emitting `type`.
  // Deletes the channel record when it empties, remembering its epoch.
  void RemoveMembershipLocked(Shard& shard, uint32_t m, EventType type,
                              absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  // Adds or extends session `session` of membership `m`.
  void TouchSessionLocked(Shard& shard, uint32_t m, uint32_t session,
                          uint32_t deadline, uint32_t now_tick)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  // Ends session `session` of membership `m`; returns whether no live
  // session remains (the caller then removes the membership).
  bool EndSessionLocked(Shard& shard, uint32_t m, uint32_t session,
                        uint32_t now_tick)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  // Sets the state of membership `m`, emitting a state change if it differs.
  void SetMembershipStateLocked(Shard& shard, uint32_t m, Channel& channel,
                                const std::string& state, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  // Emits a raw event of `channel` (a record of `shard`) to the pipeline.
  // Under the shard's lock: that is what orders a channel's events.
  void EmitLocked(Shard& shard, Channel& channel, EventType type, Id channel_id,
                  Id user, absl::Time now, absl::string_view state)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  // Fills `out` from a channel record of `shard` (nullptr for an empty
  // channel) as `request` asks.
  void DescribeLocked(Shard& shard, const Channel* channel,
                      const HereNowRequest& request, ChannelOccupancy& out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  void ReleaseSession(uint32_t session) {
    if (session != kDefaultSession) sessions_.Release(session);
  }

  Clock* const clock_;
  const int64_t tick_ns_;
  const absl::Time start_;  // Tick 0.

  NameTable channel_names_;
  NameTable users_;
  NameTable sessions_;
  std::array<std::unique_ptr<Shard>, kShards> shards_;
  UserIndex user_index_;
  // Raw events and group changes go to the pipeline, which emits what
  // listeners receive. All three are thread-safe.
  EventPipeline pipeline_;
  ListenerList raw_listeners_;
  ChannelGroupRegistry groups_;
};

void MemoryStore::AdvanceLocked(Shard& shard, absl::Time now) {
  // At most once a second, first: an epoch below the current second can no
  // longer raise a new one (NewEpochLocked), so it is forgotten.
  const int64_t second = UnixSecond(now);
  if (second > shard.pruned_second) {
    shard.pruned_second = second;
    for (auto it = shard.past_epochs.begin(); it != shard.past_epochs.end();) {
      if (it->second < second) {
        channel_names_.Release(it->first);
        shard.past_epochs.erase(it++);
      } else {
        ++it;
      }
    }
  }
  // Timeouts due together come in a defined order, as from the Redis
  // store: by deadline, then (within a channel) by user id. The wheel's own
  // order within a slot is not that.
  const uint32_t from = shard.wheel.now();
  absl::InlinedVector<std::pair<uint32_t, uint32_t>, 8> due;  // Deadline, m.
  shard.wheel.Advance(FloorTick(now), [&](uint32_t m) {
    // The wheel calls back synchronously, within this function's hold.
    shard.mu.AssertHeld();
    due.emplace_back(shard.wheel.Deadline(m) - from, m);
  });
  if (due.size() > 1) {
    std::sort(due.begin(), due.end(), [&](const auto& a, const auto& b) {
      shard.mu.AssertHeld();  // Called by std::sort, just below.
      if (a.first != b.first) return a.first < b.first;
      const Membership& x = shard.memberships[a.second];
      const Membership& y = shard.memberships[b.second];
      if (x.channel != y.channel) return x.channel < y.channel;
      return users_.Name(x.user) < users_.Name(y.user);
    });
  }
  for (const auto& [deadline, m] : due) {
    RemoveMembershipLocked(shard, m, EventType::kTimeout, now);
  }
}

uint32_t MemoryStore::NewEpochLocked(Shard& shard, Id channel_id,
                                     absl::Time now) {
  int64_t epoch = std::max(UnixSecond(now), shard.pruned_second);
  auto past = shard.past_epochs.find(channel_id);
  if (past != shard.past_epochs.end()) {
    epoch = std::max<int64_t>(epoch, int64_t{past->second} + 1);
    shard.past_epochs.erase(past);
    channel_names_.Release(channel_id);  // The entry's reference.
  }
  return static_cast<uint32_t>(epoch);
}

Channel* MemoryStore::FindChannelLocked(Shard& shard, absl::string_view name,
                                        Id* id) {
  *id = channel_names_.Find(name);
  if (*id == kNoId) return nullptr;
  auto it = shard.channels.find(*id);
  return it == shard.channels.end() ? nullptr : &it->second;
}

void MemoryStore::EmitLocked(Shard& shard, Channel& channel, EventType type,
                             Id channel_id, Id user, absl::Time now,
                             absl::string_view state) {
  ++channel.sequence;
  PresenceEvent event;
  event.type = type;
  event.channel = std::string(channel_names_.Name(channel_id));
  event.user_id = std::string(users_.Name(user));
  event.occupancy = static_cast<uint32_t>(channel.members.size());
  event.time = now;
  event.state = std::string(state);
  event.sequence = channel.sequence;
  raw_listeners_.Notify(event);
}

void MemoryStore::RemoveMembershipLocked(Shard& shard, uint32_t m,
                                         EventType type, absl::Time now) {
  const Membership membership = shard.memberships[m];
  auto channel_it = shard.channels.find(membership.channel);
  Channel& channel = channel_it->second;
  channel.members.erase(m);
  shard.wheel.Cancel(m);
  shard.states.erase(m);
  if (membership.session == kMultiSession) {
    auto it = shard.sessions.find(m);
    for (const Session& session : it->second) ReleaseSession(session.id);
    shard.sessions.erase(it);
  } else {
    ReleaseSession(membership.session);
  }
  user_index_.Remove(membership.user, membership.channel);
  EmitLocked(shard, channel, type, membership.channel, membership.user, now,
             "");
  if (channel.members.empty()) {
    const uint32_t epoch = static_cast<uint32_t>(channel.sequence >> 32);
    shard.channels.erase(channel_it);
    if (epoch >= shard.pruned_second) {
      // It may still matter: the name's reference passes from the record to
      // the remembered epoch, released by the next activation or prune.
      shard.past_epochs[membership.channel] = epoch;
    } else {
      channel_names_.Release(membership.channel);
    }
  }
  users_.Release(membership.user);
  shard.memberships[m] = Membership();
  shard.free.push_back(m);
}

void MemoryStore::TouchSessionLocked(Shard& shard, uint32_t m, uint32_t session,
                                     uint32_t deadline, uint32_t now_tick) {
  Membership& membership = shard.memberships[m];
  if (membership.session == session) {
    shard.wheel.Schedule(m, deadline);
    return;
  }
  auto later = [](uint32_t a, uint32_t b) {
    return TimingWheel::NotAfter(a, b) ? b : a;
  };
  if (membership.session != kMultiSession) {
    // A second session: the membership now tracks both.
    if (session != kDefaultSession) sessions_.AddRef(session);
    const uint32_t current = shard.wheel.Deadline(m);
    shard.sessions[m] = {Session{membership.session, current},
                         Session{session, deadline}};
    membership.session = kMultiSession;
    shard.wheel.Schedule(m, later(current, deadline));
    return;
  }
  auto& list = shard.sessions[m];
  bool found = false;
  uint32_t latest = deadline;
  for (size_t i = 0; i < list.size();) {
    if (list[i].id == session) {
      list[i].deadline = deadline;
      found = true;
    } else if (TimingWheel::NotAfter(list[i].deadline, now_tick)) {
      ReleaseSession(list[i].id);  // Expired; its membership lives on.
      list[i] = list.back();
      list.pop_back();
      continue;
    }
    latest = later(latest, list[i].deadline);
    ++i;
  }
  if (!found) {
    if (session != kDefaultSession) sessions_.AddRef(session);
    list.push_back(Session{session, deadline});
  }
  if (list.size() == 1) {
    membership.session = list[0].id;
    shard.sessions.erase(m);
  }
  shard.wheel.Schedule(m, latest);
}

bool MemoryStore::EndSessionLocked(Shard& shard, uint32_t m, uint32_t session,
                                   uint32_t now_tick) {
  Membership& membership = shard.memberships[m];
  if (membership.session != kMultiSession) return membership.session == session;
  auto& list = shard.sessions[m];
  uint32_t latest = 0;
  bool any = false;
  for (size_t i = 0; i < list.size();) {
    if (list[i].id == session ||
        TimingWheel::NotAfter(list[i].deadline, now_tick)) {
      ReleaseSession(list[i].id);
      list[i] = list.back();
      list.pop_back();
      continue;
    }
    if (!any || TimingWheel::NotAfter(latest, list[i].deadline))
      latest = list[i].deadline;
    any = true;
    ++i;
  }
  if (list.empty()) {
    // RemoveMembershipLocked releases the sessions of a kMultiSession
    // membership;
    // none are left, so the empty list is simply dropped there.
    return true;
  }
  if (list.size() == 1) {
    membership.session = list[0].id;
    shard.sessions.erase(m);
  }
  shard.wheel.Schedule(m, latest);
  return false;
}

void MemoryStore::SetMembershipStateLocked(Shard& shard, uint32_t m,
                                           Channel& channel,
                                           const std::string& state,
                                           absl::Time now) {
  auto it = shard.states.find(m);
  const bool had = it != shard.states.end();
  if (had ? it->second == state : state.empty()) return;
  if (state.empty()) {
    shard.states.erase(it);
  } else if (had) {
    it->second = state;
  } else {
    shard.states.emplace(m, state);
  }
  const Membership& membership = shard.memberships[m];
  EmitLocked(shard, channel, EventType::kStateChange, membership.channel,
             membership.user, now, state);
}

absl::Status MemoryStore::ExpireSessions() {
  const absl::Time now = clock_->Now();
  for (auto& shard_ptr : shards_) {
    Shard& shard = *shard_ptr;
    MutexLock lock(&shard.mu);
    AdvanceLocked(shard, now);
  }
  pipeline_.Tick();
  return absl::OkStatus();
}

absl::Status MemoryStore::Heartbeat(const HeartbeatRequest& request) {
  absl::StatusOr<std::vector<std::string>> targets =
      Targets(request.channels, request.channel_groups);
  if (!targets.ok()) return targets.status();
  const std::vector<std::string>& channels = *targets;

  // State per channel: a channel's own key wins over its groups' keys.
  absl::flat_hash_map<std::string, const std::string*> state_of;
  for (const auto& [key, state] : request.states) {
    if (std::binary_search(request.channels.begin(), request.channels.end(),
                           key)) {
      state_of[key] = &state;
    }
  }
  for (const auto& [key, state] : request.states) {
    if (!std::binary_search(request.channel_groups.begin(),
                            request.channel_groups.end(), key)) {
      continue;
    }
    absl::StatusOr<std::vector<std::string>> members = groups_.Expand({key});
    if (!members.ok()) return members.status();
    for (const std::string& channel : *members)
      state_of.try_emplace(channel, &state);
  }

  const absl::Time now = clock_->Now();
  const uint32_t now_tick = FloorTick(now);
  const uint32_t deadline =
      CeilTick(now + absl::Seconds(request.timeout_seconds));
  // References held for the duration of the call; memberships take their own.
  const Id user = users_.Acquire(request.user_id);
  const uint32_t session = request.session_id.empty()
                               ? kDefaultSession
                               : sessions_.Acquire(request.session_id);
  {
    const uint32_t mask = ShardMask(channels);
    ShardLocks locks(shards_, mask);
    AdvanceShards(mask, now);
    for (const std::string& name : channels) {
      Shard& shard = ShardFor(name);
      shard.mu.AssertHeld();  // `locks` holds every shard of `channels`.
      auto state_it = state_of.find(name);
      const std::string* state =
          state_it == state_of.end() ? nullptr : state_it->second;

      Id channel_id;
      Channel* channel = FindChannelLocked(shard, name, &channel_id);
      if (channel == nullptr) {
        channel_id = channel_names_.Acquire(name);  // Owned by the record.
        const uint32_t epoch = NewEpochLocked(shard, channel_id, now);
        channel = &shard.channels
                       .try_emplace(channel_id, &shard.memberships,
                                    uint64_t{epoch} << 32)
                       .first->second;
      }
      const uint32_t existing = FindMember(*channel, user);
      if (existing != kNil) {
        TouchSessionLocked(shard, existing, session, deadline, now_tick);
        if (state != nullptr)
          SetMembershipStateLocked(shard, existing, *channel, *state, now);
        continue;
      }
      uint32_t m;
      if (!shard.free.empty()) {
        m = shard.free.back();
        shard.free.pop_back();
      } else {
        m = shard.used++;
        shard.memberships.EnsureSize(shard.used);
      }
      users_.AddRef(user);
      if (session != kDefaultSession) sessions_.AddRef(session);
      shard.memberships[m] = Membership{user, channel_id, session};
      shard.wheel.Schedule(m, deadline);
      channel->members.insert(m);
      user_index_.Add(user, channel_id);
      if (state != nullptr && !state->empty()) shard.states.emplace(m, *state);
      EmitLocked(shard, *channel, EventType::kJoin, channel_id, user, now,
                 state != nullptr ? *state : "");
    }
  }
  ReleaseSession(session);
  users_.Release(user);
  return absl::OkStatus();
}

absl::StatusOr<LeaveResult> MemoryStore::Leave(const LeaveRequest& request) {
  absl::StatusOr<std::vector<std::string>> targets =
      Targets(request.channels, request.channel_groups);
  if (!targets.ok()) return targets.status();
  const std::vector<std::string>& channels = *targets;

  const absl::Time now = clock_->Now();
  const uint32_t now_tick = FloorTick(now);
  LeaveResult result;
  const uint32_t mask = ShardMask(channels);
  ShardLocks locks(shards_, mask);
  AdvanceShards(mask, now);
  // Looked up under the shard locks: while they are held no membership of
  // these channels can appear or vanish, so the ids cannot be reused there.
  const Id user = users_.Find(request.user_id);
  const uint32_t session = request.session_id.empty()
                               ? kDefaultSession
                               : sessions_.Find(request.session_id);
  if (user == kNoId || session == kNoId) return result;
  for (const std::string& name : channels) {
    Shard& shard = ShardFor(name);
    shard.mu.AssertHeld();  // `locks` holds every shard of `channels`.
    Id channel_id;
    Channel* channel = FindChannelLocked(shard, name, &channel_id);
    if (channel == nullptr) continue;
    const uint32_t m = FindMember(*channel, user);
    if (m == kNil || !EndSessionLocked(shard, m, session, now_tick)) continue;
    RemoveMembershipLocked(shard, m, EventType::kLeave, now);
    result.channels.push_back(name);
  }
  return result;
}

absl::StatusOr<SetStateResult> MemoryStore::SetState(
    const SetStateRequest& request) {
  absl::StatusOr<std::vector<std::string>> targets =
      Targets(request.channels, request.channel_groups);
  if (!targets.ok()) return targets.status();
  const std::vector<std::string>& channels = *targets;

  const absl::Time now = clock_->Now();
  const uint32_t mask = ShardMask(channels);
  ShardLocks locks(shards_, mask);
  AdvanceShards(mask, now);
  const Id user = users_.Find(request.user_id);
  std::vector<std::string> absent;
  std::vector<std::pair<Channel*, uint32_t>> present;
  std::vector<std::string> target_names;
  for (const std::string& name : channels) {
    Shard& shard = ShardFor(name);
    shard.mu.AssertHeld();  // `locks` holds every shard of `channels`.
    Id channel_id;
    Channel* channel = FindChannelLocked(shard, name, &channel_id);
    const uint32_t m = channel == nullptr ? kNil : FindMember(*channel, user);
    if (m != kNil) {
      present.emplace_back(channel, m);
      target_names.push_back(name);
    } else if (std::binary_search(request.channels.begin(),
                                  request.channels.end(), name)) {
      absent.push_back(name);
    }
  }
  if (!absent.empty()) {
    return NotPresentError(request.user_id, absent);
  }
  for (size_t i = 0; i < present.size(); ++i) {
    Shard& shard = ShardFor(target_names[i]);
    shard.mu.AssertHeld();  // `locks` holds every shard of `channels`.
    SetMembershipStateLocked(shard, present[i].second, *present[i].first,
                             request.state, now);
  }
  SetStateResult result;
  result.channels = std::move(target_names);
  result.state = request.state;
  return result;
}

absl::StatusOr<GetStateResult> MemoryStore::GetState(
    const GetStateRequest& request) {
  absl::StatusOr<std::vector<std::string>> targets =
      Targets(request.channels, request.channel_groups);
  if (!targets.ok()) return targets.status();
  const std::vector<std::string>& channels = *targets;

  const absl::Time now = clock_->Now();
  GetStateResult result;
  const uint32_t mask = ShardMask(channels);
  ShardLocks locks(shards_, mask);
  AdvanceShards(mask, now);
  const Id user = users_.Find(request.user_id);
  for (const std::string& name : channels) {
    Shard& shard = ShardFor(name);
    shard.mu.AssertHeld();  // `locks` holds every shard of `channels`.
    Id channel_id;
    Channel* channel = FindChannelLocked(shard, name, &channel_id);
    const uint32_t m = channel == nullptr ? kNil : FindMember(*channel, user);
    if (m == kNil) continue;
    auto it = shard.states.find(m);
    result.states.push_back(
        ChannelState{name, it == shard.states.end() ? "" : it->second});
  }
  return result;
}

absl::StatusOr<WhereNowResult> MemoryStore::WhereNow(
    const WhereNowRequest& request) {
  const absl::Time now = clock_->Now();
  // Expire first so the answer agrees with HereNow at the same instant.
  for (auto& shard_ptr : shards_) {
    Shard& shard = *shard_ptr;
    MutexLock lock(&shard.mu);
    AdvanceLocked(shard, now);
  }
  WhereNowResult result;
  user_index_.ForEachChannel(request.user_id, users_, [&](Id channel) {
    result.channels.emplace_back(channel_names_.Name(channel));
  });
  std::sort(result.channels.begin(), result.channels.end());
  return result;
}

void MemoryStore::DescribeLocked(Shard& shard, const Channel* channel,
                                 const HereNowRequest& request,
                                 ChannelOccupancy& out) {
  if (channel == nullptr) return;
  out.occupancy = static_cast<uint32_t>(channel->members.size());
  if (!request.include_user_ids || request.offset >= out.occupancy) return;
  std::vector<std::pair<absl::string_view, uint32_t>> members;
  members.reserve(channel->members.size());
  for (uint32_t m : channel->members) {
    members.emplace_back(users_.Name(shard.memberships[m].user), m);
  }
  const size_t end =
      std::min<size_t>(members.size(), size_t{request.offset} + request.limit);
  std::partial_sort(members.begin(), members.begin() + end, members.end());
  out.occupants.reserve(end - request.offset);
  for (size_t i = request.offset; i < end; ++i) {
    Occupant occupant;
    occupant.user_id = std::string(members[i].first);
    if (request.include_state) {
      auto it = shard.states.find(members[i].second);
      if (it != shard.states.end()) occupant.state = it->second;
    }
    out.occupants.push_back(std::move(occupant));
  }
}

absl::StatusOr<HereNowResult> MemoryStore::HereNow(
    const HereNowRequest& request) {
  const absl::Time now = clock_->Now();
  const bool global =
      request.channels.empty() && request.channel_groups.empty();
  std::vector<std::string> channels;
  if (!global) {
    absl::StatusOr<std::vector<std::string>> targets =
        Targets(request.channels, request.channel_groups);
    if (!targets.ok()) return targets.status();
    channels = *std::move(targets);
  }

  HereNowResult result;
  if (global) {
    for (auto& shard_ptr : shards_) {
      Shard& shard = *shard_ptr;
      MutexLock lock(&shard.mu);
      AdvanceLocked(shard, now);
      for (const auto& [channel_id, channel] : shard.channels) {
        ChannelOccupancy out;
        out.name = std::string(channel_names_.Name(channel_id));
        DescribeLocked(shard, &channel, request, out);
        result.channels.push_back(std::move(out));
      }
    }
    std::sort(result.channels.begin(), result.channels.end(),
              [](const ChannelOccupancy& a, const ChannelOccupancy& b) {
                return a.name < b.name;
              });
  } else {
    const uint32_t mask = ShardMask(channels);
    ShardLocks locks(shards_, mask);
    AdvanceShards(mask, now);
    for (const std::string& name : channels) {
      Shard& shard = ShardFor(name);
      shard.mu.AssertHeld();  // `locks` holds every shard of `channels`.
      Id channel_id;
      const Channel* channel = FindChannelLocked(shard, name, &channel_id);
      const bool named = std::binary_search(request.channels.begin(),
                                            request.channels.end(), name);
      if (channel == nullptr && !named) continue;  // Empty group channel.
      ChannelOccupancy out;
      out.name = name;
      DescribeLocked(shard, channel, request, out);
      result.channels.push_back(std::move(out));
    }
  }
  result.total_channels = static_cast<uint32_t>(result.channels.size());
  for (const ChannelOccupancy& channel : result.channels) {
    result.total_occupancy += channel.occupancy;
  }
  return result;
}

}  // namespace

std::unique_ptr<PresenceStore> NewMemoryStore(const MemoryStoreOptions& options,
                                              Clock* clock) {
  return std::make_unique<MemoryStore>(options, clock);
}

}  // namespace presence
