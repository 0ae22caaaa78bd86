// Small helpers shared by the memory store's library-level benchmarks
// (bench/store/): names, a deterministic hash, latency samples.
#ifndef BENCH_STORE_BENCH_UTIL_H_
#define BENCH_STORE_BENCH_UTIL_H_

#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace presence::bench {

// "<prefix><id, 12 digits>", the names the gRPC load generator uses.
inline std::string Name(absl::string_view prefix, uint64_t id) {
  return absl::StrFormat("%s%012d", prefix, id);
}

// SplitMix64: a well-mixed deterministic hash of `x`.
inline uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// CPU time the calling thread has used, in seconds: what a measurement
// costs, less sensitive than wall time to other processes on a shared
// machine.
inline double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Latency samples in microseconds.
class Samples {
 public:
  void Add(double us) { values_.push_back(us); }
  size_t size() const { return values_.size(); }

  // The p-quantile (0..1) of what was added; -1 when empty.
  double Quantile(double p) {
    if (values_.empty()) return -1;
    if (!sorted_) {
      std::sort(values_.begin(), values_.end());
      sorted_ = true;
    }
    const size_t i =
        std::min(values_.size() - 1, static_cast<size_t>(p * values_.size()));
    return values_[i];
  }

  // "p50 X µs, p99 Y µs, p99.9 Z µs, max W µs (n samples)".
  std::string Summary() {
    return absl::StrFormat(
        "p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us (%d samples)",
        Quantile(0.5), Quantile(0.99), Quantile(0.999), Quantile(1.0),
        values_.size());
  }

  void Merge(const Samples& other) {
    values_.insert(values_.end(), other.values_.begin(), other.values_.end());
    sorted_ = false;
  }

 private:
  std::vector<double> values_;
  bool sorted_ = false;
};

}  // namespace presence::bench

#endif  // BENCH_STORE_BENCH_UTIL_H_
