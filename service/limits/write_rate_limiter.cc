#include "service/limits/write_rate_limiter.h"

#include <algorithm>
#include <utility>

#include "absl/hash/hash.h"

namespace presence {

WriteRateLimiter::WriteRateLimiter(const WriteRateLimiterOptions& options,
                                   const Clock* clock)
    : policy_{options.rate, options.burst},
      max_per_shard_(
          std::max<size_t>(1, (options.max_clients + kShards - 1) / kShards)),
      clock_(clock) {}

WriteRateLimiter::Shard& WriteRateLimiter::ShardOf(absl::string_view client) {
  return shards_[absl::HashOf(client) % kShards];
}

void WriteRateLimiter::DropFullLocked(Shard& shard, absl::Time now) {
  while (!shard.lru.empty() && shard.lru.back().bucket.Full(now, policy_)) {
    shard.index.erase(shard.lru.back().client);
    shard.lru.pop_back();
  }
}

absl::Duration WriteRateLimiter::Admit(absl::string_view client, double cost) {
  const absl::Time now = clock_->Now();
  Shard& shard = ShardOf(client);
  MutexLock lock(&shard.mu);
  auto found = shard.index.find(client);
  if (found != shard.index.end()) {
    shard.lru.splice(shard.lru.begin(), shard.lru, found->second);
  } else {
    DropFullLocked(shard, now);
    if (shard.lru.size() >= max_per_shard_) {
      // Every bucket left is still refilling: forgive the stalest.
      evictions_.fetch_add(1, std::memory_order_relaxed);
      shard.index.erase(shard.lru.back().client);
      shard.lru.pop_back();
    }
    shard.lru.push_front(Entry{std::string(client), TokenBucket(now, policy_)});
    shard.index.emplace(shard.lru.front().client, shard.lru.begin());
  }
  const absl::Duration wait = shard.lru.front().bucket.Take(now, policy_, cost);
  // After the call's own bucket moved to the front, so it is never dropped.
  DropFullLocked(shard, now);
  return wait;
}

size_t WriteRateLimiter::clients() const {
  size_t total = 0;
  for (const Shard& shard : shards_) {
    MutexLock lock(&shard.mu);
    total += shard.lru.size();
  }
  return total;
}

}  // namespace presence
