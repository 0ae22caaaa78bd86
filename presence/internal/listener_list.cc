#include "presence/internal/listener_list.h"

#include <algorithm>
#include <mutex>

namespace presence {

void ListenerList::Add(EventListener* listener) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  listeners_.push_back(listener);
  count_.store(listeners_.size(), std::memory_order_release);
}

void ListenerList::Remove(EventListener* listener) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  listeners_.erase(std::remove(listeners_.begin(), listeners_.end(), listener),
                   listeners_.end());
  count_.store(listeners_.size(), std::memory_order_release);
}

void ListenerList::Notify(const PresenceEvent& event) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  for (EventListener* listener : listeners_) listener->OnEvent(event);
}

void ListenerList::NotifyGroupChange(const GroupChange& change) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  for (EventListener* listener : listeners_) listener->OnGroupChange(change);
}

void ListenerList::NotifyInterrupted(const absl::Status& status) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  for (EventListener* listener : listeners_)
    listener->OnEventsInterrupted(status);
}

}  // namespace presence
