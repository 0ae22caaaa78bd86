#include "presence/store/memory/memory_store.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
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
#include "absl/time/clock.h"
#include "presence/base/mutex.h"
#include "presence/internal/channel_group_registry.h"
#include "presence/internal/event_pipeline.h"
#include "presence/internal/listener_list.h"
#include "presence/internal/store_errors.h"
#include "presence/store/memory/chunked_vector.h"
#include "presence/store/memory/member_tree.h"
#include "presence/store/memory/name_table.h"
#include "presence/store/memory/timing_wheel.h"

namespace presence {
namespace {

using Id = NameTable::Id;
constexpr Id kNoId = NameTable::kNoId;
constexpr size_t kShards = NameTable::kShards;
constexpr uint32_t kIdMask = MemberTree::kIdMask;

// Flags in MemberRecord::user above the user's id. A record with neither
// session flag has one session, the "" (default) one.
constexpr uint32_t kNamedSession = 1u << 29;  // One named session.
constexpr uint32_t kMultiSession = 1u << 30;  // Several sessions.
constexpr uint32_t kHasState = 1u << 31;
constexpr uint32_t kSessionFlags = kNamedSession | kMultiSession;

// The session id of "" in session lists, besides interned session ids.
constexpr uint32_t kDefaultSession = 0xfffffffeu;

// Timeouts per hold of a shard's lock in ExpireSessions(): a mass expiry
// lets other calls in between slices. Short holds (~20 us) let the calls
// that wait for one spin rather than sleep (ShardLocks): in a mass expiry
// of 1M memberships under Heartbeat load (bench S4), heartbeats ran at a
// median 0.60x their rate before it with 32 and spinning, 0.49x with 256
// and sleeping (8 alternating runs each).
constexpr size_t kSweepSlice = 32;

// Entries of a Batch() whose lookups are prefetched together.
constexpr size_t kBatchChunk = 64;

bool NotAfter(uint32_t a, uint32_t b) { return TimingWheel::NotAfter(a, b); }
uint32_t Later(uint32_t a, uint32_t b) { return NotAfter(a, b) ? b : a; }

struct Session {
  uint32_t id;        // kDefaultSession or an interned id (holding a ref).
  uint32_t deadline;  // Tick.
};

// A channel record's handle outside its shard: (slot << 4) | shard.
uint32_t Handle(size_t shard, uint32_t slot) {
  return (slot << NameTable::kShardBits) | static_cast<uint32_t>(shard);
}
size_t ShardOfHandle(uint32_t handle) { return handle & (kShards - 1); }
uint32_t SlotOfHandle(uint32_t handle) {
  return handle >> NameTable::kShardBits;
}

// No slot (Target::slot_hint).
constexpr uint32_t kNoSlot = ~uint32_t{0};

// A channel a request names: its name, the name's hash (absl::Hash, the
// hash of Shard::by_name too) and its shard; for Batch(), the slot its
// record was found in when the entry's chunk was prefetched (a hint: an
// earlier entry may have freed it since).
struct Target {
  const std::string* name;
  size_t hash;
  size_t shard;
  uint32_t slot_hint = kNoSlot;
};

// Key of a membership in a shard's side tables: channel slot and user id.
uint64_t MemberKey(uint32_t slot, uint32_t user) {
  return (uint64_t{slot} << 32) | (user & kIdMask);
}

// A channel name with its absl::Hash, to look it up in Shard::by_name (whose
// hash that is) without hashing it again.
struct HashedName {
  absl::string_view name;
  size_t hash;
};
struct ChannelNameHash {
  using is_transparent = void;
  size_t operator()(absl::string_view name) const {
    return absl::Hash<absl::string_view>()(name);
  }
  size_t operator()(const HashedName& key) const { return key.hash; }
};
struct ChannelNameEq {
  using is_transparent = void;
  bool operator()(absl::string_view a, absl::string_view b) const {
    return a == b;
  }
  bool operator()(const HashedName& a, absl::string_view b) const {
    return a.name == b;
  }
  bool operator()(absl::string_view a, const HashedName& b) const {
    return a == b.name;
  }
};

// An occupied channel. Its members are in `members`; memberships with
// state, a named session or several sessions also have an entry in the
// shard's side tables. The channel (not each member) is in the shard's
// timing wheel, due at members.bound(). One cache line: finding a channel
// by name (a short name is inside `name`) and reaching its members' tree
// then miss the cache once, not twice.
struct alignas(64) Channel {
  // Set when the slot is taken and cleared when it is freed, both under the
  // shard's lock; WhereNow reads it without (see UserIndex). Empty: a free
  // slot.
  std::string name;
  MemberTree members;
  uint64_t sequence = 0;  // Of the channel's last event.
  // members.bound(), for WhereNow's check without the lock.
  std::atomic<uint32_t> bound{0};
};
static_assert(sizeof(Channel) == 64, "a channel record is one cache line");

// A sixteenth of the channels (by NameTable::ShardOf of the name), with
// their members, sessions, states and deadlines.
struct Shard {
  Shard(size_t index, const MemoryStoreOptions& options)
      : index(index), wheel(options.wheel_slot_bits) {}

  const size_t index;  // In MemoryStore::shards_.
  Mutex mu;
  // Channel records by slot (they never move).
  ChunkedVector<Channel> channels ABSL_GUARDED_BY(mu);
  uint32_t used ABSL_GUARDED_BY(mu) = 0;  // Slots ever handed out.
  std::vector<uint32_t> free_slots ABSL_GUARDED_BY(mu);
  // Keys are the records' names.
  absl::flat_hash_map<absl::string_view, uint32_t, ChannelNameHash,
                      ChannelNameEq>
      by_name ABSL_GUARDED_BY(mu);
  // A lossy cache in front of by_name: the slot of the channel last created
  // among those whose hash has the same SlotCacheIndex(), or kNoSlot. Batch()
  // reads it without comparing names, so that it can prefetch the records
  // of many channels at once; the record's name then confirms the guess.
  // Stale entries (freed or reused records) stay until overwritten. At
  // least twice as many entries as channels (4-8 bytes per channel).
  std::vector<uint32_t> slot_cache ABSL_GUARDED_BY(mu);
  // Node i is the channel in slot i, due at its members' bound.
  TimingWheel wheel ABSL_GUARDED_BY(mu);
  // By MemberKey: states (kHasState), the session of kNamedSession records
  // (the id holds a reference) and those of kMultiSession ones.
  absl::flat_hash_map<uint64_t, std::string> states ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<uint64_t, uint32_t> named_sessions ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<uint64_t, absl::InlinedVector<Session, 2>> multi_sessions
      ABSL_GUARDED_BY(mu);
  // The last epoch of channels that went inactive, kept while it may still
  // matter (see MemoryStore::NewEpochLocked).
  absl::flat_hash_map<std::string, uint32_t> past_epochs ABSL_GUARDED_BY(mu);
  // The Unix second past_epochs was last pruned at: every pruned epoch was
  // below it. Only grows.
  int64_t pruned_second ABSL_GUARDED_BY(mu) = 0;
  // For Stats().
  uint64_t memberships ABSL_GUARDED_BY(mu) = 0;
  uint64_t sessions ABSL_GUARDED_BY(mu) = 0;
};

// A user's channel handles: two inline, more on the heap in arrays sized
// to glibc's malloc classes (4n + 8 bytes a multiple of 16).
class HandleList {
 public:
  HandleList() = default;
  HandleList(const HandleList&) = delete;
  HandleList& operator=(const HandleList&) = delete;
  ~HandleList() {
    if (capacity_ > kInline) delete[] storage_.heap;
  }

  uint32_t size() const { return size_; }
  const uint32_t* data() const {
    return capacity_ > kInline ? storage_.heap : storage_.small;
  }

  void Add(uint32_t handle) {
    if (size_ == capacity_) Resize(Grow(capacity_));
    mutable_data()[size_++] = handle;
  }

  void Remove(uint32_t handle) {
    uint32_t* ids = mutable_data();
    for (uint32_t i = 0; i < size_; ++i) {
      if (ids[i] != handle) continue;
      ids[i] = ids[--size_];
      break;
    }
    if (capacity_ > kInline && (size_ <= kInline || size_ * 4 < capacity_)) {
      uint32_t capacity = kInline;
      while (capacity < size_ * 2) capacity = Grow(capacity);
      Resize(capacity);
    }
  }

 private:
  static constexpr uint32_t kInline = 2;

  static uint32_t Grow(uint32_t capacity) {
    return capacity < 14 ? capacity + 4 : ((capacity * 3 / 2) & ~3u) | 2;
  }
  uint32_t* mutable_data() {
    return capacity_ > kInline ? storage_.heap : storage_.small;
  }
  void Resize(uint32_t capacity) {
    uint32_t copy[kInline];
    uint32_t* to = capacity > kInline ? new uint32_t[capacity] : copy;
    std::memcpy(to, data(), size_ * sizeof(uint32_t));
    if (capacity_ > kInline) delete[] storage_.heap;
    if (capacity > kInline) {
      storage_.heap = to;
    } else {
      std::memcpy(storage_.small, copy, size_ * sizeof(uint32_t));
    }
    capacity_ = capacity;
  }

