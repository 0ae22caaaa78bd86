#include "presence/base/ticker.h"

#include <utility>

namespace presence {

Ticker::Ticker(std::function<absl::Status()> task, absl::Duration period)
    : task_(std::move(task)), period_(period), thread_([this] { Run(); }) {}

Ticker::~Ticker() { Stop(); }

void Ticker::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Ticker::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    if (!task_().ok()) failures_.fetch_add(1);
    runs_.fetch_add(1);
    lock.lock();
    wake_.wait_for(lock, absl::ToChronoNanoseconds(period_),
                   [this] { return stopping_; });
  }
}

}  // namespace presence
