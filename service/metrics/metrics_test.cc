#include "service/metrics/metrics.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/testing/http_get.h"

namespace presence {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, RendersTheTextFormat) {
  MetricsRegistry registry;
  double value = 3;
  registry.AddGauge("presence_watchers", "Open streams.",
                    [&] { return value; });
  registry.AddCounter("x_total{kind=\"a\"}", "Xs.", [] { return 1; });
  registry.AddCounter("x_total{kind=\"b\"}", "Xs.", [] { return 2; });
  value = 4;
  EXPECT_EQ(registry.Render(),
            "# HELP presence_watchers Open streams.\n"
            "# TYPE presence_watchers gauge\n"
            "presence_watchers 4\n"
            "# HELP x_total Xs.\n"
            "# TYPE x_total counter\n"
            "x_total{kind=\"a\"} 1\n"
            "x_total{kind=\"b\"} 2\n");
}

TEST(MetricsTest, CollectorsWriteLabelledFamiliesAndHistograms) {
  MetricsRegistry registry;
  Histogram latency({0.1, 1});
  latency.Observe(0.05);
  latency.Observe(3);
  registry.AddHistogram("op_duration_seconds", "Op time.", &latency);
  registry.AddCollector([](MetricsWriter& out) {
    out.Family("things", "gauge", "Things by kind.");
    out.Sample("things", {{"kind", "a\"b\\c\nd"}}, 2);
  });
  EXPECT_EQ(registry.Render(),
            "# HELP op_duration_seconds Op time.\n"
            "# TYPE op_duration_seconds histogram\n"
            "op_duration_seconds_bucket{le=\"0.1\"} 1\n"
            "op_duration_seconds_bucket{le=\"1\"} 1\n"
            "op_duration_seconds_bucket{le=\"+Inf\"} 2\n"
            "op_duration_seconds_sum 3.05\n"
            "op_duration_seconds_count 2\n"
            "# HELP things Things by kind.\n"
            "# TYPE things gauge\n"
            "things{kind=\"a\\\"b\\\\c\\nd\"} 2\n");
}

TEST(MetricsTest, CountsEventsByAction) {
  MetricsRegistry registry;
  EventCounter counter;
  counter.Register(registry);
  PresenceEvent event;
  event.type = EventType::kJoin;
  counter.OnEvent(event);
  counter.OnEvent(event);
  event.type = EventType::kTimeout;
  counter.OnEvent(event);
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("presence_events_total{action=\"join\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("presence_events_total{action=\"timeout\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("presence_events_total{action=\"leave\"} 0\n"));
}

TEST(MetricsTest, CountsFeedInterruptionsAndStreamGapsApart) {
  MetricsRegistry registry;
  EventCounter counter;
  counter.Register(registry);
  counter.OnEventsInterrupted(absl::UnavailableError("redis went away"));
  counter.OnEventsInterrupted(absl::DataLossError("fell behind"));
  counter.OnEventsInterrupted(absl::DataLossError("fell behind again"));
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("presence_event_feed_interruptions_total 1\n"));
  EXPECT_THAT(text, HasSubstr("presence_event_stream_gaps_total 2\n"));
}

TEST(MetricsTest, ObservesTimeoutLagFromDeadlines) {
  MetricsRegistry registry;
  EventCounter counter;
  counter.Register(registry);
  const absl::Time deadline = absl::FromUnixSeconds(1'800'000'000);
  PresenceEvent timeout;
  timeout.type = EventType::kTimeout;
  timeout.deadline = deadline;
  timeout.time = deadline + absl::Milliseconds(12);
  counter.OnEvent(timeout);
  timeout.time = deadline + absl::Seconds(3);
  counter.OnEvent(timeout);
  // Not observed: a timeout without its deadline (a store that cannot
  // tell), and other events.
  PresenceEvent unknown;
  unknown.type = EventType::kTimeout;
  unknown.time = deadline;
  counter.OnEvent(unknown);
  PresenceEvent join;
  join.type = EventType::kJoin;
  join.deadline = deadline;
  counter.OnEvent(join);

  const Histogram::Snapshot lag = counter.timeout_lag().Take();
  EXPECT_EQ(lag.count, 2u);
  EXPECT_NEAR(lag.sum, 3.012, 1e-9);
  const std::vector<double>& bounds = counter.timeout_lag().bounds();
  // 12 ms falls in the 16 ms bucket; 3 s in the 4.096 s one.
  const size_t at_16ms =
      std::lower_bound(bounds.begin(), bounds.end(), 0.012) - bounds.begin();
  EXPECT_NEAR(bounds[at_16ms], 0.016, 1e-12);
  EXPECT_EQ(lag.cumulative[at_16ms], 1u);
  EXPECT_EQ(lag.cumulative.back(), 2u);
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("# TYPE presence_timeout_lag_seconds histogram"));
  EXPECT_THAT(text, HasSubstr("presence_timeout_lag_seconds_count 2"));
  EXPECT_THAT(text, HasSubstr("presence_events_total{action=\"timeout\"} 3"));
}

TEST(MetricsTest, ServesMetricsOverHttp) {
  MetricsRegistry registry;
  registry.AddGauge("up", "Up.", [] { return 1; });
  auto server = MetricsHttpServer::Start("127.0.0.1:0", &registry);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_NE((*server)->port(), 0);
  const std::string response = HttpGet((*server)->port(), "/metrics");
  EXPECT_THAT(response, testing::StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(response, HasSubstr("Content-Type: text/plain; version=0.0.4"));
  EXPECT_THAT(response, testing::EndsWith(
                            "\r\n\r\n# HELP up Up.\n# TYPE up gauge\nup 1\n"));
  EXPECT_THAT(HttpGet((*server)->port(), "/other"),
              testing::StartsWith("HTTP/1.1 404"));
}

TEST(MetricsTest, BadAddressesAreRefused) {
  MetricsRegistry registry;
  EXPECT_EQ(MetricsHttpServer::Start("nonsense", &registry).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace presence
