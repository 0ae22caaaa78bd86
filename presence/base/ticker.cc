#include "presence/base/ticker.h"

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
  while (true) {
    {
      MutexLock lock(&mu_);
      if (stopping_) return;
    }
    if (!task_().ok()) failures_.fetch_add(1);
    runs_.fetch_add(1);
    MutexLock lock(&mu_);
    wake_.WaitFor(
        &mu_, [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; },
        period_);
  }
}

}  // namespace presence
