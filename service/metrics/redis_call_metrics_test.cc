#include "service/metrics/redis_call_metrics.h"

#include <string>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/metrics/metrics.h"

namespace presence {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(RedisCallMetricsTest, ExportsRoundTripsAndErrorsByFunction) {
  RedisCallMetrics calls;
  MetricsRegistry registry;
  calls.Register(registry);
  auto observe = calls.Observer();
  observe("heartbeat", absl::Microseconds(150), false);
  observe("heartbeat", absl::Milliseconds(2), true);
  observe("here_now", absl::Microseconds(50), false);

  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("# TYPE presence_redis_round_trip_seconds "
                              "histogram\n"));
  EXPECT_THAT(text, HasSubstr("presence_redis_round_trip_seconds_count{"
                              "function=\"heartbeat\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("presence_redis_round_trip_seconds_bucket{"
                              "function=\"here_now\",le=\"0.0001\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("presence_redis_round_trip_seconds_bucket{"
                              "function=\"heartbeat\",le=\"0.0001\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("presence_redis_errors_total{function="
                              "\"heartbeat\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("presence_redis_errors_total{function="
                              "\"here_now\"} 0\n"));
  EXPECT_THAT(text, Not(HasSubstr("function=\"leave\"")));
}

}  // namespace
}  // namespace presence
