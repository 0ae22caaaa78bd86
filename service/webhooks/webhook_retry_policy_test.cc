// WebhookRetryPolicy: which outcomes are retried, the backoff bounds and the
// attempt limit. The random draw is mocked (absl::MockingBitGen), so every
// expectation is exact; no network, no sleeping.
#include "service/webhooks/webhook_retry_policy.h"

#include <cstdint>

#include "absl/random/mock_distributions.h"
#include "absl/random/mocking_bit_gen.h"
#include "absl/random/random.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/webhooks/webhook_attempt_outcome.h"

namespace presence {
namespace {

using ::testing::_;
using ::testing::Return;
using Action = WebhookRetryPolicy::Decision::Action;

constexpr absl::Duration kInitial = absl::Milliseconds(100);
constexpr absl::Duration kMax = absl::Seconds(30);
constexpr int kMaxAttempts = 10;

WebhookRetryPolicy Policy() {
  return WebhookRetryPolicy(kInitial, kMax, kMaxAttempts);
}

// Makes the next uniform draw over [0, cap] return `result`, and checks the
// bounds of that draw.
void ExpectDraw(absl::MockingBitGen& bitgen, absl::Duration cap,
                absl::Duration result) {
  EXPECT_CALL(
      absl::MockUniform<int64_t>(),
      Call(absl::IntervalClosed, bitgen, 0, absl::ToInt64Nanoseconds(cap)))
      .WillOnce(Return(absl::ToInt64Nanoseconds(result)));
}

TEST(WebhookRetryPolicyTest, RetryableOutcomes) {
  EXPECT_TRUE(WebhookRetryPolicy::IsRetryable(
      AttemptOutcome::TransportError("Couldn't connect to server")));
  EXPECT_TRUE(WebhookRetryPolicy::IsRetryable(
      AttemptOutcome::TransportError("Timeout was reached")));
  for (int status : {500, 502, 503, 504, 599, 429}) {
    EXPECT_TRUE(
        WebhookRetryPolicy::IsRetryable(AttemptOutcome::Response(status)))
        << status;
  }
}

TEST(WebhookRetryPolicyTest, NotRetryableOutcomes) {
  EXPECT_FALSE(WebhookRetryPolicy::IsRetryable(
      AttemptOutcome::PermanentError("Unsupported protocol")));
  for (int status : {0, 100, 200, 204, 301, 304, 400, 401, 404, 413, 428}) {
    EXPECT_FALSE(
        WebhookRetryPolicy::IsRetryable(AttemptOutcome::Response(status)))
        << status;
  }
}

TEST(WebhookRetryPolicyTest, TwoHundredsAreDelivered) {
  absl::MockingBitGen bitgen;
  EXPECT_CALL(absl::MockUniform<int64_t>(),
              Call(absl::IntervalClosed, bitgen, _, _))
      .Times(0);
  for (int status : {200, 201, 204, 299}) {
    EXPECT_EQ(
        Policy().Decide(AttemptOutcome::Response(status), 1, bitgen).action,
        Action::kDelivered)
        << status;
  }
  // Even on the last attempt.
  EXPECT_EQ(Policy()
                .Decide(AttemptOutcome::Response(200), kMaxAttempts, bitgen)
                .action,
            Action::kDelivered);
}

TEST(WebhookRetryPolicyTest, OtherAnswersAreRejectedAtOnce) {
  absl::MockingBitGen bitgen;
  EXPECT_CALL(absl::MockUniform<int64_t>(),
              Call(absl::IntervalClosed, bitgen, _, _))
      .Times(0);
  for (int status : {100, 302, 400, 404}) {
    EXPECT_EQ(
        Policy().Decide(AttemptOutcome::Response(status), 1, bitgen).action,
        Action::kReject)
        << status;
  }
  EXPECT_EQ(Policy()
                .Decide(AttemptOutcome::PermanentError("URL using bad/illegal "
                                                       "format or missing URL"),
                        1, bitgen)
                .action,
            Action::kReject);
  // Rejected, not exhausted, on the last attempt too.
  EXPECT_EQ(Policy()
                .Decide(AttemptOutcome::Response(400), kMaxAttempts, bitgen)
                .action,
            Action::kReject);
}

TEST(WebhookRetryPolicyTest, RetriesUntilMaxAttempts) {
  absl::MockingBitGen bitgen;
  const AttemptOutcome unavailable = AttemptOutcome::Response(503);
  ExpectDraw(bitgen, Policy().BackoffCap(kMaxAttempts - 1),
             absl::ZeroDuration());
  EXPECT_EQ(Policy().Decide(unavailable, kMaxAttempts - 1, bitgen).action,
            Action::kRetry);
  EXPECT_EQ(Policy().Decide(unavailable, kMaxAttempts, bitgen).action,
            Action::kExhausted);
  EXPECT_EQ(Policy().Decide(unavailable, kMaxAttempts + 1, bitgen).action,
            Action::kExhausted);
}

TEST(WebhookRetryPolicyTest, OneAttemptMeansNoRetry) {
  absl::MockingBitGen bitgen;
  const WebhookRetryPolicy policy(kInitial, kMax, /*max_attempts=*/1);
  EXPECT_EQ(policy
                .Decide(AttemptOutcome::TransportError("Timeout was reached"),
                        1, bitgen)
                .action,
            Action::kExhausted);
}

TEST(WebhookRetryPolicyTest, CapDoublesUpToMaxBackoff) {
  const WebhookRetryPolicy policy = Policy();
  EXPECT_EQ(policy.BackoffCap(1), absl::Milliseconds(100));
  EXPECT_EQ(policy.BackoffCap(2), absl::Milliseconds(200));
  EXPECT_EQ(policy.BackoffCap(3), absl::Milliseconds(400));
  EXPECT_EQ(policy.BackoffCap(9), absl::Milliseconds(25600));
  EXPECT_EQ(policy.BackoffCap(10), absl::Seconds(30));
  EXPECT_EQ(policy.BackoffCap(11), absl::Seconds(30));
  // No overflow however many attempts.
  EXPECT_EQ(policy.BackoffCap(1000000), absl::Seconds(30));
}

TEST(WebhookRetryPolicyTest, CapIsMaxBackoffWhenInitialEqualsIt) {
  const WebhookRetryPolicy policy(absl::Seconds(1), absl::Seconds(1), 5);
  EXPECT_EQ(policy.BackoffCap(1), absl::Seconds(1));
  EXPECT_EQ(policy.BackoffCap(4), absl::Seconds(1));
}

TEST(WebhookRetryPolicyTest, BackoffIsAFullJitterDraw) {
  absl::MockingBitGen bitgen;
  const AttemptOutcome error = AttemptOutcome::TransportError("reset");
  ExpectDraw(bitgen, absl::Milliseconds(100), absl::Milliseconds(37));
  const WebhookRetryPolicy::Decision first = Policy().Decide(error, 1, bitgen);
  EXPECT_EQ(first.action, Action::kRetry);
  EXPECT_EQ(first.backoff, absl::Milliseconds(37));

  ExpectDraw(bitgen, absl::Milliseconds(400), absl::ZeroDuration());
  EXPECT_EQ(Policy().Decide(error, 3, bitgen).backoff, absl::ZeroDuration());

  ExpectDraw(bitgen, absl::Seconds(30), absl::Seconds(30));
  EXPECT_EQ(Policy().Decide(error, 9999, bitgen).action, Action::kExhausted);
  EXPECT_EQ(Policy().Backoff(error, 9999, bitgen), absl::Seconds(30));
}

TEST(WebhookRetryPolicyTest, RetryAfterIsAFloorFor429And503) {
  for (int status : {429, 503}) {
    absl::MockingBitGen bitgen;
    // The draw is below Retry-After: Retry-After wins.
    ExpectDraw(bitgen, absl::Milliseconds(100), absl::Milliseconds(50));
    EXPECT_EQ(
        Policy().Backoff(AttemptOutcome::Response(status, absl::Seconds(2)), 1,
                         bitgen),
        absl::Seconds(2))
        << status;
    // The draw is above it: the draw wins.
    ExpectDraw(bitgen, absl::Seconds(30), absl::Seconds(20));
    EXPECT_EQ(
        Policy().Backoff(AttemptOutcome::Response(status, absl::Seconds(2)), 10,
                         bitgen),
        absl::Seconds(20))
        << status;
  }
}

TEST(WebhookRetryPolicyTest, RetryAfterIsCappedAtMaxBackoff) {
  absl::MockingBitGen bitgen;
  ExpectDraw(bitgen, absl::Milliseconds(100), absl::Milliseconds(1));
  EXPECT_EQ(Policy().Backoff(AttemptOutcome::Response(429, absl::Hours(1)), 1,
                             bitgen),
            kMax);
}

TEST(WebhookRetryPolicyTest, RetryAfterOfOtherStatusesIsIgnored) {
  absl::MockingBitGen bitgen;
  ExpectDraw(bitgen, absl::Milliseconds(100), absl::Milliseconds(1));
  EXPECT_EQ(Policy().Backoff(AttemptOutcome::Response(500, absl::Seconds(2)), 1,
                             bitgen),
            absl::Milliseconds(1));
}

TEST(WebhookRetryPolicyTest, RealDrawsStayWithinTheCap) {
  absl::BitGen bitgen;
  const WebhookRetryPolicy policy = Policy();
  const AttemptOutcome error = AttemptOutcome::TransportError("reset");
  for (int attempts = 1; attempts < kMaxAttempts; ++attempts) {
    for (int i = 0; i < 100; ++i) {
      const absl::Duration wait = policy.Backoff(error, attempts, bitgen);
      ASSERT_GE(wait, absl::ZeroDuration());
      ASSERT_LE(wait, policy.BackoffCap(attempts));
    }
  }
}

}  // namespace
}  // namespace presence
