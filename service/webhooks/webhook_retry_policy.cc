#include "service/webhooks/webhook_retry_policy.h"

#include <algorithm>
#include <cstdint>

#include "absl/random/distributions.h"

namespace presence {

WebhookRetryPolicy::WebhookRetryPolicy(absl::Duration initial_backoff,
                                       absl::Duration max_backoff,
                                       int max_attempts)
    : initial_backoff_(initial_backoff),
      max_backoff_(max_backoff),
      max_attempts_(max_attempts) {}

bool WebhookRetryPolicy::IsRetryable(const AttemptOutcome& outcome) {
  switch (outcome.kind) {
    case AttemptOutcome::Kind::kTransportError:
      return true;
    case AttemptOutcome::Kind::kPermanentError:
      return false;
    case AttemptOutcome::Kind::kResponse:
      return outcome.http_status >= 500 || outcome.http_status == 429;
  }
  return false;
}

WebhookRetryPolicy::Decision WebhookRetryPolicy::Decide(
    const AttemptOutcome& outcome, int attempts, absl::BitGenRef bitgen) const {
  Decision decision;
  if (outcome.delivered()) {
    decision.action = Decision::Action::kDelivered;
  } else if (!IsRetryable(outcome)) {
    decision.action = Decision::Action::kReject;
  } else if (attempts >= max_attempts_) {
    decision.action = Decision::Action::kExhausted;
  } else {
    decision.action = Decision::Action::kRetry;
    decision.backoff = Backoff(outcome, attempts, bitgen);
  }
  return decision;
}

absl::Duration WebhookRetryPolicy::BackoffCap(int attempts) const {
  absl::Duration cap = initial_backoff_;
  // Doubling stops at max_backoff, so that it cannot overflow.
  for (int i = 1; i < attempts && cap < max_backoff_; ++i) cap *= 2;
  return std::min(cap, max_backoff_);
}

absl::Duration WebhookRetryPolicy::Backoff(const AttemptOutcome& outcome,
                                           int attempts,
                                           absl::BitGenRef bitgen) const {
  absl::Duration wait = absl::Nanoseconds(
      absl::Uniform<int64_t>(absl::IntervalClosed, bitgen, 0,
                             absl::ToInt64Nanoseconds(BackoffCap(attempts))));
  const bool may_ask_for_a_delay =
      outcome.kind == AttemptOutcome::Kind::kResponse &&
      (outcome.http_status == 429 || outcome.http_status == 503);
  if (may_ask_for_a_delay && outcome.retry_after > absl::ZeroDuration()) {
    wait = std::max(wait, std::min(outcome.retry_after, max_backoff_));
  }
  return wait;
}

}  // namespace presence
