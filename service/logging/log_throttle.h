// LogThrottle: at most one log line per key per interval, so that a receiver
// failing thousands of times a second costs a line every few seconds, not a
// flood; the occurrences it held back are counted, so that the next line can
// say how many there were.
//
//   LogThrottle throttle(std::chrono::seconds(10));
//   if (throttle.Allow("failures", now)) {
//     LogError(absl::StrCat("batch failed; ",
//     throttle.TakeHeldBack("failures"),
//                           " more since the previous line"));
//   } else {
//     throttle.HoldBack("failures");
//   }
//
// The caller passes the time (a monotonic clock's), so tests choose it.
//
// Thread-compatible: one thread uses it (the webhook delivery thread), or
// the callers synchronize.
#ifndef SERVICE_LOGGING_LOG_THROTTLE_H_
#define SERVICE_LOGGING_LOG_THROTTLE_H_

#include <chrono>
#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"

namespace presence {

class LogThrottle {
 public:
  using Time = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;

  // Allows a line per key per `interval` (which must not be negative).
  explicit LogThrottle(Duration interval);

  // Returns whether a line about `key` may be logged at `now`: none was
  // allowed yet, or the last one at least `interval` before `now`. When it
  // returns true, it records `now` as the time of that line.
  bool Allow(absl::string_view key, Time now);

  // Returns when Allow(key, ...) will next return true: Time::min() when no
  // line about `key` was allowed yet (it would now), else the time of the
  // last one plus `interval`.
  Time NextAllowed(absl::string_view key) const;

  // Counts `count` occurrences of `key` that were not logged.
  void HoldBack(absl::string_view key, uint64_t count = 1);

  // Returns the occurrences of `key` held back since the previous call (for
  // the line being logged) and starts counting again from 0.
  uint64_t TakeHeldBack(absl::string_view key);

 private:
  struct KeyState {
    Time last_line = Time::min();  // Time::min(): none yet.
    uint64_t held_back = 0;
  };

  KeyState& StateOf(absl::string_view key);

  const Duration interval_;
  absl::flat_hash_map<std::string, KeyState> keys_;
};

}  // namespace presence

#endif  // SERVICE_LOGGING_LOG_THROTTLE_H_
