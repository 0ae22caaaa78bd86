// EventPipeline: turns a store's raw events into the events consumers
// receive. The memory store sends its raw events through one before its
// listeners (the service's event fan-out, webhooks) see them:
//
//   memory store --OnEvent--> EventPipeline --OnEvent--> listeners
//
// (the Redis store applies the same rules in its scripts,
// presence/store/redis/redis_scripts.lua). It adds what presence consumers
// expect on top of the raw join / leave / timeout / state-change events:
// - ACTIVE before the join that takes a channel from 0 to 1 occupant, and
//   INACTIVE after the leave or timeout that takes it from 1 to 0;
// - interval mode (PubNub's "announce max"): while a channel has more than
//   announce_max occupants, its joins, leaves and timeouts are not sent one
//   by one; instead one INTERVAL event every `interval` carries the
//   occupancy and who joined, left and timed out since the last one (or
//   here_now_refresh when those lists would exceed interval_lists_max_bytes).
//   When occupancy falls back to announce_max or below, what is pending is
//   sent as a last INTERVAL event and per-user events resume. State changes
//   are always sent one by one.
// - the sequence numbers consumers see: per channel, strictly increasing,
//   consecutive within an epoch (see PresenceEvent::sequence). The epoch is
//   the raw event's (sequence >> 32); the pipeline counts its events anew
//   whenever it changes.
//
//   EventPipeline pipeline(EventOptions(), clock);
//   raw_listeners.Add(&pipeline);  // The store's raw events.
//   pipeline.AddListener(&consumer);
//   ... periodically: pipeline.Tick();  // Emits the INTERVAL events due.
//
// Thread-safe. Output listeners are called with the channel's pipeline lock
// held, which keeps per-channel order; the rules of event.h apply to them.
// Raw events of one channel must come in order and one at a time.
#ifndef PRESENCE_INTERNAL_EVENT_PIPELINE_H_
#define PRESENCE_INTERNAL_EVENT_PIPELINE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "presence/base/mutex.h"
#include "presence/clock.h"
#include "presence/event.h"
#include "presence/internal/listener_list.h"

namespace presence {

class EventPipeline : public EventListener {
 public:
  // `clock` must outlive the pipeline.
  EventPipeline(const EventOptions& options, Clock* clock);

  // From the store.
  void OnEvent(const PresenceEvent& event) override;
  void OnGroupChange(const GroupChange& change) override;

  // OnEvent() without a copy: the pipeline may change `event` (its
  // sequence) and emit it as is. For stores that build each raw event for
  // the pipeline alone.
  void Process(PresenceEvent& event);

  // Emits the INTERVAL events that are due at the clock's current time.
  void Tick();

  // Consumers; see ListenerList (`group_changes` false: events only).
  void AddListener(EventListener* listener, bool group_changes = true) {
    listeners_.Add(listener, group_changes);
  }
  void RemoveListener(EventListener* listener) { listeners_.Remove(listener); }

  // Returns the number of channels the pipeline keeps state for (occupied
  // channels it has seen events of).
  size_t tracked_channels() const;

  // Takes up a channel a store restored with `occupancy` members in
  // `epoch` (presence/store/memory/memory_store_image.h) as if its events
  // had gone through the pipeline: no ACTIVE is due, the epoch's next
  // event is numbered 1, and above announce_max interval mode is on with
  // the next interval event due one interval after `now`.
  void Restore(const std::string& channel, uint32_t epoch, uint32_t occupancy,
               absl::Time now);

 private:
  struct ChannelState {
    uint32_t epoch = 0;
    uint32_t count = 0;  // Events emitted in the epoch.
    uint32_t occupancy = 0;
    bool interval_mode = false;
    bool lists_overflowed = false;
    absl::Time next_interval;
    // Who joined, left and timed out since the last interval event, in one
    // buffer (about a fifth of the memory of three vectors of strings):
    // per change a kind byte, the id's length (varint) and the id.
    std::string changes;
    size_t list_bytes = 0;  // JSON bytes of the lists.
  };

  // Channels are spread over shards by name; a channel's events are
  // processed and emitted with its shard's lock held.
  struct Shard {
    mutable Mutex mu;
    absl::flat_hash_map<std::string, ChannelState> channels ABSL_GUARDED_BY(mu);
    absl::flat_hash_set<std::string> interval_channels ABSL_GUARDED_BY(mu);
  };

  static constexpr size_t kShards = 16;

  // `state` is a channel's entry in `shard.channels`.
  void EmitLocked(Shard& shard, ChannelState& state, PresenceEvent& event)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  void EmitIntervalLocked(Shard& shard, const std::string& channel,
                          ChannelState& state, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  void AccumulateLocked(Shard& shard, ChannelState& state,
                        const PresenceEvent& event)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  // The shard of the channel whose name's absl::Hash is `hash`.
  Shard& ShardFor(size_t hash);

  const EventOptions options_;
  Clock* const clock_;
  std::array<Shard, kShards> shards_;
  ListenerList listeners_;
};

}  // namespace presence

#endif  // PRESENCE_INTERNAL_EVENT_PIPELINE_H_
