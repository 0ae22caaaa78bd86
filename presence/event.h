// Presence events: what the store tells listeners about every change.
//
//   class Printer : public presence::EventListener {
//     void OnEvent(const presence::PresenceEvent& e) override {
//       std::cout << EventTypeName(e.type) << " " << e.user_id << "\n";
//     }
//   };
//   store->AddListener(&printer);
//
// Listeners are called synchronously by the thread that made the change,
// while the store holds the lock of the event's channel: that is what keeps
// events in order per channel. A listener must therefore be quick, must not
// block, and must not call back into the store. Events of different
// channels may be delivered concurrently from different threads.
#ifndef PRESENCE_EVENT_H_
#define PRESENCE_EVENT_H_

#include <cstdint>
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
  // Derived by EventPipeline (event_pipeline.h):
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
  // Strictly increasing per channel. The high 32 bits are an epoch that
  // changes only when an empty channel gets its first occupant; the low 32
  // bits count the events of the epoch from 1, so a consumer can tell a gap.
  uint64_t sequence = 0;

  // Interval events only: who joined, left and timed out since the previous
  // interval event, unless the lists were too large, in which case they are
  // empty and here_now_refresh is true (call HereNow instead).
  std::vector<std::string> joined;
  std::vector<std::string> left;
  std::vector<std::string> timed_out;
  bool here_now_refresh = false;
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

  // Called after a group's channels changed, in the order of the changes.
  virtual void OnGroupChange(const GroupChange& change) {}

  // Called when the store may have lost events (its backend became
  // unreachable): consumers that promise completeness (watch streams) must
  // end and re-sync. Group state is re-sent with OnGroupChange afterwards.
  virtual void OnEventsInterrupted(const absl::Status& status) {}
};

}  // namespace presence

#endif  // PRESENCE_EVENT_H_
