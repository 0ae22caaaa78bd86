#include "presence/base/ticker.h"

#include <algorithm>
#include <chrono>
#include <utility>

namespace presence {

Ticker::Ticker(std::function<absl::Status()> task, absl::Duration period)
    : task_(std::move(task)), period_(period), thread_([this] { Run(); }) {}

Ticker::~Ticker() { Stop(); }

void Ticker::Stop() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  wake_.SignalAll();
  if (thread_.joinable()) thread_.join();
}

void Ticker::Run() {
  // Runs start `period_` apart (a fixed rate, not a fixed gap after each
  // run): the expirer's timeout lag must not grow by the time a sweep of a
  // mass expiry takes. A run that overruns its period is followed at once
  // by the next, without a burst of catch-up runs.
  // The steady clock: a step of the wall clock must not stall the runs.
  using SteadyClock = std::chrono::steady_clock;
  // At most a year, so that `next` cannot overflow.
  const SteadyClock::duration period = std::min<SteadyClock::duration>(
      absl::ToChronoNanoseconds(period_), std::chrono::hours(24 * 365));
  SteadyClock::time_point next = SteadyClock::now();
  while (true) {
    {
      MutexLock lock(&mu_);
      if (stopping_) return;
    }
    if (!task_().ok()) failures_.fetch_add(1);
    runs_.fetch_add(1);
    next += period;
    const SteadyClock::time_point now = SteadyClock::now();
    if (next < now) next = now;
    MutexLock lock(&mu_);
    wake_.WaitFor(
        &mu_, [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; },
        absl::FromChrono(next - now));
  }
}

}  // namespace presence
