// WriteRateLimiter: a token bucket per client (see token_bucket.h) in a
// table of bounded size, for --write_rate_per_client.
//
//   WriteRateLimiter limiter({.rate = 10, .burst = 20, .max_clients = 100000},
//                            clock);
//   absl::Duration wait = limiter.Admit("user:alice", 1);
//   if (wait > absl::ZeroDuration()) ...;  // Refused: retry after `wait`.
//
// Memory is bounded whatever clients do: a bucket that has refilled is the
// same as no bucket, so buckets are dropped once full (checked from the
// least recently used end on every call, amortised O(1)); and the table
// holds at most `max_clients` buckets, dropping the least recently used one
// beyond. Dropping a bucket that was not yet full forgives that client's
// wait; such evictions are counted (a sign that max_clients is too small
// for the number of clients writing at once).
//
// Thread-safe. The table is sharded by client, one lock per shard, each
// held for a hash lookup and a few arithmetic operations.
#ifndef SERVICE_LIMITS_WRITE_RATE_LIMITER_H_
#define SERVICE_LIMITS_WRITE_RATE_LIMITER_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "presence/base/mutex.h"
#include "presence/clock.h"
#include "service/limits/token_bucket.h"

namespace presence {

struct WriteRateLimiterOptions {
  // Writes per second per client, on average; > 0.
  double rate = 1;
  // Most writes a client may make at once; >= 1.
  double burst = 1;
  // Most clients tracked at once; >= 1.
  size_t max_clients = 100000;
};

class WriteRateLimiter {
 public:
  // `clock` must outlive the limiter.
  WriteRateLimiter(const WriteRateLimiterOptions& options, const Clock* clock);
  WriteRateLimiter(const WriteRateLimiter&) = delete;
  WriteRateLimiter& operator=(const WriteRateLimiter&) = delete;

  // Charges `cost` writes to `client` (see TokenBucket::Take). Returns zero
  // when admitted, else how long until the same call would be.
  absl::Duration Admit(absl::string_view client, double cost);

  // Clients with a bucket now.
  size_t clients() const;

  // Buckets dropped before they refilled, because the table was full.
  uint64_t evictions() const { return evictions_.load(); }

  const TokenBucketPolicy& policy() const { return policy_; }

 private:
  static constexpr size_t kShards = 16;

  struct Entry {
    std::string client;
    TokenBucket bucket;
  };
  struct Shard {
    mutable Mutex mu;
    // Most recently used first. std::list: iterators and the keys' storage
    // stay valid while entries move to the front.
    std::list<Entry> lru ABSL_GUARDED_BY(mu);
    // Keys point into the entries' `client`.
    absl::flat_hash_map<absl::string_view, std::list<Entry>::iterator> index
        ABSL_GUARDED_BY(mu);
  };

  Shard& ShardOf(absl::string_view client);
  // Drops full buckets from the least recently used end.
  void DropFullLocked(Shard& shard, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  const TokenBucketPolicy policy_;
  const size_t max_per_shard_;
  const Clock* const clock_;
  std::array<Shard, kShards> shards_;
  std::atomic<uint64_t> evictions_{0};
};

}  // namespace presence

#endif  // SERVICE_LIMITS_WRITE_RATE_LIMITER_H_
