#include "service/limits/client_limits.h"

#include <limits>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "presence/clock.h"
#include "service/auth/authorizer.h"
#include "service/auth/token.h"
#include "service/metrics/metrics.h"

namespace presence {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

auth::Caller BoundTo(const std::string& user_id) {
  auth::Claims claims;
  claims.user_id = user_id;
  return auth::Caller(std::move(claims));
}

TEST(ClientKeyTest, ABoundTokenIsItsUser) {
  EXPECT_EQ(ClientKey(BoundTo("alice"), "Bearer pv1.abc.MAC1", "10.0.0.1"),
            "user:alice");
  // Every token of the user, from anywhere, is the same client.
  EXPECT_EQ(ClientKey(BoundTo("alice"), "pv1.def.MAC2", "10.0.0.2"),
            "user:alice");
}

TEST(ClientKeyTest, AnUnboundTokenIsItsSignature) {
  const auth::Caller backend{auth::Claims()};
  EXPECT_EQ(ClientKey(backend, "Bearer pv1.eyJleHAiOjF9.c2lnbmF0dXJl", "x"),
            "token:c2lnbmF0dXJl");
  EXPECT_EQ(ClientKey(backend, "pv1.eyJleHAiOjF9.c2lnbmF0dXJl", "y"),
            "token:c2lnbmF0dXJl");
  // Bounded, whatever is sent.
  EXPECT_EQ(ClientKey(backend, std::string(5000, 'a'), "x").size(),
            std::string("token:").size() + 64);
}

TEST(ClientKeyTest, WithoutAuthThePeerAddress) {
  EXPECT_EQ(ClientKey(auth::Caller::Anyone(), "", "10.0.0.1"), "ip:10.0.0.1");
  // A token sent to a server without auth changes nothing.
  EXPECT_EQ(ClientKey(auth::Caller::Anyone(), "Bearer pv1.a.b", "::1"),
            "ip:::1");
}

TEST(PeerAddressTest, GrpcPeersAndBareAddresses) {
  EXPECT_EQ(PeerAddress("ipv4:10.1.2.3:5000"), "10.1.2.3");
  EXPECT_EQ(PeerAddress("ipv6:[::1]:5000"), "::1");
  EXPECT_EQ(PeerAddress("ipv6:%5B::1%5D:5000"), "::1");
  EXPECT_EQ(PeerAddress("ipv6:[2001:db8::7]:443"), "2001:db8::7");
  EXPECT_EQ(PeerAddress("ipv6:[::ffff:127.0.0.1]:80"), "127.0.0.1");
  EXPECT_EQ(PeerAddress("[fe80::1]:80"), "fe80::1");
  EXPECT_EQ(PeerAddress("127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(PeerAddress("::1"), "::1");
  EXPECT_EQ(PeerAddress("::FFFF:10.0.0.1"), "10.0.0.1");
  EXPECT_EQ(PeerAddress("unix:/run/presence.sock"), "unix:/run/presence.sock");
}

TEST(ClientLimitsOptionsTest, Validation) {
  EXPECT_TRUE(ValidateClientLimitsOptions({}).ok());
  ClientLimitsOptions options;
  options.write_rate_per_client = -1;
  EXPECT_THAT(ValidateClientLimitsOptions(options).message(),
              HasSubstr("--write_rate_per_client"));
  options.write_rate_per_client = std::numeric_limits<double>::infinity();
  EXPECT_FALSE(ValidateClientLimitsOptions(options).ok());
  options.write_rate_per_client = 0;
  options.write_burst_per_client = 5;
  EXPECT_THAT(ValidateClientLimitsOptions(options).message(),
              HasSubstr("--write_burst_per_client needs"));
  options.write_rate_per_client = 2.5;
  EXPECT_TRUE(ValidateClientLimitsOptions(options).ok());
  options.write_rate_max_clients = 0;
  EXPECT_THAT(ValidateClientLimitsOptions(options).message(),
              HasSubstr("--write_rate_max_clients"));
}

class ClientLimitsTest : public testing::Test {
 protected:
  SimulatedClock clock_{absl::FromUnixSeconds(1'800'000'000)};
};

TEST_F(ClientLimitsTest, OffByDefault) {
  ClientLimits limits({}, &clock_);
  EXPECT_FALSE(limits.limits_writes());
  absl::Duration retry_after;
  for (int i = 0; i < 10000; ++i) {
    ASSERT_TRUE(
        limits.AdmitWrite("ip:1", 100, "grpc", "Heartbeat", &retry_after).ok());
  }
  EXPECT_EQ(retry_after, absl::ZeroDuration());
  EXPECT_TRUE(ClientLimits::Unlimited()
                  ->AdmitWrite("ip:1", 1, "grpc", "Leave", &retry_after)
                  .ok());
}

TEST_F(ClientLimitsTest, TheBurstDefaultsToOneSecondOfTheRate) {
  ClientLimitsOptions options;
  options.write_rate_per_client = 2.5;
  ClientLimits limits(options, &clock_);
  absl::Duration retry_after;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(
        limits.AdmitWrite("ip:1", 1, "grpc", "Heartbeat", &retry_after).ok());
  }
  EXPECT_FALSE(
      limits.AdmitWrite("ip:1", 1, "grpc", "Heartbeat", &retry_after).ok());
}

TEST_F(ClientLimitsTest, RefusalsNameTheFlagsGiveTheWaitAndAreCounted) {
  ClientLimitsOptions options;
  options.write_rate_per_client = 10;
  options.write_burst_per_client = 2;
  ClientLimits limits(options, &clock_);
  absl::Duration retry_after;
  EXPECT_TRUE(
      limits.AdmitWrite("user:a", 1, "grpc", "Heartbeat", &retry_after).ok());
  EXPECT_TRUE(
      limits.AdmitWrite("user:a", 1, "http", "heartbeat", &retry_after).ok());
  absl::Status refused =
      limits.AdmitWrite("user:a", 1, "grpc", "Leave", &retry_after);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.message(), HasSubstr("--write_rate_per_client"));
  EXPECT_THAT(refused.message(), HasSubstr("retry in 100 ms"));
  EXPECT_EQ(retry_after, absl::Milliseconds(100));
  EXPECT_EQ(limits.rate_limited("grpc", "Leave"), 1u);
  EXPECT_EQ(limits.rate_limited("grpc", "Heartbeat"), 0u);

  // A batch counts its entries: one larger than the burst waits for a full
  // bucket, then leaves it in debt.
  clock_.Advance(absl::Seconds(1));
  EXPECT_TRUE(
      limits.AdmitWrite("user:a", 3, "grpc", "BatchHeartbeat", &retry_after)
          .ok());
  EXPECT_FALSE(
      limits.AdmitWrite("user:a", 1, "grpc", "Heartbeat", &retry_after).ok());
  EXPECT_EQ(retry_after, absl::Milliseconds(200));
  // Another client is unaffected.
  EXPECT_TRUE(
      limits.AdmitWrite("user:b", 2, "grpc", "BatchHeartbeat", &retry_after)
          .ok());
  EXPECT_EQ(retry_after, absl::ZeroDuration());
}

TEST_F(ClientLimitsTest, WatchRefusalsAreCountedByTransportAndLimit) {
  ClientLimitsOptions options;
  options.max_watchers_per_client = 1;
  options.max_watchers = 2;
  ClientLimits limits(options, &clock_);
  absl::StatusOr<WatchSlot> a = limits.AcquireWatch("ip:a", "grpc");
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(limits.AcquireWatch("ip:a", "http").ok());
  absl::StatusOr<WatchSlot> b = limits.AcquireWatch("ip:b", "http");
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(limits.AcquireWatch("ip:c", "grpc").ok());
  EXPECT_EQ(limits.watch_rejections("http", WatchLimit::kPerClient), 1u);
  EXPECT_EQ(limits.watch_rejections("grpc", WatchLimit::kTotal), 1u);
  EXPECT_EQ(limits.watch_rejections("grpc", WatchLimit::kPerClient), 0u);
  EXPECT_EQ(limits.watchers().total(), 2u);
}

TEST_F(ClientLimitsTest, MetricsHaveBoundedLabelsOnly) {
  ClientLimitsOptions options;
  options.write_rate_per_client = 1;
  options.max_watchers = 1;
  ClientLimits limits(options, &clock_);
  absl::Duration retry_after;
  limits.AdmitWrite("user:alice", 1, "grpc", "Heartbeat", &retry_after)
      .IgnoreError();
  limits.AdmitWrite("user:alice", 1, "grpc", "Heartbeat", &retry_after)
      .IgnoreError();
  absl::StatusOr<WatchSlot> slot = limits.AcquireWatch("user:alice", "http");
  limits.AcquireWatch("user:alice", "http").status().IgnoreError();

  MetricsWriter out;
  limits.Collect(out);
  const std::string& text = out.text();
  EXPECT_THAT(
      text,
      HasSubstr(
          R"(presence_rate_limited_total{transport="grpc",method="Heartbeat"} 1)"));
  EXPECT_THAT(
      text,
      HasSubstr(
          R"(presence_watch_rejected_total{transport="http",limit="total"} 1)"));
  EXPECT_THAT(text, HasSubstr("presence_rate_limiter_clients 1"));
  EXPECT_THAT(text, HasSubstr("presence_rate_limiter_evictions_total 0"));
  EXPECT_THAT(text, Not(HasSubstr("alice")));
}

TEST_F(ClientLimitsTest, UserLimitRefusalsAreCountedByTransportAndLimit) {
  ClientLimits limits({}, &clock_);
  limits.CountUserLimit(
      absl::ResourceExhaustedError(
          "user 'alice' has 2 sessions; max_sessions_per_user is 2"),
      "grpc");
  limits.CountUserLimit(
      absl::ResourceExhaustedError(
          "user 'alice' would be present on 3 channels; max_channels_per_user "
          "is 2"),
      "http");
  // Not a per-user limit: not counted.
  limits.CountUserLimit(absl::ResourceExhaustedError("too many users"), "grpc");
  limits.CountUserLimit(absl::OkStatus(), "grpc");
  limits.CountUserLimit(
      absl::InvalidArgumentError("max_sessions_per_user in a message"), "grpc");
  EXPECT_EQ(limits.user_limit_rejections("grpc", UserLimit::kSessionsPerUser),
            1u);
  EXPECT_EQ(limits.user_limit_rejections("http", UserLimit::kChannelsPerUser),
            1u);
  EXPECT_EQ(limits.user_limit_rejections("grpc", UserLimit::kChannelsPerUser),
            0u);

  MetricsWriter out;
  limits.Collect(out);
  EXPECT_THAT(
      out.text(),
      HasSubstr(
          R"(presence_user_limit_rejected_total{transport="grpc",limit="sessions_per_user"} 1)"));
  EXPECT_THAT(
      out.text(),
      HasSubstr(
          R"(presence_user_limit_rejected_total{transport="http",limit="channels_per_user"} 1)"));
  EXPECT_THAT(out.text(), Not(HasSubstr("alice")));
}

}  // namespace
}  // namespace presence
