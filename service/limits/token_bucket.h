// TokenBucket: the write rate of one client. A client may make up to
// `burst` calls at once, then `rate` per second on average: the bucket holds
// up to `burst` tokens, refills at `rate` tokens per second, and each call
// takes its cost in tokens.
//
//   TokenBucketPolicy policy{.rate = 10, .burst = 20};
//   TokenBucket bucket(clock->Now(), policy);
//   absl::Duration wait = bucket.Take(clock->Now(), policy, 1);
//   if (wait > absl::ZeroDuration()) ...;  // Refused: retry after `wait`.
//
// The policy is passed to each call rather than stored, so that a table of
// many buckets stores it once. Time comes from the caller (an injected
// presence::Clock), so tests need no sleeping. Not thread-safe: one owner
// (WriteRateLimiter locks around it).
#ifndef SERVICE_LIMITS_TOKEN_BUCKET_H_
#define SERVICE_LIMITS_TOKEN_BUCKET_H_

#include "absl/time/time.h"

namespace presence {

struct TokenBucketPolicy {
  // Tokens added per second; > 0.
  double rate = 1;
  // Most tokens the bucket holds (the largest burst of calls); >= 1.
  double burst = 1;
};

class TokenBucket {
 public:
  // A full bucket as of `now`.
  TokenBucket(absl::Time now, const TokenBucketPolicy& policy)
      : tokens_(policy.burst), updated_(now) {}

  // Takes `cost` tokens at `now` when the bucket holds at least
  // min(cost, burst) of them, and returns zero. Otherwise takes nothing and
  // returns how long until the same call would be admitted (at least 1 ms,
  // rounded up to whole milliseconds).
  //
  // A call that costs more than the burst (a large BatchHeartbeat) is
  // admitted once the bucket is full and leaves it in debt: later calls wait
  // until the debt is paid back, so the long-run rate holds for large calls
  // too, and no call is refused for ever.
  absl::Duration Take(absl::Time now, const TokenBucketPolicy& policy,
                      double cost);

  // Returns whether the bucket is full at `now`: a full bucket is the same as
  // a new one, so a table may forget it.
  bool Full(absl::Time now, const TokenBucketPolicy& policy) const;

  // Tokens held at `now` (negative while in debt).
  double Tokens(absl::Time now, const TokenBucketPolicy& policy) const;

 private:
  double tokens_;
  absl::Time updated_;
};

}  // namespace presence

#endif  // SERVICE_LIMITS_TOKEN_BUCKET_H_
