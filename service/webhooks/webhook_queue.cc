#include "service/webhooks/webhook_queue.h"

#include <algorithm>
#include <utility>

namespace presence {

WebhookQueue::WebhookQueue(size_t capacity)
    : capacity_(std::max<size_t>(capacity, 1)) {}

WebhookQueue::PushResult WebhookQueue::Push(Json event, Time now,
                                            uint64_t position) {
  PushResult result;
  MutexLock lock(&mu_);
  if (closed_) return result;
  if (entries_.size() >= capacity_) {
    entries_.pop_front();
    ++untaken_drops_;
    result.dropped_oldest = true;
  }
  entries_.push_back({std::move(event), now, position});
  result.queued = true;
  result.size = entries_.size();
  result.untaken_drops = untaken_drops_;
  return result;
}

WebhookQueue::Head WebhookQueue::Peek() const {
  MutexLock lock(&mu_);
  Head head;
  head.size = entries_.size();
  if (!entries_.empty()) {
    head.oldest = entries_.front().pushed;
    head.oldest_position = entries_.front().position;
  }
  return head;
}

std::vector<WebhookQueue::Json> WebhookQueue::PopOldest(
    size_t max_events, uint64_t* first_position) {
  std::vector<Json> events;
  MutexLock lock(&mu_);
  const size_t n = std::min(entries_.size(), max_events);
  if (first_position != nullptr) {
    *first_position = n > 0 ? entries_.front().position : 0;
  }
  events.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    events.push_back(std::move(entries_.front().json));
    entries_.pop_front();
  }
  return events;
}

uint64_t WebhookQueue::TakeDrops() {
  MutexLock lock(&mu_);
  return std::exchange(untaken_drops_, 0);
}

uint64_t WebhookQueue::untaken_drops() const {
  MutexLock lock(&mu_);
  return untaken_drops_;
}

size_t WebhookQueue::size() const {
  MutexLock lock(&mu_);
  return entries_.size();
}

size_t WebhookQueue::Close() {
  MutexLock lock(&mu_);
  closed_ = true;
  const size_t discarded = entries_.size();
  entries_.clear();
  entries_.shrink_to_fit();
  return discarded;
}

}  // namespace presence
