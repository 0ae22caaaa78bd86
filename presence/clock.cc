#include "presence/clock.h"

#include <chrono>

#include "absl/time/clock.h"

namespace presence {
namespace {

// Wall-clock time that never goes backwards: the wall time at start plus
// monotonic time since, so that deadlines survive NTP steps.
class RealClock : public Clock {
 public:
  RealClock()
      : wall_start_(absl::Now()),
        steady_start_(std::chrono::steady_clock::now()) {}

  absl::Time Now() const override {
    return wall_start_ +
           absl::FromChrono(std::chrono::steady_clock::now() - steady_start_);
  }

 private:
  const absl::Time wall_start_;
  const std::chrono::steady_clock::time_point steady_start_;
};

}  // namespace

Clock* Clock::Real() {
  static Clock* const clock = new RealClock();
  return clock;
}

}  // namespace presence
