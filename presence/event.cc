#include "presence/event.h"

#include <algorithm>
#include <mutex>

namespace presence {

absl::string_view EventTypeName(EventType type) {
  switch (type) {
    case EventType::kJoin:
      return "join";
    case EventType::kLeave:
      return "leave";
    case EventType::kTimeout:
      return "timeout";
    case EventType::kStateChange:
      return "state-change";
    case EventType::kInterval:
      return "interval";
    case EventType::kActive:
      return "active";
    case EventType::kInactive:
      return "inactive";
  }
  return "unknown";
}

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
