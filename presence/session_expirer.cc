#include "presence/session_expirer.h"

namespace presence {

SessionExpirer::SessionExpirer(PresenceStore* store, absl::Duration period)
    : store_(store), period_(period), thread_([this] { Run(); }) {}

SessionExpirer::~SessionExpirer() { Stop(); }

void SessionExpirer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SessionExpirer::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    if (!store_->ExpireSessions().ok()) failures_.fetch_add(1);
    passes_.fetch_add(1);
    lock.lock();
    wake_.wait_for(lock, absl::ToChronoNanoseconds(period_),
                   [this] { return stopping_; });
  }
}

}  // namespace presence
