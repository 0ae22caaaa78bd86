// RedisCallMetrics: the Redis store's calls, by the store's function name
// (a fixed set: "heartbeat", "here_now", "group_add", ...; never a channel
// or user), fed by RedisStoreOptions::on_round_trip:
//
//   presence_redis_round_trip_seconds{function}  histogram: from queueing a
//       call on a pipelined connection to its reply (queueing included)
//   presence_redis_errors_total{function}        counter: calls Redis failed
//       (unreachable, timed out, an error reply other than a refusal)
//
//   RedisCallMetrics redis_calls;
//   options.on_round_trip = redis_calls.Observer();
//   redis_calls.Register(registry);
//
// Thread-safe; Observe() takes a shared lock, and an exclusive one only the
// first time it sees a function.
#ifndef SERVICE_METRICS_REDIS_CALL_METRICS_H_
#define SERVICE_METRICS_REDIS_CALL_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "presence/base/mutex.h"
#include "service/metrics/histogram.h"
#include "service/metrics/metrics.h"

namespace presence {

class RedisCallMetrics {
 public:
  void Observe(absl::string_view function, absl::Duration round_trip,
               bool failed) ABSL_LOCKS_EXCLUDED(mu_);

  // Observe(), as a RedisStoreOptions::on_round_trip; this must outlive the
  // store.
  std::function<void(absl::string_view, absl::Duration, bool)> Observer();

  // Adds both families to `registry` (this must outlive it).
  void Register(MetricsRegistry& registry);

 private:
  struct Series {
    // 100 µs to about 3.3 s.
    Histogram seconds{Histogram::ExponentialBounds(0.0001, 2, 16)};
    std::atomic<uint64_t> errors{0};
  };
  Series& SeriesOf(absl::string_view function) ABSL_LOCKS_EXCLUDED(mu_);
  void Collect(MetricsWriter& out) const ABSL_LOCKS_EXCLUDED(mu_);

  mutable SharedMutex mu_;
  // Never shrinks, so a Series outlives the lock that found it.
  std::map<std::string, std::unique_ptr<Series>, std::less<>> series_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace presence

#endif  // SERVICE_METRICS_REDIS_CALL_METRICS_H_
