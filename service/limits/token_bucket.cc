#include "service/limits/token_bucket.h"

#include <algorithm>
#include <cmath>

namespace presence {
namespace {

// Rounding slack, in tokens and in milliseconds: a call retried exactly
// after the wait it was told must be admitted, whatever the floating-point
// error of the refill (up to 1000 writes per second per client).
constexpr double kEpsilon = 1e-6;

}  // namespace

double TokenBucket::Tokens(absl::Time now,
                           const TokenBucketPolicy& policy) const {
  // A clock that goes backwards (a test's Set) refills nothing.
  const double elapsed = std::max(0.0, absl::ToDoubleSeconds(now - updated_));
  return std::min(policy.burst, tokens_ + elapsed * policy.rate);
}

absl::Duration TokenBucket::Take(absl::Time now,
                                 const TokenBucketPolicy& policy, double cost) {
  tokens_ = Tokens(now, policy);
  updated_ = std::max(updated_, now);
  const double needed = std::min(cost, policy.burst);
  if (tokens_ + kEpsilon >= needed) {
    tokens_ -= cost;
    return absl::ZeroDuration();
  }
  const double seconds = (needed - tokens_) / policy.rate;
  const double millis = std::max(1.0, std::ceil(seconds * 1000 - kEpsilon));
  return absl::Milliseconds(millis);
}

bool TokenBucket::Full(absl::Time now, const TokenBucketPolicy& policy) const {
  return Tokens(now, policy) + kEpsilon >= policy.burst;
}

}  // namespace presence
