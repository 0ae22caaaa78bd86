#include "service/logging/log_throttle.h"

#include <utility>

namespace presence {

LogThrottle::LogThrottle(Duration interval) : interval_(interval) {}

bool LogThrottle::Allow(absl::string_view key, Time now) {
  KeyState& state = StateOf(key);
  if (state.last_line != Time::min() && now - state.last_line < interval_) {
    return false;
  }
  state.last_line = now;
  return true;
}

LogThrottle::Time LogThrottle::NextAllowed(absl::string_view key) const {
  const auto it = keys_.find(key);
  if (it == keys_.end() || it->second.last_line == Time::min()) {
    return Time::min();
  }
  return it->second.last_line + interval_;
}

void LogThrottle::HoldBack(absl::string_view key, uint64_t count) {
  StateOf(key).held_back += count;
}

uint64_t LogThrottle::TakeHeldBack(absl::string_view key) {
  const auto it = keys_.find(key);
  if (it == keys_.end()) return 0;
  return std::exchange(it->second.held_back, 0);
}

LogThrottle::KeyState& LogThrottle::StateOf(absl::string_view key) {
  auto it = keys_.find(key);
  if (it == keys_.end()) it = keys_.emplace(std::string(key), KeyState()).first;
  return it->second;
}

}  // namespace presence
