// A log-linear latency histogram: exact below 128 ns, then 64 buckets per
// power of two (under 1.6% error), up to ~10^12 ns. Not thread-safe: each
// client thread records into its own and they are merged at the end.
#ifndef BENCH_LATENCY_HISTOGRAM_H_
#define BENCH_LATENCY_HISTOGRAM_H_

#include <algorithm>
#include <cstdint>
#include <vector>

namespace presence::bench {

class LatencyHistogram {
 public:
  LatencyHistogram() : counts_(kBuckets, 0) {}

  void Record(int64_t nanos) {
    const uint64_t v = nanos < 0 ? 0 : static_cast<uint64_t>(nanos);
    ++counts_[std::min<size_t>(Bucket(v), kBuckets - 1)];
    ++total_;
    max_ = std::max(max_, v);
  }

  void Merge(const LatencyHistogram& other) {
    for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    max_ = std::max(max_, other.max_);
  }

  uint64_t count() const { return total_; }
  uint64_t max_nanos() const { return max_; }

  // The value below which a fraction `q` of the samples lie (the bucket's
  // midpoint); 0 when empty.
  double Quantile(double q) const {
    if (total_ == 0) return 0;
    const uint64_t rank =
        std::min<uint64_t>(total_ - 1, static_cast<uint64_t>(q * total_));
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen > rank) return std::min<double>(Midpoint(i), max_);
    }
    return static_cast<double>(max_);
  }

 private:
  static constexpr int kSubBits = 6;  // 64 buckets per power of two.
  static constexpr size_t kBuckets = 64 * 40;

  static size_t Bucket(uint64_t v) {
    const int msb = 63 - __builtin_clzll(v | 1);
    const int shift = std::max(0, msb - kSubBits);
    return (static_cast<size_t>(shift) << kSubBits) + (v >> shift);
  }

  static double Midpoint(size_t bucket) {
    if (bucket < (2u << kSubBits)) return static_cast<double>(bucket);
    const size_t shift = (bucket >> kSubBits) - 1;
    const uint64_t low = (bucket - (shift << kSubBits)) << shift;
    return static_cast<double>(low) + static_cast<double>(1ull << shift) / 2;
  }

  std::vector<uint64_t> counts_;
  uint64_t total_ = 0;
  uint64_t max_ = 0;
};

}  // namespace presence::bench

#endif  // BENCH_LATENCY_HISTOGRAM_H_