  uint32_t size_ = 0;
  uint32_t capacity_ = kInline;
  union Storage {
    uint32_t small[kInline];
    uint32_t* heap;
  } storage_ = {};
};

// user -> channel handles, the index behind WhereNow: per user name shard,
// a list per name slot (NameTable::SlotOf). Its locks are taken after any
// presence shard's. A membership enters it after its channel record exists
// (with its name set) and leaves it before the record can be freed, so
// while a handle is in a list (seen under the list's lock) the channel's
// name is set and stays so: WhereNow reads it, and the channel's bound,
// without the channel's lock.
class UserIndex {
 public:
  void Add(Id user, uint32_t handle) {
    Shard& shard = shards_[NameTable::ShardOf(user)];
    const uint32_t slot = NameTable::SlotOf(user);
    MutexLock lock(&shard.mu);
    shard.lists.EnsureSize(size_t{slot} + 1);
    shard.lists[slot].Add(handle);
  }

  void Remove(Id user, uint32_t handle) {
    Shard& shard = shards_[NameTable::ShardOf(user)];
    MutexLock lock(&shard.mu);
    shard.lists[NameTable::SlotOf(user)].Remove(handle);
  }

  // Calls fn(id, handles, count) for the user named `user` (names of `users`)
  // with the list's lock held. That the name's id is found under that lock
  // makes the list the user's: an id can only be freed and reused once its
  // list is empty, and filling it again needs the lock.
  template <typename Fn>
  void Read(absl::string_view user, const NameTable& users, Fn fn) {
    Shard& shard = shards_[NameTable::ShardOf(user)];
    MutexLock lock(&shard.mu);
    const Id id = users.Find(user);
    if (id == kNoId || NameTable::SlotOf(id) >= shard.lists.size()) {
      fn(id, nullptr, 0);
      return;
    }
    const HandleList& list = shard.lists[NameTable::SlotOf(id)];
    fn(id, list.data(), list.size());
  }

