#include "service/http/subscribe_hub.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace presence {

SubscribeHub::SubscribeHub(Options options) : options_(std::move(options)) {
  MutexLock lock(&mu_);
  // A poll after a timetoken from before this process may have missed
  // events (those of the previous process).
  floor_ = TimetokenAt(options_.now());
}

uint64_t SubscribeHub::NextTimetoken() {
  MutexLock lock(&mu_);
  return clock_.Next(options_.now());
}

bool SubscribeHub::NumberLocked(
    const std::shared_ptr<const PubNubEncodedEvent>& event) {
  if (event->timetoken() != 0) return false;
  const absl::Time now = options_.now();
  const uint64_t timetoken = clock_.Next(now);
  event->set_timetoken(timetoken);
  auto [it, inserted] = history_.try_emplace(event->channel());
  it->second.push_back(Entry{timetoken, event});
  order_.emplace_back(timetoken, &it->first);
  TrimLocked(now);
  return true;
}

void SubscribeHub::TrimLocked(absl::Time now) {
  const uint64_t oldest = TimetokenAt(now - options_.retention);
  while (!order_.empty() && (order_.size() > options_.max_events ||
                             order_.front().first < oldest)) {
    const auto [timetoken, channel] = order_.front();
    order_.pop_front();
    auto it = history_.find(*channel);
    it->second.pop_front();  // The channel's oldest is the global oldest.
    if (it->second.empty()) history_.erase(it);
    floor_ = std::max(floor_, timetoken);
  }
}

void SubscribeHub::CollectLocked(const std::string& channel, uint64_t after,
                                 const std::string& subscription,
                                 std::vector<Delivery>& out) const {
  auto it = history_.find(channel);
  if (it == history_.end()) return;
  const std::deque<Entry>& entries = it->second;
  auto first = std::upper_bound(
      entries.begin(), entries.end(), after,
      [](uint64_t t, const Entry& entry) { return t < entry.timetoken; });
  for (; first != entries.end(); ++first) {
    out.push_back(Delivery{first->timetoken, first->event, subscription});
  }
}

SubscribeHub::PollResult SubscribeHub::Poll(const Query& query,
                                            std::shared_ptr<Waiter> waiter,
                                            absl::Time deadline) {
  PollResult result;
  MutexLock lock(&mu_);
  if (query.after != 0 && query.after < floor_) ++gaps_;

  // A channel reached several ways is collected once: as itself first,
  // else through its first group.
  absl::flat_hash_set<absl::string_view> seen;
  for (const std::string& channel : query.channels) {
    if (!seen.insert(channel).second) continue;
    CollectLocked(channel, query.after, absl::StrCat(channel, "-pnpres"),
                  result.deliveries);
  }
  for (const Query::Group& group : query.groups) {
    const std::string subscription = absl::StrCat(group.name, "-pnpres");
    for (const std::string& channel : group.channels) {
      if (!seen.insert(channel).second) continue;
      CollectLocked(channel, query.after, subscription, result.deliveries);
    }
  }
  if (!result.deliveries.empty()) {
    std::sort(result.deliveries.begin(), result.deliveries.end(),
              [](const Delivery& a, const Delivery& b) {
                return a.timetoken < b.timetoken;
              });
    if (result.deliveries.size() > options_.max_events_per_answer) {
      result.deliveries.resize(options_.max_events_per_answer);
    }
    result.ready = true;
    result.cursor = result.deliveries.back().timetoken;
    return result;
  }
  if (draining_ || waiter == nullptr) {
    result.ready = true;
    result.cursor = clock_.Next(options_.now());
    return result;
  }

  const Waiter* key = waiter.get();
  Registration& registration = waiters_[key];
  registration.waiter = std::move(waiter);
  registration.deadline = deadline;
  for (const std::string& channel : query.channels) {
    if (by_channel_[channel].insert(key).second) {
      registration.channels.push_back(channel);
    }
  }
  for (const Query::Group& group : query.groups) {
    if (by_group_[group.name].insert(key).second) {
      registration.groups.push_back(group.name);
    }
  }
  deadlines_.emplace(deadline, key);
  return result;
}

