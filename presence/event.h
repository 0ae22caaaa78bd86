// Presence events: what the store tells listeners about every change.
//
//   class Printer : public presence::EventListener {
//     void OnEvent(const presence::PresenceEvent& e) override {
//       std::cout << EventTypeName(e.type) << " " << e.user_id << "\n";
//     }
//   };
//   store->AddListener(&printer);
//
// The listener contract, kept by every store (each store's header says which
// thread calls its listeners):
// - The events of one channel are delivered in order and never
//   concurrently: a listener sees a channel's events one at a time, in the
//   order of the changes. Events of different channels may be delivered
//   concurrently from different threads.
// - Listeners are called synchronously from the store's delivery thread
//   (the memory store: the thread that made the change, holding the
//   channel's lock; the Redis store: its event-reader thread), so a
//   listener must be quick, must not block, and must not call back into the
//   store.
// - Group changes come in the order of the changes, and a listener gets
//   every existing group before anything else (PresenceStore::AddListener).
#ifndef PRESENCE_EVENT_H_
#define PRESENCE_EVENT_H_

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace presence {

enum class EventType {
  // Emitted by stores:
  kJoin,         // The user's first session on the channel began.
  kLeave,        // The user's last session on the channel left.
  kTimeout,      // The user's last session on the channel passed its deadline.
  kStateChange,  // The user's state on the channel changed.
  // Derived from the above (presence/internal/event_pipeline.h):
  kInterval,  // Periodic summary of a channel above announce_max.
  kActive,    // The channel's occupancy went from 0 to 1.
  kInactive,  // The channel's occupancy went from 1 to 0.
};

// Returns "join", "leave", "timeout", "state-change", "interval", "active"
// or "inactive".
absl::string_view EventTypeName(EventType type);

struct PresenceEvent {
  EventType type = EventType::kJoin;
  std::string channel;
  std::string user_id;
  // Occupancy of the channel after the change.
  uint32_t occupancy = 0;
  absl::Time time;
  // The user's state on the channel (JSON object text) for joins with state
  // and state changes; empty otherwise.
  std::string state;
  // Strictly increasing per channel: epoch << 32 | count. The epoch changes
  // only when the channel becomes active (its occupancy goes from 0 to 1),
  // and is then max(the current time in whole Unix seconds by the store's
  // clock, the channel's previous epoch + 1); the count numbers the events
  // of the epoch from 1, so a consumer can tell a gap. So a channel's epochs
  // increase even when it reactivates within a second, and (channel,
  // sequence) does not repeat across restarts of the store (or a Redis that
  // lost its data) unless the restart is quicker than how far the channel's
  // epochs ran ahead of the clock (only channels that reactivate more than
  // once a second run ahead). Consumers may deduplicate by it.
  uint64_t sequence = 0;
  // Timeouts only: the deadline the user's last session passed (`time` is
  // when the timeout happened; the difference is the timeout's lag). Stores
  // that cannot tell leave it absl::InfinitePast(). Not sent to clients.
  absl::Time deadline = absl::InfinitePast();

  // Interval events only: who joined, left and timed out since the previous
  // interval event, unless the lists were too large, in which case they are
  // empty and here_now_refresh is true (call HereNow instead).
  std::vector<std::string> joined;
  std::vector<std::string> left;
  std::vector<std::string> timed_out;
  bool here_now_refresh = false;

  // Exclusive listeners only (PresenceStore::AddExclusiveListener), from a
  // store whose exclusive delivery resumes across replicas (Redis): the
  // event's place in this store's exclusive delivery, strictly increasing
  // from 1 (see EventListener::DoneThrough). 0 otherwise.
  uint64_t delivery_position = 0;
};

// How stores turn changes into the events consumers receive (see
// EventListener): interval mode above announce_max occupants.
struct EventOptions {
  // Above this many occupants a channel is in interval mode.
  uint32_t announce_max = 20;
  // Period of INTERVAL events.
  absl::Duration interval = absl::Seconds(10);
  // Largest join/leave/timeout lists of one INTERVAL event, in bytes of
  // JSON (ids, quotes and commas); beyond it they are dropped and
  // here_now_refresh is set.
  size_t interval_lists_max_bytes = 30 * 1024;
};

// A channel group's membership changed (or the group was deleted, with
// `channels` empty).
struct GroupChange {
  std::string group;
  std::vector<std::string> channels;  // The group's channels now, sorted.
};

class EventListener {
 public:
  virtual ~EventListener() = default;

  // Called once per event; see the file comment for the rules.
  virtual void OnEvent(const PresenceEvent& event) = 0;

  // Called after a group's channels changed, in the order of the changes;
  // and for every existing group when the listener is added.
  virtual void OnGroupChange(const GroupChange& change) {}

  // Called when the store may have lost events: consumers that promise
  // completeness (watch streams) must end and re-sync. UNAVAILABLE when its
  // backend became unreachable; DATA_LOSS when events were skipped for good
  // (a Redis replica fell behind its capped event streams). Group state is
  // re-sent with OnGroupChange afterwards.
  virtual void OnEventsInterrupted(const absl::Status& status) {}

  // Exclusive listeners whose side effect of an event completes after
  // OnEvent returns (webhooks are POSTed later) tell the store how far they
  // are done, so that a store shared by replicas records only that and a
  // replica taking the delivery over resumes there (at least once): returns
  // P such that every event offered with delivery_position <= P is done
  // (its effect happened, or was given up for good). Called on the delivery
  // thread, between OnEvent calls. The default means every event is done
  // when OnEvent returns.
  virtual uint64_t DoneThrough() const {
    return std::numeric_limits<uint64_t>::max();
  }
};

}  // namespace presence

#endif  // PRESENCE_EVENT_H_