 private:
  struct Shard {
    Mutex mu;
    ChunkedVector<HandleList> lists ABSL_GUARDED_BY(mu);
  };
  std::array<Shard, kShards> shards_;
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
      if (mask_ & (1u << s)) shards_[s]->mu.LockSpinning();
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

// Orders due records by deadline, keeping the tree's (name) order among
// equal deadlines: the order timeouts due together are emitted in.
void SortDue(std::vector<MemberRecord>& due) {
  std::stable_sort(due.begin(), due.end(),
                   [](const MemberRecord& a, const MemberRecord& b) {
                     return static_cast<int32_t>(a.deadline - b.deadline) < 0;
                   });
}

class MemoryStore : public RestorableMemoryStore {
 public:
  MemoryStore(const MemoryStoreOptions& options, Clock* clock)
      : clock_(clock),
        tick_ns_(absl::ToInt64Nanoseconds(options.tick)),
        start_(clock->Now()),
        pipeline_(options.events, clock),
        groups_(options.limits.max_channels_per_group, &raw_listeners_),
        max_sessions_per_user_(options.limits.max_sessions_per_user),
        max_channels_per_user_(options.limits.max_channels_per_user) {
    for (size_t s = 0; s < kShards; ++s)
      shards_[s] = std::make_unique<Shard>(s, options);
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
  std::vector<BatchEntryResult> Batch(
      const std::vector<BatchEntry>& entries) override;
  absl::StatusOr<StoreStats> Stats() override;
  absl::Status ExpireSessions() override;

  MemoryStoreImage Image() override;
  // Adds the presence of `image` (to a new store, before any other call).
  void Restore(const MemoryStoreImage& image);

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
  // What ExpireSessions() has left to do in one shard between two holds of
  // its lock.
  struct Sweep;

  // Ticks since start_, rounded down (for "now") or up (for deadlines, so a
  // deadline never fires early).
  int64_t Ticks(absl::Time t) const {
    return absl::ToInt64Nanoseconds(t - start_) / tick_ns_;
  }
  uint32_t FloorTick(absl::Time t) const {
    return static_cast<uint32_t>(Ticks(t));
  }
  uint32_t CeilTick(absl::Time t) const {
    return static_cast<uint32_t>(
        (absl::ToInt64Nanoseconds(t - start_) + tick_ns_ - 1) / tick_ns_);
  }
  // The time of `tick`, a tick within 2^31 of now's.
  absl::Time TickTime(uint32_t tick, absl::Time now) const {
    const int64_t now_ticks = Ticks(now);
    const int64_t ticks =
        now_ticks +
        static_cast<int32_t>(tick - static_cast<uint32_t>(now_ticks));
    return start_ + absl::Nanoseconds(ticks * tick_ns_);
  }

  // The whole Unix second of `t` (0 before 1970).
  static int64_t UnixSecond(absl::Time t) {
    return std::max<int64_t>(0, absl::ToUnixSeconds(t));
  }

  // What a request touches, worked out before any shard is locked: its
  // channels and its groups' channels (sorted), their hashes and shards,
  // and for heartbeats the state of each channel.
  struct Plan {
    std::vector<std::string> expanded;  // With groups: the channels.
    absl::InlinedVector<Target, 8> targets;
    uint32_t mask = 0;  // Shards of the targets.
    absl::flat_hash_map<std::string, const std::string*> state_of;
    // The user's id if Batch() found it already (kNoId: look it up), and
    // NameTable::Frees() of its shard then: the id is still the user's
    // while that has not changed.
    Id user = kNoId;
    uint64_t user_frees = 0;
  };

  // The id of `user` (kNoId if unknown), looked up with every shard of
  // `plan` locked, so that a member of those channels with that id is the
  // user's (see MemberTree::Find).
  Id UserIdLocked(absl::string_view user, const Plan& plan) const {
    if (plan.user != kNoId &&
        users_.Frees(NameTable::ShardOf(plan.user)) == plan.user_frees) {
      return plan.user;
    }
    return users_.Find(user);
  }

  // Starts loading the hash table slots of the plan's channels.
  void PrefetchChannelsLocked(const Plan& plan);

  // Fills the plan's targets from a request's channels and groups (which
  // must outlive the plan); NOT_FOUND naming a group that does not exist.
  absl::Status Resolve(const std::vector<std::string>& channels,
                       const std::vector<std::string>& groups,
                       Plan* plan) const;
  absl::Status PlanHeartbeat(const HeartbeatRequest& request, Plan* plan) const;

  // Heartbeat and Leave with every shard of the plan locked, at `now` (the
  // caller prefetches: PrefetchChannelsLocked, or Batch()'s PrefetchChunk).
  absl::Status HeartbeatLocked(const HeartbeatRequest& request,
                               const Plan& plan, absl::Time now);

  // The per-user limits (max_sessions_per_user, max_channels_per_user).
  // With either on, a heartbeat holds its user's UserLimitMutex() and then
  // locks the shards of its plan and of the user's channels, so that the
  // check (CheckUserLimitsLocked) and the change are one atomic step: only
  // a heartbeat of the same user could add to what is counted, and it waits
  // for the lock. Batch() then applies entries one by one.
  bool UserLimitsOn() const {
    return max_sessions_per_user_ != 0 || max_channels_per_user_ != 0;
  }
  Mutex& UserLimitMutex(absl::string_view user) {
    return user_limit_mu_[absl::Hash<absl::string_view>()(user) %
                          user_limit_mu_.size()];
  }
  // The shards of the user's channels now.
  uint32_t UserShardMask(absl::string_view user);
  // RESOURCE_EXHAUSTED (UserLimitError) when the heartbeat would break a
  // per-user limit, counted at `now` (live: a deadline after it), with
  // every shard of the plan and of the user's channels locked.
  absl::Status CheckUserLimitsLocked(const HeartbeatRequest& request,
                                     const Plan& plan, absl::Time now);
  void LeaveLocked(const LeaveRequest& request, const Plan& plan,
                   absl::Time now, LeaveResult* result);

  // Batch(): finds the users of entries [begin, end) before their shards
  // are locked (the lookups' cache misses then stall no other request),
  // for UserIdLocked() to check (an id found stays the user's while its
  // shard frees no name; one not found is looked up again).
  void FindUsers(const std::vector<BatchEntry>& entries, size_t begin,
                 size_t end, std::vector<Plan>& plans,
                 const std::vector<BatchEntryResult>& results);

  // Batch(): prefetches what the chunk plans[0..count) will look up (its
  // channels' slot cache entries, records and tree roots, noting the slots
  // found in its targets' slot_hint), in three passes that each lock every
  // shard involved once, one at a time; results[i] is plans[i]'s planning
  // status.
  void PrefetchChunk(std::vector<Plan>& plans, size_t count,
                     const BatchEntryResult* results);

  // Calls fn(shard) for each shard of `mask`, holding that shard's lock
  // alone; a shard another thread holds is passed over and visited after
  // the others rather than waited for.
  template <typename Fn>
  void ForEachShardLocked(uint32_t mask, Fn fn);

  // Forgets the past epochs that can no longer matter (at most once a
  // second): an epoch below the current second can no longer raise a new
  // one (NewEpochLocked).
  void PruneEpochsLocked(Shard& shard, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  // PruneEpochsLocked() for every shard in `mask`, whose locks the caller
  // holds (ShardLocks).
  void PruneShards(uint32_t mask, absl::Time now) {
    for (size_t s = 0; s < kShards; ++s) {
      if ((mask & (1u << s)) == 0) continue;
      Shard& shard = *shards_[s];
      shard.mu.AssertHeld();  // The caller's ShardLocks holds every shard.
      PruneEpochsLocked(shard, now);
    }
  }

  // Returns the epoch of channel `name` becoming active at `now`: max(the
  // Unix second of now, its previous epoch + 1), where the previous epoch
  // is remembered (Shard::past_epochs) while it is not below the current
  // second; and never below a pruned epoch (a caller may hold an older
  // clock reading than the one that pruned). So a channel's epochs
  // increase, and across restarts of the store they repeat only if the
  // restart is quicker than how far they ran ahead of the clock.
  uint32_t NewEpochLocked(Shard& shard, absl::string_view name, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  // Returns the record of channel `name` (whose hash is `hash`) and its
  // slot, or nullptr.
  Channel* FindChannelLocked(Shard& shard, absl::string_view name, size_t hash,
                             uint32_t* slot)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  // FindChannelLocked(), after timing out the channel's members due at
  // `now` (so every answer is exact between sweeps); nullptr when none is
  // left.
  Channel* LiveChannelLocked(Shard& shard, const Target& target, absl::Time now,
                             uint32_t* slot)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  // The slot cache entry of a channel whose name's hash is `hash` (bits
  // the shard's choice and by_name's low bits do not use).
  static size_t SlotCacheIndex(const Shard& shard, size_t hash)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu) {
    return (hash >> 20) & (shard.slot_cache.size() - 1);
  }

  // The record target.slot_hint names if it still holds the target's
  // channel (names are unique in a shard; a freed record's is empty), else
  // nullptr.
  static Channel* HintedChannelLocked(Shard& shard, const Target& target)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu) {
    if (target.slot_hint == kNoSlot) return nullptr;
    Channel& channel = shard.channels[target.slot_hint];
    return channel.name == *target.name ? &channel : nullptr;
  }

  // Takes a slot for a new channel.
  Channel& NewChannelLocked(Shard& shard, const Target& target, absl::Time now,
                            uint32_t* slot)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  // Frees the slot of a channel whose last member left, remembering its
  // epoch.
  void FreeChannelLocked(Shard& shard, uint32_t slot, Channel& channel)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  // Publishes the channel's bound after it may have moved earlier, and
  // moves the channel earlier in the wheel if it is scheduled later.
  void BoundLoweredLocked(Shard& shard, uint32_t slot, Channel& channel)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  // Once no member of the channel is due at `now_tick`: recomputes its
  // bound, publishes it and schedules the channel at it.
  void RescheduleLocked(Shard& shard, uint32_t slot, Channel& channel,
                        uint32_t now_tick)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  // Times out every member of the channel in `slot` due at `now`, in
  // deadline order, then user-id order. Returns whether the channel is
  // still occupied (else its slot is freed).
  bool TimeOutDueLocked(Shard& shard, uint32_t slot, Channel& channel,
                        absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  // RetireMemberLocked() of members that left the channel's tree together
  // (it had `occupancy` before), in the order they time out.
  void RetireDueLocked(Shard& shard, uint32_t slot, Channel& channel,
                       std::vector<MemberRecord>& due, absl::Time now,
                       size_t occupancy)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  // One hold of `shard`'s lock for ExpireSessions(): at most about
  // kSweepSlice timeouts. Returns whether the shard is done.
  bool SweepSliceLocked(Shard& shard, Sweep& sweep, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  // Removes member `user` (its name and id) of the channel in `slot`,
  // discarding
  // its state and sessions and emitting `type`. Frees the channel when it
  // empties; returns whether it did.
  bool RemoveMemberLocked(Shard& shard, uint32_t slot, Channel& channel,
                          absl::string_view user, Id id, EventType type,
                          absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  // The rest of removing a member once its record left the tree: its state
  // and sessions, its place in the user index, the event (`occupancy`
  // after it) and its reference to the user's name.
  // With `release_user` false the caller releases the user's name itself
  // (RetireDueLocked(), all together).
  void RetireMemberLocked(Shard& shard, uint32_t slot, Channel& channel,
                          const MemberRecord& record, EventType type,
                          absl::Time now, size_t occupancy,
                          bool release_user = true)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  // Adds or extends session `session` of member `record` (named `user`) of
  // the channel in `slot`.
  void TouchSessionLocked(Shard& shard, uint32_t slot, Channel& channel,
                          MemberRecord* record, absl::string_view user,
                          uint32_t session, uint32_t deadline,
                          uint32_t now_tick)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  // Ends session `session` of member `record`; returns whether no live
  // session remains (the caller then removes the member).
  bool EndSessionLocked(Shard& shard, uint32_t slot, Channel& channel,
                        MemberRecord* record, absl::string_view user,
                        uint32_t session, uint32_t now_tick)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  // Sets the state of member `record`, emitting a state change if it
  // differs.
  void SetMemberStateLocked(Shard& shard, uint32_t slot, Channel& channel,
                            MemberRecord* record, absl::string_view user,
                            const std::string& state, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  // Emits a raw event of `channel` (a record of `shard`) with the
  // channel's occupancy after it to the pipeline. Under the shard's lock:
  // that is what orders a channel's events.
  void EmitLocked(Shard& shard, Channel& channel, EventType type,
                  absl::string_view user, absl::Time now,
                  absl::string_view state, size_t occupancy,
                  absl::Time deadline = absl::InfinitePast())
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  // Fills `out` from a channel record of `shard` (nullptr for an empty
  // channel) as `request` asks.
  void DescribeLocked(Shard& shard, uint32_t slot, const Channel* channel,
                      const HereNowRequest& request, ChannelOccupancy& out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  // The channel of `handle`, read without its shard's lock: only its name
  // and bound may be used, and only while the handle is in a UserIndex
  // list whose lock the caller holds (see UserIndex).
  const Channel& ChannelOfHandleUnlocked(uint32_t handle) const
      ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return shards_[ShardOfHandle(handle)]->channels[SlotOfHandle(handle)];
  }

  void ReleaseSession(uint32_t session) {
    if (session != kDefaultSession) sessions_.Release(session);
  }

  Clock* const clock_;
  const int64_t tick_ns_;
  const absl::Time start_;  // Tick 0.

  NameTable users_;
  NameTable sessions_;
  std::array<std::unique_ptr<Shard>, kShards> shards_;
  UserIndex user_index_;
  // Raw events (EmitLocked) and group changes (through raw_listeners_) go
  // to the pipeline, which emits what listeners receive. All three are
  // thread-safe.
  EventPipeline pipeline_;
  ListenerList raw_listeners_;
  ChannelGroupRegistry groups_;
  const uint32_t max_sessions_per_user_;
  const uint32_t max_channels_per_user_;
  // See UserLimitMutex(): taken before any shard lock.
  std::array<Mutex, 64> user_limit_mu_;
};

struct MemoryStore::Sweep {
  bool started = false;
  bool done = false;
  // Channels the wheel fired, and the next one to look at.
  std::vector<uint32_t> fired;
  size_t next = 0;
  // A channel with more members due than a slice takes, timed out in
  // slices: where each slice ends in (deadline, user id) order, and the
  // next one.
  std::string channel;
  std::vector<std::pair<uint32_t, std::string>> cuts;
  size_t next_cut = 0;
};

void MemoryStore::PruneEpochsLocked(Shard& shard, absl::Time now) {
  const int64_t second = UnixSecond(now);
  if (second <= shard.pruned_second) return;
  shard.pruned_second = second;
  for (auto it = shard.past_epochs.begin(); it != shard.past_epochs.end();) {
    if (it->second < second) {
      shard.past_epochs.erase(it++);
    } else {
      ++it;
    }
  }
}

uint32_t MemoryStore::NewEpochLocked(Shard& shard, absl::string_view name,
                                     absl::Time now) {
  int64_t epoch = std::max(UnixSecond(now), shard.pruned_second);
  auto past = shard.past_epochs.find(name);
  if (past != shard.past_epochs.end()) {
    epoch = std::max<int64_t>(epoch, int64_t{past->second} + 1);
    shard.past_epochs.erase(past);
  }
  return static_cast<uint32_t>(epoch);
}

Channel* MemoryStore::FindChannelLocked(Shard& shard, absl::string_view name,
                                        size_t hash, uint32_t* slot) {
  auto it = shard.by_name.find(name, hash);
  if (it == shard.by_name.end()) return nullptr;
  *slot = it->second;
  return &shard.channels[it->second];
}

Channel* MemoryStore::LiveChannelLocked(Shard& shard, const Target& target,
                                        absl::Time now, uint32_t* slot) {
  // A confirmed hint spares the lookup.
  Channel* channel = HintedChannelLocked(shard, target);
  if (channel != nullptr) {
    *slot = target.slot_hint;
  } else {
    channel = FindChannelLocked(shard, *target.name, target.hash, slot);
  }
  if (channel == nullptr) return nullptr;
  if (NotAfter(channel->members.bound(), FloorTick(now)) &&
      !TimeOutDueLocked(shard, *slot, *channel, now)) {
    return nullptr;
  }
  return channel;
}

Channel& MemoryStore::NewChannelLocked(Shard& shard, const Target& target,
                                       absl::Time now, uint32_t* slot) {
  const absl::string_view name = *target.name;
  if (!shard.free_slots.empty()) {
    *slot = shard.free_slots.back();
    shard.free_slots.pop_back();
  } else {
    *slot = shard.used++;
    shard.channels.EnsureSize(shard.used);
  }
  Channel& channel = shard.channels[*slot];
  channel.name.assign(name.data(), name.size());
  channel.sequence = uint64_t{NewEpochLocked(shard, name, now)} << 32;
  shard.by_name.emplace(absl::string_view(channel.name), *slot);
  if (shard.by_name.size() * 2 > shard.slot_cache.size()) {
    // Twice as large, refilled from by_name (amortised: each doubling
    // rehashes as many names as were added since the last one).
    shard.slot_cache.assign(std::max<size_t>(64, shard.slot_cache.size() * 2),
                            kNoSlot);
    for (const auto& [key, value] : shard.by_name) {
      shard.slot_cache[SlotCacheIndex(shard, ChannelNameHash()(key))] = value;
    }
  } else {
    shard.slot_cache[SlotCacheIndex(shard, target.hash)] = *slot;
  }
  return channel;
}

void MemoryStore::FreeChannelLocked(Shard& shard, uint32_t slot,
                                    Channel& channel) {
  shard.wheel.Cancel(slot);
  const uint32_t epoch = static_cast<uint32_t>(channel.sequence >> 32);
  // It may still matter while not below the current second.
  if (epoch >= shard.pruned_second) shard.past_epochs[channel.name] = epoch;
  shard.by_name.erase(absl::string_view(channel.name));
  std::string().swap(channel.name);
  channel.members.Clear();
  shard.free_slots.push_back(slot);
}

void MemoryStore::BoundLoweredLocked(Shard& shard, uint32_t slot,
                                     Channel& channel) {
  const uint32_t bound = channel.members.bound();
  channel.bound.store(bound, std::memory_order_relaxed);
  // A channel that is not scheduled is being swept (ExpireSessions
  // schedules it when done).
  if (shard.wheel.IsScheduled(slot) &&
      !NotAfter(shard.wheel.Deadline(slot), bound)) {
    shard.wheel.Schedule(slot, bound);
  }
}

void MemoryStore::RescheduleLocked(Shard& shard, uint32_t slot,
                                   Channel& channel, uint32_t now_tick) {
  channel.members.RefreshBound(now_tick);
  const uint32_t bound = channel.members.bound();
  channel.bound.store(bound, std::memory_order_relaxed);
  shard.wheel.Schedule(slot, bound);
}

void MemoryStore::EmitLocked(Shard& shard, Channel& channel, EventType type,
                             absl::string_view user, absl::Time now,
                             absl::string_view state, size_t occupancy,
                             absl::Time deadline) {
  ++channel.sequence;
  PresenceEvent event;
  event.type = type;
  event.channel = channel.name;
  event.user_id = std::string(user);
  event.occupancy = static_cast<uint32_t>(occupancy);
  event.time = now;
  event.state = std::string(state);
  event.sequence = channel.sequence;
  event.deadline = deadline;
  pipeline_.Process(event);
}

bool MemoryStore::RemoveMemberLocked(Shard& shard, uint32_t slot,
                                     Channel& channel, absl::string_view user,
                                     Id id, EventType type, absl::Time now) {
  MemberRecord record;
  if (!channel.members.Erase(user, id, users_, &record)) return false;
  RetireMemberLocked(shard, slot, channel, record, type, now,
                     channel.members.size());
  if (!channel.members.empty()) return false;
  FreeChannelLocked(shard, slot, channel);
  return true;
}

void MemoryStore::RetireMemberLocked(Shard& shard, uint32_t slot,
                                     Channel& channel,
                                     const MemberRecord& record, EventType type,
                                     absl::Time now, size_t occupancy,
                                     bool release_user) {
  const uint32_t id = record.user & kIdMask;
  const uint64_t key = MemberKey(slot, id);
  if (record.user & kHasState) shard.states.erase(key);
  if (record.user & kNamedSession) {
    auto it = shard.named_sessions.find(key);
    sessions_.Release(it->second);
    shard.named_sessions.erase(it);
    --shard.sessions;
  } else if (record.user & kMultiSession) {
    auto it = shard.multi_sessions.find(key);
    for (const Session& session : it->second) ReleaseSession(session.id);
    shard.sessions -= it->second.size();
    shard.multi_sessions.erase(it);
  } else {
    --shard.sessions;
  }
  --shard.memberships;
  user_index_.Remove(id, Handle(shard.index, slot));
  EmitLocked(shard, channel, type, users_.Name(id), now, "", occupancy,
             type == EventType::kTimeout ? TickTime(record.deadline, now)
                                         : absl::InfinitePast());
  if (release_user) users_.Release(id);  // The member's reference.
}

bool MemoryStore::TimeOutDueLocked(Shard& shard, uint32_t slot,
                                   Channel& channel, absl::Time now) {
  const uint32_t now_tick = FloorTick(now);
  const size_t occupancy = channel.members.size();
  std::vector<MemberRecord> due;
  channel.members.EraseDue(now_tick, &due);
  RetireDueLocked(shard, slot, channel, due, now, occupancy);
  if (channel.members.empty()) {
    FreeChannelLocked(shard, slot, channel);
    return false;
  }
  RescheduleLocked(shard, slot, channel, now_tick);
  return true;
}

void MemoryStore::RetireDueLocked(Shard& shard, uint32_t slot, Channel& channel,
                                  std::vector<MemberRecord>& due,
                                  absl::Time now, size_t occupancy) {
  SortDue(due);
  // Their names are read (events) and released: load them ahead.
  constexpr size_t kAhead = 8;
  for (size_t i = 0; i < std::min(kAhead, due.size()); ++i)
    users_.PrefetchEntry(due[i].user & kIdMask);
  for (size_t i = 0; i < due.size(); ++i) {
    if (i + kAhead < due.size())
      users_.PrefetchEntry(due[i + kAhead].user & kIdMask);
    RetireMemberLocked(shard, slot, channel, due[i], EventType::kTimeout, now,
                       --occupancy, /*release_user=*/false);
  }
  // The members' references to their names, together: freeing a name
  // (a user's last membership) misses the cache in the name index, and
  // ReleaseMany() overlaps those misses.
  absl::InlinedVector<NameTable::Id, 64> ids;
  ids.reserve(due.size());
  for (const MemberRecord& record : due) ids.push_back(record.user & kIdMask);
  users_.ReleaseMany(ids.data(), ids.size());
}

void MemoryStore::TouchSessionLocked(Shard& shard, uint32_t slot,
                                     Channel& channel, MemberRecord* record,
                                     absl::string_view user, uint32_t session,
                                     uint32_t deadline, uint32_t now_tick) {
  const uint32_t before = record->deadline;
  const uint64_t key = MemberKey(slot, record->user);
  if ((record->user & kSessionFlags) == 0 || (record->user & kNamedSession)) {
    // One session.
    const uint32_t current = (record->user & kNamedSession)
                                 ? shard.named_sessions[key]
                                 : kDefaultSession;
    if (current == session) {
      record->deadline = deadline;
    } else {
      // A second session: the member now tracks both.
      if (session != kDefaultSession) sessions_.AddRef(session);
      shard.multi_sessions[key] = {Session{current, before},
                                   Session{session, deadline}};
      if (record->user & kNamedSession) shard.named_sessions.erase(key);
      record->user = (record->user & ~kNamedSession) | kMultiSession;
      record->deadline = Later(before, deadline);
      ++shard.sessions;
    }
  } else {
    auto& list = shard.multi_sessions[key];
    bool found = false;
    uint32_t latest = deadline;
    for (size_t i = 0; i < list.size();) {
      if (list[i].id == session) {
        list[i].deadline = deadline;
        found = true;
      } else if (NotAfter(list[i].deadline, now_tick)) {
        ReleaseSession(list[i].id);  // Expired; the member lives on.
        list[i] = list.back();
        list.pop_back();
        --shard.sessions;
        continue;
      }
      latest = Later(latest, list[i].deadline);
      ++i;
    }
    if (!found) {
      if (session != kDefaultSession) sessions_.AddRef(session);
      list.push_back(Session{session, deadline});
      ++shard.sessions;
    }
    if (list.size() == 1) {
      const uint32_t only = list[0].id;
      shard.multi_sessions.erase(key);
      record->user &= ~kMultiSession;
      if (only != kDefaultSession) {
        shard.named_sessions[key] = only;
        record->user |= kNamedSession;
      }
    }
    record->deadline = latest;
  }
  if (static_cast<int32_t>(record->deadline - before) < 0) {
    channel.members.LowerBound(user, record->deadline, users_);
    BoundLoweredLocked(shard, slot, channel);
  }
}

bool MemoryStore::EndSessionLocked(Shard& shard, uint32_t slot,
                                   Channel& channel, MemberRecord* record,
                                   absl::string_view user, uint32_t session,
                                   uint32_t now_tick) {
  const uint64_t key = MemberKey(slot, record->user);
  if ((record->user & kSessionFlags) == 0) return session == kDefaultSession;
  if (record->user & kNamedSession) {
    return shard.named_sessions[key] == session;
  }
  auto& list = shard.multi_sessions[key];
  uint32_t latest = 0;
  bool any = false;
  for (size_t i = 0; i < list.size();) {
    if (list[i].id == session || NotAfter(list[i].deadline, now_tick)) {
      ReleaseSession(list[i].id);
      list[i] = list.back();
      list.pop_back();
      --shard.sessions;
      continue;
    }
    if (!any || NotAfter(latest, list[i].deadline)) latest = list[i].deadline;
    any = true;
    ++i;
  }
  // With none left the caller removes the member, dropping the empty list.
  if (list.empty()) return true;
  if (list.size() == 1) {
    const uint32_t only = list[0].id;
    shard.multi_sessions.erase(key);
    record->user &= ~kMultiSession;
    if (only != kDefaultSession) {
      shard.named_sessions[key] = only;
      record->user |= kNamedSession;
    }
  }
  const uint32_t before = record->deadline;
  record->deadline = latest;
  if (static_cast<int32_t>(latest - before) < 0) {
    channel.members.LowerBound(user, latest, users_);
    BoundLoweredLocked(shard, slot, channel);
  }
  return false;
}

void MemoryStore::SetMemberStateLocked(Shard& shard, uint32_t slot,
                                       Channel& channel, MemberRecord* record,
                                       absl::string_view user,
                                       const std::string& state,
                                       absl::Time now) {
  const uint64_t key = MemberKey(slot, record->user);
  if (record->user & kHasState) {
    auto it = shard.states.find(key);
    if (it->second == state) return;
    if (state.empty()) {
      shard.states.erase(it);
      record->user &= ~kHasState;
    } else {
      it->second = state;
    }
  } else {
    if (state.empty()) return;
    shard.states.emplace(key, state);
    record->user |= kHasState;
  }
  EmitLocked(shard, channel, EventType::kStateChange, user, now, state,
             channel.members.size());
}

bool MemoryStore::SweepSliceLocked(Shard& shard, Sweep& sweep, absl::Time now) {
  const uint32_t now_tick = FloorTick(now);
  if (!sweep.started) {
    sweep.started = true;
    PruneEpochsLocked(shard, now);
    shard.wheel.Advance(now_tick, [&](uint32_t slot) {
      // The wheel calls back synchronously, within this function's hold.
      sweep.fired.push_back(slot);
    });
  }
  size_t budget = kSweepSlice;
  while (true) {
    if (sweep.next_cut < sweep.cuts.size()) {
      // The next slice of a channel with many due: those still there up to
      // the cut (a call in between may have timed out some, or all).
      if (budget < kSweepSlice) return false;
      const auto& [deadline, user] = sweep.cuts[sweep.next_cut++];
      uint32_t slot = 0;
      Channel* channel = FindChannelLocked(
          shard, sweep.channel, absl::Hash<absl::string_view>()(sweep.channel),
          &slot);
      if (channel != nullptr) {
        size_t occupancy = channel->members.size();
        std::vector<MemberRecord> due;
        channel->members.EraseDueThrough(deadline, user, users_, &due);
        budget -= std::min(budget, due.size());
        RetireDueLocked(shard, slot, *channel, due, now, occupancy);
        if (channel->members.empty()) {
          FreeChannelLocked(shard, slot, *channel);
        } else if (sweep.next_cut == sweep.cuts.size()) {
          RescheduleLocked(shard, slot, *channel, now_tick);
        }
      }
      if (sweep.next_cut < sweep.cuts.size()) return false;
      sweep.cuts.clear();
      sweep.next_cut = 0;
      continue;
    }
    if (sweep.next == sweep.fired.size()) return true;
    if (budget == 0) return false;
    const uint32_t slot = sweep.fired[sweep.next++];
    if (slot >= shard.used) continue;
    Channel& channel = shard.channels[slot];
    if (channel.name.empty()) continue;  // Freed since.
    std::vector<MemberRecord> due;
    channel.members.CollectDue(now_tick, &due);
    if (due.size() <= budget) {
      budget -= due.size();
      TimeOutDueLocked(shard, slot, channel, now);
      continue;
    }
    if (due.size() <= kSweepSlice) {
      // Whole in the next slice.
      --sweep.next;
      return false;
    }
    // Too many for one slice: cut them in slices, in the order they time
    // out.
    SortDue(due);
    sweep.channel = channel.name;
    for (size_t end = kSweepSlice; end < due.size() + kSweepSlice;
         end += kSweepSlice) {
      const MemberRecord& last = due[std::min(end, due.size()) - 1];
      sweep.cuts.emplace_back(last.deadline,
                              std::string(users_.Name(last.user & kIdMask)));
    }
  }
}

absl::Status MemoryStore::ExpireSessions() {
  const absl::Time now = clock_->Now();
  std::array<Sweep, kShards> sweeps;
  size_t left = kShards;
  while (left > 0) {
    size_t worked = 0;
    for (size_t s = 0; s < kShards; ++s) {
      if (sweeps[s].done) continue;
      Shard& shard = *shards_[s];
      MutexLock lock(&shard.mu);
      sweeps[s].done = SweepSliceLocked(shard, sweeps[s], now);
      if (sweeps[s].done) --left;
      ++worked;
    }
    // One shard left with much to do: let the calls waiting for its lock
    // in before the next slice (the lock is not fair).
    if (left == 1 && worked == 1) absl::SleepFor(absl::Microseconds(20));
  }
  pipeline_.Tick();
  return absl::OkStatus();
}

absl::StatusOr<StoreStats> MemoryStore::Stats() {
  StoreStats stats;
  for (auto& shard_ptr : shards_) {
    Shard& shard = *shard_ptr;
    MutexLock lock(&shard.mu);
    stats.channels += shard.by_name.size();
    stats.memberships += shard.memberships;
    stats.sessions += shard.sessions;
  }
  return stats;
}

absl::Status MemoryStore::Resolve(const std::vector<std::string>& channels,
                                  const std::vector<std::string>& groups,
                                  Plan* plan) const {
  const std::vector<std::string>* names = &channels;
  if (!groups.empty()) {
    absl::StatusOr<std::vector<std::string>> expanded = groups_.Expand(groups);
    if (!expanded.ok()) return expanded.status();
    plan->expanded = SortedUnion(channels, *expanded);
    names = &plan->expanded;
  }
  plan->targets.clear();
  plan->mask = 0;
  plan->user = kNoId;
  for (const std::string& name : *names) {
    const size_t hash = absl::Hash<absl::string_view>()(name);
    const size_t shard = NameTable::ShardOfHash(hash);
    plan->targets.push_back(Target{&name, hash, shard, kNoSlot});
    plan->mask |= 1u << shard;
  }
  return absl::OkStatus();
}

absl::Status MemoryStore::PlanHeartbeat(const HeartbeatRequest& request,
                                        Plan* plan) const {
  if (absl::Status status =
          Resolve(request.channels, request.channel_groups, plan);
      !status.ok()) {
    return status;
  }
  // State per channel: a channel's own key wins over its groups' keys.
  plan->state_of.clear();
  for (const auto& [key, state] : request.states) {
    if (std::binary_search(request.channels.begin(), request.channels.end(),
                           key)) {
      plan->state_of[key] = &state;
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
      plan->state_of.try_emplace(channel, &state);
  }
  return absl::OkStatus();
}

absl::Status MemoryStore::HeartbeatLocked(const HeartbeatRequest& request,
                                          const Plan& plan, absl::Time now) {
  const uint32_t now_tick = FloorTick(now);
  const uint32_t deadline =
      CeilTick(now + absl::Seconds(request.timeout_seconds));
  // The session's reference for the duration of the call; members take
  // their own.
  const uint32_t session = request.session_id.empty()
                               ? kDefaultSession
                               : sessions_.Acquire(request.session_id);
  // The first join takes a reference (Acquire), which becomes that
  // member's.
  Id user = UserIdLocked(request.user_id, plan);
  bool acquired = false;
  absl::Status status;
  for (const Target& target : plan.targets) {
    Shard& shard = *shards_[target.shard];
    shard.mu.AssertHeld();  // The caller holds every shard of the plan.
    const std::string& name = *target.name;
    const std::string* state = nullptr;
    if (!plan.state_of.empty()) {
      auto it = plan.state_of.find(name);
      if (it != plan.state_of.end()) state = it->second;
    }
    uint32_t slot = 0;
    Channel* channel = LiveChannelLocked(shard, target, now, &slot);
    if (channel != nullptr && user != kNoId) {
      MemberRecord* record =
          channel->members.Find(request.user_id, user, users_);
      if (record != nullptr) {
        TouchSessionLocked(shard, slot, *channel, record, request.user_id,
                           session, deadline, now_tick);
        if (state != nullptr) {
          SetMemberStateLocked(shard, slot, *channel, record, request.user_id,
                               *state, now);
        }
        continue;
      }
    }
    // A join.
    if (!acquired) {
      user = users_.Acquire(request.user_id);
      if (user > kIdMask) {
        users_.Release(user);
        status = absl::ResourceExhaustedError("too many users");
        break;
      }
      acquired = true;
    } else {
      users_.AddRef(user);
    }
    const bool created = channel == nullptr;
    if (created) channel = &NewChannelLocked(shard, target, now, &slot);
    MemberRecord record{user, deadline};
    const uint64_t key = MemberKey(slot, user);
    if (session != kDefaultSession) {
      sessions_.AddRef(session);
      shard.named_sessions[key] = session;
      record.user |= kNamedSession;
    }
    if (state != nullptr && !state->empty()) {
      shard.states.emplace(key, *state);
      record.user |= kHasState;
    }
    channel->members.Insert(request.user_id, record, users_);
    ++shard.memberships;
    ++shard.sessions;
    if (created) {
      channel->bound.store(channel->members.bound(), std::memory_order_relaxed);
      shard.wheel.Schedule(slot, channel->members.bound());
    } else {
      BoundLoweredLocked(shard, slot, *channel);
    }
    user_index_.Add(user, Handle(shard.index, slot));
    EmitLocked(shard, *channel, EventType::kJoin, request.user_id, now,
               state != nullptr ? *state : "", channel->members.size());
  }
  ReleaseSession(session);
  return status;
}

uint32_t MemoryStore::UserShardMask(absl::string_view user) {
  uint32_t mask = 0;
  user_index_.Read(user, users_,
                   [&mask](Id, const uint32_t* handles, size_t count) {
                     for (size_t i = 0; i < count; ++i) {
                       mask |= 1u << ShardOfHandle(handles[i]);
                     }
                   });
  return mask;
}

absl::Status MemoryStore::CheckUserLimitsLocked(const HeartbeatRequest& request,
                                                const Plan& plan,
                                                absl::Time now) {
  const uint32_t now_tick = FloorTick(now);
  // The user's live sessions and the handles of its live memberships.
  absl::flat_hash_set<uint32_t> sessions;
  absl::flat_hash_set<uint32_t> live;
  user_index_.Read(
      request.user_id, users_,
      [&](Id id, const uint32_t* handles, size_t count) {
        for (size_t i = 0; i < count; ++i) {
          Shard& shard = *shards_[ShardOfHandle(handles[i])];
          shard.mu.AssertHeld();  // The caller holds the user's shards.
          const uint32_t slot = SlotOfHandle(handles[i]);
          Channel& channel = shard.channels[slot];
          const MemberRecord* record =
              channel.members.Find(request.user_id, id, users_);
          if (record == nullptr) continue;
          const uint64_t key = MemberKey(slot, record->user);
          bool alive = false;
          const auto add = [&](uint32_t session, uint32_t deadline) {
            if (NotAfter(deadline, now_tick)) return;
            alive = true;
            sessions.insert(session);
          };
          if (record->user & kMultiSession) {
            auto it = shard.multi_sessions.find(key);
            if (it != shard.multi_sessions.end()) {
              for (const Session& s : it->second) add(s.id, s.deadline);
            }
          } else if (record->user & kNamedSession) {
            auto it = shard.named_sessions.find(key);
            if (it != shard.named_sessions.end()) {
              add(it->second, record->deadline);
            }
          } else {
            add(kDefaultSession, record->deadline);
          }
          if (alive) live.insert(handles[i]);
        }
      });
  if (max_sessions_per_user_ != 0) {
    const uint32_t session = request.session_id.empty()
                                 ? kDefaultSession
                                 : sessions_.Find(request.session_id);
    if ((session == kNoId || !sessions.contains(session)) &&
        sessions.size() >= max_sessions_per_user_) {
      return UserLimitError(request.user_id, UserLimit::kSessionsPerUser,
                            max_sessions_per_user_, sessions.size());
    }
  }
  if (max_channels_per_user_ != 0) {
    size_t after = live.size();
    for (const Target& target : plan.targets) {
      Shard& shard = *shards_[target.shard];
      shard.mu.AssertHeld();  // The caller holds every shard of the plan.
      uint32_t slot = 0;
      if (FindChannelLocked(shard, *target.name, target.hash, &slot) ==
              nullptr ||
          !live.contains(Handle(target.shard, slot))) {
        ++after;
      }
    }
    if (after > max_channels_per_user_ && after > live.size()) {
      return UserLimitError(request.user_id, UserLimit::kChannelsPerUser,
                            max_channels_per_user_, after);
    }
  }
  return absl::OkStatus();
}

absl::Status MemoryStore::Heartbeat(const HeartbeatRequest& request) {
  Plan plan;
  if (absl::Status status = PlanHeartbeat(request, &plan); !status.ok()) {
    return status;
  }
  if (UserLimitsOn()) {
    MutexLock user_lock(&UserLimitMutex(request.user_id));
    const uint32_t mask = plan.mask | UserShardMask(request.user_id);
    ShardLocks locks(shards_, mask);
    const absl::Time now = clock_->Now();
    PruneShards(mask, now);
    if (absl::Status status = CheckUserLimitsLocked(request, plan, now);
        !status.ok()) {
      return status;
    }
    PrefetchChannelsLocked(plan);
    return HeartbeatLocked(request, plan, now);
  }
  ShardLocks locks(shards_, plan.mask);
  const absl::Time now = clock_->Now();
  PruneShards(plan.mask, now);
  PrefetchChannelsLocked(plan);
  return HeartbeatLocked(request, plan, now);
}

void MemoryStore::LeaveLocked(const LeaveRequest& request, const Plan& plan,
                              absl::Time now, LeaveResult* result) {
  const uint32_t now_tick = FloorTick(now);
  // Looked up under the shard locks: while they are held no member of these
  // channels can appear or vanish, so an id found is the one their members
  // hold, and one not found is held by none of them.
  const uint32_t session = request.session_id.empty()
                               ? kDefaultSession
                               : sessions_.Find(request.session_id);
  const Id user = UserIdLocked(request.user_id, plan);
  if (session == kNoId || user == kNoId) return;
  for (const Target& target : plan.targets) {
    Shard& shard = *shards_[target.shard];
    shard.mu.AssertHeld();  // The caller holds every shard of the plan.
    uint32_t slot = 0;
    Channel* channel = LiveChannelLocked(shard, target, now, &slot);
    if (channel == nullptr) continue;
    MemberRecord* record = channel->members.Find(request.user_id, user, users_);
    if (record == nullptr ||
        !EndSessionLocked(shard, slot, *channel, record, request.user_id,
                          session, now_tick)) {
      continue;
    }
    RemoveMemberLocked(shard, slot, *channel, request.user_id, user,
                       EventType::kLeave, now);
    result->channels.push_back(*target.name);
  }
}

absl::StatusOr<LeaveResult> MemoryStore::Leave(const LeaveRequest& request) {
  Plan plan;
  if (absl::Status status =
          Resolve(request.channels, request.channel_groups, &plan);
      !status.ok()) {
    return status;
  }
  LeaveResult result;
  ShardLocks locks(shards_, plan.mask);
  const absl::Time now = clock_->Now();
  PruneShards(plan.mask, now);
  PrefetchChannelsLocked(plan);
  LeaveLocked(request, plan, now, &result);
  return result;
}

void MemoryStore::PrefetchChannelsLocked(const Plan& plan) {
  for (const Target& target : plan.targets) {
    Shard& shard = *shards_[target.shard];
    shard.mu.AssertHeld();  // The caller holds every shard of the plan.
    shard.by_name.prefetch(HashedName{*target.name, target.hash});
  }
}

void MemoryStore::PrefetchChunk(std::vector<Plan>& plans, size_t count,
                                const BatchEntryResult* results) {
  // The chunk's targets by shard (a counting sort), so that each pass
  // locks each shard once.
  std::array<uint32_t, kShards + 1> start = {};
  for (size_t i = 0; i < count; ++i) {
    if (!results[i].status.ok()) continue;
    for (const Target& target : plans[i].targets) ++start[target.shard + 1];
  }
  for (size_t s = 0; s < kShards; ++s) start[s + 1] += start[s];
  absl::InlinedVector<Target*, 4 * kBatchChunk> targets(start[kShards]);
  std::array<uint32_t, kShards> next;
  std::copy(start.begin(), start.begin() + kShards, next.begin());
  for (size_t i = 0; i < count; ++i) {
    if (!results[i].status.ok()) continue;
    for (Target& target : plans[i].targets) {
      targets[next[target.shard]++] = &target;
    }
  }
  // Three passes, each of whose loads overlap instead of missing the cache
  // one after another: the slot cache's entries; the records they name;
  // the trees of those that hold the channel, or else (a guess gone stale)
  // the channel looked up in by_name. The slots found are hints: by the
  // time an entry is applied, other requests (and earlier entries) may have
  // changed what it finds.
  uint32_t mask = 0;
  for (size_t s = 0; s < kShards; ++s) {
    if (start[s] != start[s + 1]) mask |= 1u << s;
  }
  ForEachShardLocked(mask, [&](Shard& shard) {
    shard.mu.AssertHeld();  // ForEachShardLocked holds it.
    if (shard.slot_cache.empty()) return;
    for (uint32_t k = start[shard.index]; k < start[shard.index + 1]; ++k) {
      __builtin_prefetch(
          &shard.slot_cache[SlotCacheIndex(shard, targets[k]->hash)]);
    }
  });
  ForEachShardLocked(mask, [&](Shard& shard) {
    shard.mu.AssertHeld();  // ForEachShardLocked holds it.
    if (shard.slot_cache.empty()) return;
    for (uint32_t k = start[shard.index]; k < start[shard.index + 1]; ++k) {
      Target& target = *targets[k];
      const uint32_t slot =
          shard.slot_cache[SlotCacheIndex(shard, target.hash)];
      if (slot == kNoSlot) continue;
      __builtin_prefetch(&shard.channels[slot]);
      target.slot_hint = slot;
    }
  });
  ForEachShardLocked(mask, [&](Shard& shard) {
    shard.mu.AssertHeld();  // ForEachShardLocked holds it.
    for (uint32_t k = start[shard.index]; k < start[shard.index + 1]; ++k) {
      Target& target = *targets[k];
      if (const Channel* hinted = HintedChannelLocked(shard, target)) {
        hinted->members.Prefetch();
        continue;
      }
      target.slot_hint = kNoSlot;
      uint32_t slot;
      if (const Channel* channel =
              FindChannelLocked(shard, *target.name, target.hash, &slot)) {
        channel->members.Prefetch();
        target.slot_hint = slot;
      }
    }
  });
}

template <typename Fn>
void MemoryStore::ForEachShardLocked(uint32_t mask, Fn fn) {
  while (mask != 0) {
    uint32_t busy = 0;
    for (size_t s = 0; s < kShards; ++s) {
      if ((mask & (1u << s)) == 0) continue;
      Shard& shard = *shards_[s];
      if (!shard.mu.TryLock()) {
        busy |= 1u << s;
        continue;
      }
      fn(shard);
      shard.mu.Unlock();
    }
    if (busy == 0) return;
    // Every shard left is busy: wait for the first.
    const size_t s = static_cast<size_t>(__builtin_ctz(busy));
    Shard& shard = *shards_[s];
    shard.mu.LockSpinning();
    fn(shard);
    shard.mu.Unlock();
    mask = busy & ~(1u << s);
  }
}

void MemoryStore::FindUsers(const std::vector<BatchEntry>& entries,
                            size_t begin, size_t end, std::vector<Plan>& plans,
                            const std::vector<BatchEntryResult>& results) {
  absl::string_view users[kBatchChunk];
  Id ids[kBatchChunk];
  uint64_t frees[kBatchChunk];
  size_t n = 0;
  for (size_t i = begin; i < end; ++i) {
    if (!results[i].status.ok()) continue;
    const BatchEntry& entry = entries[i];
    users[n++] = entry.kind == BatchEntry::Kind::kHeartbeat
                     ? entry.heartbeat.user_id
                     : entry.leave.user_id;
  }
  users_.FindMany(users, n, ids, frees);
  n = 0;
  for (size_t i = begin; i < end; ++i) {
    if (!results[i].status.ok()) continue;
    plans[i - begin].user = ids[n];
    plans[i - begin].user_frees = frees[n];
    ++n;
  }
}

std::vector<BatchEntryResult> MemoryStore::Batch(
    const std::vector<BatchEntry>& entries) {
  if (UserLimitsOn()) {
    // Each heartbeat takes its user's limit lock before its shards' (see
    // Heartbeat): entry by entry, in order, as the generic batch does.
    return PresenceStore::Batch(entries);
  }
  std::vector<BatchEntryResult> results(entries.size());
  std::vector<Plan> plans(std::min(entries.size(), kBatchChunk));
  for (size_t begin = 0; begin < entries.size(); begin += kBatchChunk) {
    const size_t end = std::min(entries.size(), begin + kBatchChunk);
    // Planned outside the locks (groups are expanded under the group
    // registry's lock) and their lookups prefetched a chunk at a time, then
    // applied in order, each entry under its own shards' locks as Heartbeat
    // and Leave do: atomic on its own, and two batches (or a batch and
    // other calls) share the shards instead of taking turns at all of them.
    for (size_t i = begin; i < end; ++i) {
      const BatchEntry& entry = entries[i];
      Plan& plan = plans[i - begin];
      results[i].status = entry.kind == BatchEntry::Kind::kHeartbeat
                              ? PlanHeartbeat(entry.heartbeat, &plan)
                              : Resolve(entry.leave.channels,
                                        entry.leave.channel_groups, &plan);
    }
    FindUsers(entries, begin, end, plans, results);
    PrefetchChunk(plans, end - begin, &results[begin]);
    for (size_t i = begin; i < end; ++i) {
      if (!results[i].status.ok()) continue;
      const BatchEntry& entry = entries[i];
      const Plan& plan = plans[i - begin];
      ShardLocks locks(shards_, plan.mask);
      const absl::Time now = clock_->Now();
      PruneShards(plan.mask, now);
      if (entry.kind == BatchEntry::Kind::kHeartbeat) {
        results[i].status = HeartbeatLocked(entry.heartbeat, plan, now);
      } else {
        LeaveLocked(entry.leave, plan, now, &results[i].leave);
      }
    }
  }
  return results;
}

absl::StatusOr<SetStateResult> MemoryStore::SetState(
    const SetStateRequest& request) {
  Plan plan;
  if (absl::Status status =
          Resolve(request.channels, request.channel_groups, &plan);
      !status.ok()) {
    return status;
  }
  ShardLocks locks(shards_, plan.mask);
  const absl::Time now = clock_->Now();
  PruneShards(plan.mask, now);
  const Id user = users_.Find(request.user_id);
  std::vector<std::string> absent;
  struct Present {
    Shard* shard;
    uint32_t slot;
    Channel* channel;
    MemberRecord* record;
    const std::string* name;
  };
  std::vector<Present> present;
  for (const Target& target : plan.targets) {
    Shard& shard = *shards_[target.shard];
    shard.mu.AssertHeld();  // `locks` holds every shard of the plan.
    uint32_t slot = 0;
    Channel* channel = LiveChannelLocked(shard, target, now, &slot);
    MemberRecord* record =
        channel == nullptr || user == kNoId
            ? nullptr
            : channel->members.Find(request.user_id, user, users_);
    if (record != nullptr) {
      present.push_back({&shard, slot, channel, record, target.name});
    } else if (std::binary_search(request.channels.begin(),
                                  request.channels.end(), *target.name)) {
      absent.push_back(*target.name);
    }
  }
  if (!absent.empty()) {
    return NotPresentError(request.user_id, absent);
  }
  // The records found stay put: a state change moves no member.
  SetStateResult result;
  for (const Present& target : present) {
    Shard& shard = *target.shard;
    shard.mu.AssertHeld();  // `locks` holds every shard of the plan.
    SetMemberStateLocked(shard, target.slot, *target.channel, target.record,
                         request.user_id, request.state, now);
    result.channels.push_back(*target.name);
  }
  result.state = request.state;
  return result;
}

absl::StatusOr<GetStateResult> MemoryStore::GetState(
    const GetStateRequest& request) {
  Plan plan;
  if (absl::Status status =
          Resolve(request.channels, request.channel_groups, &plan);
      !status.ok()) {
    return status;
  }
  GetStateResult result;
  ShardLocks locks(shards_, plan.mask);
  const absl::Time now = clock_->Now();
  PruneShards(plan.mask, now);
  const Id user = users_.Find(request.user_id);
  if (user == kNoId) return result;
  for (const Target& target : plan.targets) {
    Shard& shard = *shards_[target.shard];
    shard.mu.AssertHeld();  // `locks` holds every shard of the plan.
    uint32_t slot = 0;
    Channel* channel = LiveChannelLocked(shard, target, now, &slot);
    const MemberRecord* record =
        channel == nullptr
            ? nullptr
            : channel->members.Find(request.user_id, user, users_);
    if (record == nullptr) continue;
    std::string state;
    if (record->user & kHasState)
      state = shard.states.find(MemberKey(slot, record->user))->second;
    result.states.push_back(ChannelState{*target.name, std::move(state)});
  }
  return result;
}

absl::StatusOr<WhereNowResult> MemoryStore::WhereNow(
    const WhereNowRequest& request) {
  const uint32_t now_tick = FloorTick(clock_->Now());
  WhereNowResult result;
  // Without any shard's lock: a member is present while its channel's
  // bound (a tick at or before every member's deadline) is after now, which
  // is the rule (nothing due) but for channels with someone due and not
  // yet swept, looked at below.
  uint32_t uncertain = 0;  // Shards of such channels.
  uint32_t mask = 0;       // Shards of all the user's channels.
  user_index_.Read(
      request.user_id, users_,
      [&](Id, const uint32_t* handles, uint32_t count) {
        result.channels.reserve(count);
        for (uint32_t i = 0; i < count; ++i) {
          const Channel& channel = ChannelOfHandleUnlocked(handles[i]);
          const uint32_t bit = 1u << ShardOfHandle(handles[i]);
          mask |= bit;
          if (NotAfter(channel.bound.load(std::memory_order_relaxed),
                       now_tick)) {
            uncertain |= bit;
            continue;
          }
          result.channels.push_back(channel.name);
        }
      });
  if (uncertain != 0) {
    // Someone is due in one of the user's channels: answer again, exactly,
    // holding the locks of the shards of every channel of the user (which
    // may change before they are held: then again with more).
    while (true) {
      result.channels.clear();
      bool more = false;
      ShardLocks locks(shards_, mask);
      user_index_.Read(
          request.user_id, users_,
          [&](Id user, const uint32_t* handles, uint32_t count) {
            for (uint32_t i = 0; i < count; ++i) {
              const uint32_t bit = 1u << ShardOfHandle(handles[i]);
              if ((mask & bit) == 0) {
                mask |= bit;
                more = true;
                continue;
              }
              Shard& shard = *shards_[ShardOfHandle(handles[i])];
              shard.mu.AssertHeld();  // `locks` holds every shard in mask.
              Channel& channel = shard.channels[SlotOfHandle(handles[i])];
              if (NotAfter(channel.members.bound(), now_tick)) {
                const MemberRecord* record =
                    channel.members.Find(request.user_id, user, users_);
                if (record == nullptr || NotAfter(record->deadline, now_tick))
                  continue;
              }
              result.channels.push_back(channel.name);
            }
          });
      if (!more) break;
    }
  }
  std::sort(result.channels.begin(), result.channels.end());
  return result;
}

void MemoryStore::DescribeLocked(Shard& shard, uint32_t slot,
                                 const Channel* channel,
                                 const HereNowRequest& request,
                                 ChannelOccupancy& out) {
  if (channel == nullptr) return;
  out.occupancy = static_cast<uint32_t>(channel->members.size());
  if (!request.include_user_ids || request.offset >= out.occupancy) return;
  // The page's records first, so that their users' names (scattered in
  // memory: a cache miss each) can be loaded ahead of copying them.
  std::vector<MemberRecord> page;
  page.reserve(std::min<size_t>(request.limit, out.occupancy - request.offset));
  channel->members.ForRange(
      request.offset, request.limit,
      [&](const MemberRecord& record) { page.push_back(record); });
  constexpr size_t kAhead = 16;
  for (size_t i = 0; i < std::min(kAhead, page.size()); ++i)
    users_.PrefetchEntry(page[i].user & kIdMask);
  out.occupants.resize(page.size());
  for (size_t i = 0; i < page.size(); ++i) {
    if (i + kAhead < page.size())
      users_.PrefetchEntry(page[i + kAhead].user & kIdMask);
    const MemberRecord& record = page[i];
    Occupant& occupant = out.occupants[i];
    occupant.user_id = std::string(users_.Name(record.user & kIdMask));
    if (request.include_state && (record.user & kHasState)) {
      occupant.state = shard.states.find(MemberKey(slot, record.user))->second;
    }
  }
}

absl::StatusOr<HereNowResult> MemoryStore::HereNow(
    const HereNowRequest& request) {
  const bool global =
      request.channels.empty() && request.channel_groups.empty();
  HereNowResult result;
  if (global) {
    std::vector<uint32_t> slots;
    for (auto& shard_ptr : shards_) {
      Shard& shard = *shard_ptr;
      MutexLock lock(&shard.mu);
      const absl::Time now = clock_->Now();
      PruneEpochsLocked(shard, now);
      slots.clear();
      for (const auto& [name, slot] : shard.by_name) slots.push_back(slot);
      for (uint32_t slot : slots) {
        Channel& channel = shard.channels[slot];
        if (NotAfter(channel.members.bound(), FloorTick(now)) &&
            !TimeOutDueLocked(shard, slot, channel, now)) {
          continue;
        }
        ChannelOccupancy out;
        out.name = channel.name;
        DescribeLocked(shard, slot, &channel, request, out);
        result.channels.push_back(std::move(out));
      }
    }
    std::sort(result.channels.begin(), result.channels.end(),
              [](const ChannelOccupancy& a, const ChannelOccupancy& b) {
                return a.name < b.name;
              });
  } else {
    Plan plan;
    if (absl::Status status =
            Resolve(request.channels, request.channel_groups, &plan);
        !status.ok()) {
      return status;
    }
    ShardLocks locks(shards_, plan.mask);
    const absl::Time now = clock_->Now();
    PruneShards(plan.mask, now);
    for (const Target& target : plan.targets) {
      Shard& shard = *shards_[target.shard];
      shard.mu.AssertHeld();  // `locks` holds every shard of the plan.
      uint32_t slot = 0;
      const Channel* channel = LiveChannelLocked(shard, target, now, &slot);
      const bool named = std::binary_search(
          request.channels.begin(), request.channels.end(), *target.name);
      if (channel == nullptr && !named) continue;  // Empty group channel.
      ChannelOccupancy out;
      out.name = *target.name;
      DescribeLocked(shard, slot, channel, request, out);
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

MemoryStoreImage MemoryStore::Image() {
  const absl::Time now = clock_->Now();
  MemoryStoreImage image;
  for (size_t s = 0; s < kShards; ++s) {
    Shard& shard = *shards_[s];
    // One shard at a time, so requests stall for a sixteenth of the copy.
    MutexLock lock(&shard.mu);
    for (uint32_t slot = 0; slot < shard.used; ++slot) {
      const Channel& channel = shard.channels[slot];
      if (channel.name.empty()) continue;
      MemoryStoreImage::Channel& out = image.channels.emplace_back();
      out.name = channel.name;
      out.epoch = static_cast<uint32_t>(channel.sequence >> 32);
      out.members.reserve(channel.members.size());
      channel.members.ForRange(
          0, channel.members.size(), [&](const MemberRecord& record) {
            shard.mu.AssertHeld();  // ForRange calls back within the hold.
            MemoryStoreImage::Member& member = out.members.emplace_back();
            const uint32_t id = record.user & kIdMask;
            const uint64_t key = MemberKey(slot, id);
            member.user_id = std::string(users_.Name(id));
            if (record.user & kHasState) member.state = shard.states.at(key);
            auto session_name = [&](uint32_t session) {
              return session == kDefaultSession
                         ? std::string()
                         : std::string(sessions_.Name(session));
            };
            if (record.user & kMultiSession) {
              for (const Session& session : shard.multi_sessions.at(key)) {
                member.sessions.push_back({session_name(session.id),
                                           TickTime(session.deadline, now)});
              }
            } else {
              const uint32_t session = (record.user & kNamedSession)
                                           ? shard.named_sessions.at(key)
                                           : kDefaultSession;
              member.sessions.push_back(
                  {session_name(session), TickTime(record.deadline, now)});
            }
          });
    }
    for (const auto& [name, epoch] : shard.past_epochs) {
      image.past_epochs.emplace_back(name, epoch);
    }
  }
  std::sort(image.channels.begin(), image.channels.end(),
            [](const MemoryStoreImage::Channel& a,
               const MemoryStoreImage::Channel& b) { return a.name < b.name; });
  return image;
}

void MemoryStore::Restore(const MemoryStoreImage& image) {
  const absl::Time now = clock_->Now();
  // Ticks are compared modulo 2^32: a deadline long past is due now.
  const absl::Time oldest = now - absl::Nanoseconds(tick_ns_) * (1 << 30);
  auto tick_of = [&](absl::Time deadline) {
    return CeilTick(std::max(deadline, oldest));
  };
  for (const auto& [name, epoch] : image.past_epochs) {
    Shard& shard =
        *shards_[NameTable::ShardOfHash(absl::Hash<absl::string_view>()(name))];
    MutexLock lock(&shard.mu);
    uint32_t& past = shard.past_epochs[name];
    past = std::max(past, epoch);
  }
  for (const MemoryStoreImage::Channel& in : image.channels) {
    if (in.members.empty()) continue;
    const size_t hash = absl::Hash<absl::string_view>()(in.name);
    const Target target{&in.name, hash, NameTable::ShardOfHash(hash)};
    Shard& shard = *shards_[target.shard];
    MutexLock lock(&shard.mu);
    uint32_t slot = 0;
    if (FindChannelLocked(shard, in.name, hash, &slot) != nullptr) continue;
    // The new epoch is above the image's (NewEpochLocked).
    uint32_t& past = shard.past_epochs[in.name];
    past = std::max(past, in.epoch);
    Channel& channel = NewChannelLocked(shard, target, now, &slot);
    for (const MemoryStoreImage::Member& member : in.members) {
      if (member.sessions.empty()) continue;
      const Id user = users_.Acquire(member.user_id);  // The member's.
      if (user > kIdMask || channel.members.Find(member.user_id, users_)) {
        users_.Release(user);
        continue;
      }
      MemberRecord record{user, tick_of(member.sessions[0].deadline)};
      const uint64_t key = MemberKey(slot, user);
      if (member.sessions.size() == 1) {
        if (!member.sessions[0].session_id.empty()) {
          shard.named_sessions[key] =
              sessions_.Acquire(member.sessions[0].session_id);
          record.user |= kNamedSession;
        }
      } else {
        auto& list = shard.multi_sessions[key];
        for (const MemoryStoreImage::Session& session : member.sessions) {
          const uint32_t id = session.session_id.empty()
                                  ? kDefaultSession
                                  : sessions_.Acquire(session.session_id);
          list.push_back(Session{id, tick_of(session.deadline)});
          record.deadline = Later(record.deadline, tick_of(session.deadline));
        }
        record.user |= kMultiSession;
      }
      shard.sessions += member.sessions.size();
      if (!member.state.empty()) {
        shard.states.emplace(key, member.state);
        record.user |= kHasState;
      }
      channel.members.Insert(member.user_id, record, users_);
      ++shard.memberships;
      user_index_.Add(user, Handle(shard.index, slot));
    }
    if (channel.members.empty()) {
      FreeChannelLocked(shard, slot, channel);
      continue;
    }
    channel.bound.store(channel.members.bound(), std::memory_order_relaxed);
    shard.wheel.Schedule(slot, channel.members.bound());
    pipeline_.Restore(channel.name,
                      static_cast<uint32_t>(channel.sequence >> 32),
                      static_cast<uint32_t>(channel.members.size()), now);
  }
}

std::unique_ptr<RestorableMemoryStore> NewRestorableMemoryStore(
    const MemoryStoreOptions& options, Clock* clock,
    const MemoryStoreImage& image) {
  auto store = std::make_unique<MemoryStore>(options, clock);
  store->Restore(image);
  return store;
}

}  // namespace presence
