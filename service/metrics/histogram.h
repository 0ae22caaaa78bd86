// Histogram: a Prometheus-style histogram with fixed bucket bounds that any
// number of threads may observe into without a lock.
//
//   Histogram latency(Histogram::ExponentialBounds(1e-5, 2, 20));
//   latency.Observe(absl::ToDoubleSeconds(elapsed));
//   Histogram::Snapshot s = latency.Take();  // cumulative counts, sum, count
//
// Observe() costs a binary search over the bounds and two relaxed atomic
// updates. Take() is not atomic across buckets and the sum: a concurrent
// Observe() may be in one and not yet in the other (Prometheus tolerates
// that); the count is always the +Inf bucket's.
#ifndef SERVICE_METRICS_HISTOGRAM_H_
#define SERVICE_METRICS_HISTOGRAM_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace presence {

class Histogram {
 public:
  // `bounds` are the buckets' inclusive upper bounds, strictly ascending;
  // values above the last one fall in the implicit +Inf bucket.
  explicit Histogram(std::vector<double> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Returns `count` bounds start, start*factor, start*factor^2, ...
  static std::vector<double> ExponentialBounds(double start, double factor,
                                               int count);

  void Observe(double value);

  struct Snapshot {
    // Cumulative counts per bound (value <= bound), then +Inf.
    std::vector<uint64_t> cumulative;
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Take() const;

  const std::vector<double>& bounds() const { return bounds_; }

 private:
  const std::vector<double> bounds_;
  // One per bound, then +Inf.
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<double> sum_{0};
};

}  // namespace presence

#endif  // SERVICE_METRICS_HISTOGRAM_H_
