// EventPipeline: turns a store's events into the events consumers receive.
//
// It sits between a store and the consumers (the WatchEvents hub, webhooks):
//
//   store --OnEvent--> EventPipeline --OnEvent--> watch hub, webhooks
//
// and adds what presence consumers expect on top of the store's raw
// join / leave / timeout / state-change events:
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
//   consecutive within an epoch (see PresenceEvent::sequence).
//
//   EventPipeline pipeline(EventOptions(), clock);
//   store->AddListener(&pipeline);
//   pipeline.AddListener(&hub);
//   ... every 100 ms: pipeline.Tick();  // Emits the INTERVAL events due.
//
// Thread-safe. Output listeners are called with the channel's pipeline lock
// held, which keeps per-channel order; the rules of event.h apply to them.
#ifndef PRESENCE_INTERNAL_EVENT_PIPELINE_H_
#define PRESENCE_INTERNAL_EVENT_PIPELINE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
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

  // Emits the INTERVAL events that are due at the clock's current time.
  void Tick();

  // Consumers; see ListenerList.
  void AddListener(EventListener* listener) { listeners_.Add(listener); }
  void RemoveListener(EventListener* listener) { listeners_.Remove(listener); }

  // Returns the number of channels the pipeline keeps state for (occupied
  // channels it has seen events of).
  size_t tracked_channels() const;

 private:
  struct ChannelState {
    uint32_t epoch = 0;
    uint32_t count = 0;  // Events emitted in the epoch.
    uint32_t occupancy = 0;
    bool interval_mode = false;
    absl::Time next_interval;
    std::vector<std::string> joined;
    std::vector<std::string> left;
    std::vector<std::string> timed_out;
    size_t list_bytes = 0;
    bool lists_overflowed = false;
  };

  struct Shard {
    mutable std::mutex mu;
    absl::flat_hash_map<std::string, ChannelState> channels;  // mu
    absl::flat_hash_set<std::string> interval_channels;       // mu
  };

  static constexpr size_t kShards = 16;

  // The helpers run with the shard's lock held.
  void Emit(ChannelState& state, PresenceEvent& event);
  void EmitInterval(const std::string& channel, ChannelState& state,
                    absl::Time now);
  void Accumulate(ChannelState& state, const PresenceEvent& event);

  Shard& ShardFor(const std::string& channel);

  const EventOptions options_;
  Clock* const clock_;
  std::array<Shard, kShards> shards_;
  ListenerList listeners_;
};

}  // namespace presence

#endif  // PRESENCE_INTERNAL_EVENT_PIPELINE_H_
