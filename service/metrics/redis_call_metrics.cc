#include "service/metrics/redis_call_metrics.h"

#include <utility>

namespace presence {

void RedisCallMetrics::Observe(absl::string_view function,
                               absl::Duration round_trip, bool failed) {
  Series& series = SeriesOf(function);
  series.seconds.Observe(absl::ToDoubleSeconds(round_trip));
  if (failed) series.errors.fetch_add(1, std::memory_order_relaxed);
}

std::function<void(absl::string_view, absl::Duration, bool)>
RedisCallMetrics::Observer() {
  return [this](absl::string_view function, absl::Duration round_trip,
                bool failed) { Observe(function, round_trip, failed); };
}

RedisCallMetrics::Series& RedisCallMetrics::SeriesOf(
    absl::string_view function) {
  {
    ReaderMutexLock lock(&mu_);
    auto it = series_.find(function);
    if (it != series_.end()) return *it->second;
  }
  WriterMutexLock lock(&mu_);
  std::unique_ptr<Series>& series = series_[std::string(function)];
  if (series == nullptr) series = std::make_unique<Series>();
  return *series;
}

void RedisCallMetrics::Register(MetricsRegistry& registry) {
  registry.AddCollector([this](MetricsWriter& out) { Collect(out); });
}

void RedisCallMetrics::Collect(MetricsWriter& out) const {
  ReaderMutexLock lock(&mu_);
  out.Family("presence_redis_round_trip_seconds", "histogram",
             "Redis store calls: time from queueing a call on a pipelined "
             "connection to its reply, by the store's function.");
  for (const auto& [function, series] : series_) {
    out.HistogramSamples("presence_redis_round_trip_seconds",
                         {{"function", function}}, series->seconds.bounds(),
                         series->seconds.Take());
  }
  out.Family("presence_redis_errors_total", "counter",
             "Redis store calls that Redis failed (unreachable, timed out, "
             "an error reply), by the store's function.");
  for (const auto& [function, series] : series_) {
    out.Sample("presence_redis_errors_total", {{"function", function}},
               static_cast<double>(series->errors.load()));
  }
}

}  // namespace presence