std::shared_ptr<SubscribeHub::Waiter> SubscribeHub::RemoveLocked(
    const Waiter* waiter) {
  auto it = waiters_.find(waiter);
  if (it == waiters_.end()) return nullptr;
  Registration& registration = it->second;
  const auto unlink =
      [waiter](absl::flat_hash_map<std::string,
                                   absl::flat_hash_set<const Waiter*>>& index,
               const std::vector<std::string>& names) {
        for (const std::string& name : names) {
          auto set = index.find(name);
          if (set == index.end()) continue;
          set->second.erase(waiter);
          if (set->second.empty()) index.erase(set);
        }
      };
  unlink(by_channel_, registration.channels);
  unlink(by_group_, registration.groups);
  deadlines_.erase({registration.deadline, waiter});
  std::shared_ptr<Waiter> removed = std::move(registration.waiter);
  waiters_.erase(it);
  return removed;
}

void SubscribeHub::Cancel(const Waiter* waiter) {
  std::shared_ptr<Waiter> removed;
  {
    MutexLock lock(&mu_);
    removed = RemoveLocked(waiter);
  }
  // `removed` is released here, without the lock (its destructor may do
  // anything a waiter does).
}

void SubscribeHub::WakeSetLocked(
    const absl::flat_hash_set<const Waiter*>& set,
    const std::shared_ptr<const PubNubEncodedEvent>& event,
    const std::string& subscription, Woken& woken) {
  const std::vector<const Waiter*> keys(set.begin(), set.end());
  for (const Waiter* key : keys) {
    std::shared_ptr<Waiter> waiter = RemoveLocked(key);
    woken.emplace_back(std::move(waiter),
                       Delivery{event->timetoken(), event, subscription});
  }
}

void SubscribeHub::Deliver(Woken& woken) {
  for (auto& [waiter, delivery] : woken) {
    const uint64_t cursor = delivery.timetoken;
    std::vector<Delivery> deliveries;
    deliveries.push_back(std::move(delivery));
    waiter->Wake(std::move(deliveries), cursor);
  }
}

void SubscribeHub::OnEvent(
    const std::shared_ptr<const PubNubEncodedEvent>& event) {
  if (!event->deliverable()) return;
  Woken woken;
  {
    MutexLock lock(&mu_);
    NumberLocked(event);
    auto it = by_channel_.find(event->channel());
    if (it != by_channel_.end()) {
      WakeSetLocked(it->second, event,
                    absl::StrCat(event->channel(), "-pnpres"), woken);
    }
  }
  Deliver(woken);
}

void SubscribeHub::OnGroupEvent(
    absl::string_view group,
    const std::shared_ptr<const PubNubEncodedEvent>& event) {
  if (!event->deliverable()) return;
  Woken woken;
  {
    MutexLock lock(&mu_);
    NumberLocked(event);
    auto it = by_group_.find(group);
    if (it != by_group_.end()) {
      WakeSetLocked(it->second, event, absl::StrCat(group, "-pnpres"), woken);
    }
  }
  Deliver(woken);
}

void SubscribeHub::OnEventsLost() {
  MutexLock lock(&mu_);
  floor_ = clock_.Next(options_.now());
}

size_t SubscribeHub::ExpireWaiters(absl::Time now) {
  std::vector<std::shared_ptr<Waiter>> expired;
  uint64_t cursor = 0;
  {
    MutexLock lock(&mu_);
    TrimLocked(options_.now());
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      expired.push_back(RemoveLocked(deadlines_.begin()->second));
    }
    if (!expired.empty()) cursor = clock_.Next(options_.now());
  }
  for (const std::shared_ptr<Waiter>& waiter : expired)
    waiter->Wake({}, cursor);
  return expired.size();
}

void SubscribeHub::Drain() {
  std::vector<std::shared_ptr<Waiter>> all;
  uint64_t cursor = 0;
  {
    MutexLock lock(&mu_);
    draining_ = true;
    while (!waiters_.empty()) {
      all.push_back(RemoveLocked(waiters_.begin()->first));
    }
    cursor = clock_.Next(options_.now());
  }
  for (const std::shared_ptr<Waiter>& waiter : all) waiter->Wake({}, cursor);
}

size_t SubscribeHub::waiters() const {
  MutexLock lock(&mu_);
  return waiters_.size();
}

size_t SubscribeHub::history_events() const {
  MutexLock lock(&mu_);
  return order_.size();
}

uint64_t SubscribeHub::gaps() const {
  MutexLock lock(&mu_);
  return gaps_;
}

}  // namespace presence
