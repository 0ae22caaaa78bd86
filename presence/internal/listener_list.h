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
#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "presence/base/mutex.h"
#include "presence/event.h"

namespace presence {

// The set of listeners a store notifies. Thread-safe. Listeners are called
// with the list's lock held in shared mode: several Notify calls (of
// different channels) may run at once, and Remove waits for them. Each
// Notify calls the listeners in the order they were added.
class ListenerList {
 public:
  // Adds `listener`, which must outlive its registration. With
  // `group_changes` false it gets no NotifyGroupChange calls (exclusive
  // listeners receive events only).
  void Add(EventListener* listener, bool group_changes = true)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Removes `listener`. When this returns, no call to it is in progress and
  // none will start.
  void Remove(EventListener* listener) ABSL_LOCKS_EXCLUDED(mu_);

  // Returns whether any listener is registered (so callers can skip
  // building events nobody receives).
  bool empty() const { return count_.load(std::memory_order_acquire) == 0; }

  // Calls every listener with `event`.
  void Notify(const PresenceEvent& event) const ABSL_LOCKS_EXCLUDED(mu_);

  // Calls every listener that takes group changes with `change`.
  void NotifyGroupChange(const GroupChange& change) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Returns the least DoneThrough() of the listeners; 0 when there are
  // none (nobody took the events, so none is done).
  uint64_t MinDoneThrough() const ABSL_LOCKS_EXCLUDED(mu_);

  // Calls every listener's OnEventsInterrupted.
  void NotifyInterrupted(const absl::Status& status) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry {
    EventListener* listener;
    bool group_changes;
  };

  mutable SharedMutex mu_;
  std::vector<Entry> listeners_ ABSL_GUARDED_BY(mu_);
  // listeners_.size(), readable without the lock.
  std::atomic<size_t> count_{0};
};

}  // namespace presence

#endif  // PRESENCE_INTERNAL_LISTENER_LIST_H_
