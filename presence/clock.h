// Clock: the source of time for everything time-based in the presence
// library, so that tests can drive timeouts without sleeping.
//
//   presence::SimulatedClock clock(absl::FromUnixSeconds(1000));
//   auto store = presence::NewMemoryStore({}, &clock);
//   clock.Advance(absl::Seconds(301));
//   store->ExpireSessions();  // sessions past their deadline time out now
//
// Thread-safe: Now() may be called from any thread.
#ifndef PRESENCE_CLOCK_H_
#define PRESENCE_CLOCK_H_

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"

namespace presence {

class Clock {
 public:
  virtual ~Clock() = default;

  // Returns the current time.
  virtual absl::Time Now() const = 0;

  // Returns the process-wide clock: wall time that never goes backwards
  // (monotonic since start). Never null; never deleted.
  static Clock* Real();
};

// A clock that moves only when told to. Used by tests.
class SimulatedClock : public Clock {
 public:
  explicit SimulatedClock(absl::Time start = absl::UnixEpoch())
      : now_ns_(absl::ToUnixNanos(start)) {}

  absl::Time Now() const override {
    return absl::FromUnixNanos(now_ns_.load(std::memory_order_acquire));
  }

  // Moves the clock forward by `d` (which must not be negative).
  void Advance(absl::Duration d) {
    now_ns_.fetch_add(absl::ToInt64Nanoseconds(d), std::memory_order_acq_rel);
  }

  // Sets the clock to `t`.
  void Set(absl::Time t) {
    now_ns_.store(absl::ToUnixNanos(t), std::memory_order_release);
  }

 private:
  std::atomic<int64_t> now_ns_;
};

}  // namespace presence

#endif  // PRESENCE_CLOCK_H_
