#include "presence/event.h"

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

}  // namespace presence
