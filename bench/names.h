// Names the gRPC benchmarks give users and channels: the load generator
// sends them and the echo server answers with them, so both servers carry
// the same bytes. Ids are zero-padded to 12 digits, which is also what
// redis-benchmark's __rand_int__ placeholder produces (S7 replays the
// product's script with it).
#ifndef BENCH_NAMES_H_
#define BENCH_NAMES_H_

#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/strings/string_view.h"

namespace presence::bench {

inline constexpr char kUserPrefix[] = "u-";
inline constexpr char kChannelPrefix[] = "ch-";

// "<prefix><id, 12 digits>".
inline std::string Name(absl::string_view prefix, uint64_t id) {
  char digits[24];
  const int n = std::snprintf(digits, sizeof(digits), "%012llu",
                              static_cast<unsigned long long>(id));
  std::string out;
  out.reserve(prefix.size() + n);
  out.append(prefix.data(), prefix.size());
  out.append(digits, n);
  return out;
}

}  // namespace presence::bench

#endif  // BENCH_NAMES_H_
