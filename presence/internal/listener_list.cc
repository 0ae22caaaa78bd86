#include "presence/internal/listener_list.h"

#include <algorithm>
#include <cstdint>
#include <limits>

namespace presence {

void ListenerList::Add(EventListener* listener, bool group_changes) {
  WriterMutexLock lock(&mu_);
  listeners_.push_back(Entry{listener, group_changes});
  count_.store(listeners_.size(), std::memory_order_release);
}

void ListenerList::Remove(EventListener* listener) {
  WriterMutexLock lock(&mu_);
  listeners_.erase(std::remove_if(listeners_.begin(), listeners_.end(),
                                  [listener](const Entry& entry) {
                                    return entry.listener == listener;
                                  }),
                   listeners_.end());
  count_.store(listeners_.size(), std::memory_order_release);
}

void ListenerList::Notify(const PresenceEvent& event) const {
  ReaderMutexLock lock(&mu_);
  for (const Entry& entry : listeners_) entry.listener->OnEvent(event);
}

void ListenerList::NotifyGroupChange(const GroupChange& change) const {
  ReaderMutexLock lock(&mu_);
  for (const Entry& entry : listeners_) {
    if (entry.group_changes) entry.listener->OnGroupChange(change);
  }
}

uint64_t ListenerList::MinDoneThrough() const {
  ReaderMutexLock lock(&mu_);
  if (listeners_.empty()) return 0;
  uint64_t done = std::numeric_limits<uint64_t>::max();
  for (const Entry& entry : listeners_) {
    done = std::min(done, entry.listener->DoneThrough());
  }
  return done;
}

void ListenerList::NotifyInterrupted(const absl::Status& status) const {
  ReaderMutexLock lock(&mu_);
  for (const Entry& entry : listeners_) {
    entry.listener->OnEventsInterrupted(status);
  }
}

}  // namespace presence
