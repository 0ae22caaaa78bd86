// WebhookRetryPolicy: what to do with a webhook batch after an attempt to
// send it: done, send it again after a backoff, or give up. Pure: the
// randomness of the backoff comes from the caller's generator, so tests can
// pin it.
//
//   WebhookRetryPolicy policy(absl::Milliseconds(100), absl::Seconds(30),
//                             /*max_attempts=*/10);
//   WebhookRetryPolicy::Decision next =
//       policy.Decide(AttemptOutcome::Response(503), /*attempts=*/1, bitgen);
//   // next.action == kRetry; next.backoff uniformly in [0, 100ms].
//
// Retryable: transport errors other than the permanent ones (connection
// errors, timeouts), 5xx and 429. A 2xx is delivered; anything else (other
// 4xx, 1xx, 3xx, permanent errors) is rejected at once. The n-th retry waits
// a uniformly random time in [0, min(max_backoff, initial_backoff *
// 2^(n-1))] ("full jitter"), but at least the Retry-After of a 429 or 503
// (capped at max_backoff); after max_attempts attempts the batch is given up.
//
// Thread-safe: immutable after construction (the generator passed to
// Decide() is the caller's concern).
#ifndef SERVICE_WEBHOOKS_WEBHOOK_RETRY_POLICY_H_
#define SERVICE_WEBHOOKS_WEBHOOK_RETRY_POLICY_H_

#include "absl/random/bit_gen_ref.h"
#include "absl/time/time.h"
#include "service/webhooks/webhook_attempt_outcome.h"

namespace presence {

class WebhookRetryPolicy {
 public:
  struct Decision {
    enum class Action {
      kDelivered,  // A 2xx: the batch is done.
      kRetry,      // Send the same batch again after `backoff`.
      kReject,     // Not retryable (see IsRetryable()): give the batch up.
      kExhausted,  // Retryable, but that was attempt max_attempts: give up.
    };
    Action action = Action::kDelivered;
    absl::Duration backoff = absl::ZeroDuration();  // kRetry only.
  };

  // Requires 0 < initial_backoff <= max_backoff and max_attempts >= 1 (as
  // ValidateWebhookOptions() checks).
  WebhookRetryPolicy(absl::Duration initial_backoff, absl::Duration max_backoff,
                     int max_attempts);

  // Returns whether sending the batch again may get a different result:
  // true for transport errors, 5xx and 429; false for permanent errors and
  // every other status (2xx included: there is nothing to retry).
  static bool IsRetryable(const AttemptOutcome& outcome);

  // Returns what to do after the attempt number `attempts` (1 for the
  // first) of a batch ended with `outcome`. Draws from `bitgen` only when
  // the answer is kRetry.
  Decision Decide(const AttemptOutcome& outcome, int attempts,
                  absl::BitGenRef bitgen) const;

  // Returns the upper bound of the random wait after `attempts` (at least
  // 1) attempts: min(max_backoff, initial_backoff * 2^(attempts-1)).
  absl::Duration BackoffCap(int attempts) const;

  // Returns the wait after `attempts` attempts, the last of which ended with
  // `outcome`: uniformly random in [0, BackoffCap(attempts)] (from
  // `bitgen`), raised to the outcome's Retry-After, capped at max_backoff,
  // when it is a 429 or 503 answer.
  absl::Duration Backoff(const AttemptOutcome& outcome, int attempts,
                         absl::BitGenRef bitgen) const;

 private:
  const absl::Duration initial_backoff_;
  const absl::Duration max_backoff_;
  const int max_attempts_;
};

}  // namespace presence

#endif  // SERVICE_WEBHOOKS_WEBHOOK_RETRY_POLICY_H_
