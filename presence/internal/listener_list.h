// ListenerList: the set of EventListeners a store (or the event pipeline)
// notifies.
//
//   ListenerList listeners;
//   listeners.Add(&hub);
//   listeners.Notify(event);  // hub.OnEvent(event)
#ifndef PRESENCE_INTERNAL_LISTENER_LIST_H_
#define PRESENCE_INTERNAL_LISTENER_LIST_H_

#include <atomic>
#include <cstddef>
#include <shared_mutex>
#include <vector>

#include "absl/status/status.h"
#include "presence/event.h"

namespace presence {

// The set of listeners a store notifies. Thread-safe.
class ListenerList {
 public:
  // Adds `listener`, which must outlive its registration.
  void Add(EventListener* listener);

  // Removes `listener`. When this returns, no call to it is in progress and
  // none will start.
  void Remove(EventListener* listener);

  // Returns whether any listener is registered (so callers can skip
  // building events nobody receives).
  bool empty() const { return count_.load(std::memory_order_acquire) == 0; }

  // Calls every listener with `event`.
  void Notify(const PresenceEvent& event) const;

  // Calls every listener with `change`.
  void NotifyGroupChange(const GroupChange& change) const;

  // Calls every listener's OnEventsInterrupted.
  void NotifyInterrupted(const absl::Status& status) const;

 private:
  mutable std::shared_mutex mu_;
  std::vector<EventListener*> listeners_;  // Guarded by mu_.
  std::atomic<size_t> count_{0};
};

}  // namespace presence

#endif  // PRESENCE_INTERNAL_LISTENER_LIST_H_
