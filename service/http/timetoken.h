// Timetokens: PubNub's cursor for subscribe long-polls and its event
// timestamps: Unix time in units of 100 ns (10^-7 s), sent as a 17-digit
// decimal string, e.g. "17958000000000000" for 2026-11-27T17:20:00Z.
//
//   TimetokenClock clock;
//   uint64_t a = clock.Next(absl::Now());
//   uint64_t b = clock.Next(absl::Now());  // b > a, even within 100 ns.
//   std::string wire = TimetokenString(b);
//
// A clock hands out strictly increasing values close to wall-clock time: if
// the wall clock stands still or steps back, the next value is the last one
// plus one, so every event and every cursor is distinct and ordered.
#ifndef SERVICE_HTTP_TIMETOKEN_H_
#define SERVICE_HTTP_TIMETOKEN_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace presence {

// Returns `time` as a timetoken (truncated to 100 ns; 0 before the epoch).
uint64_t TimetokenAt(absl::Time time);

// Returns the decimal form of a timetoken.
std::string TimetokenString(uint64_t timetoken);

// Parses a timetoken query value: empty is 0 (PubNub's "no cursor yet");
// nullopt for anything that is not a decimal number of at most 19 digits.
std::optional<uint64_t> ParseTimetoken(absl::string_view text);

// Not thread-safe: its owner serialises calls (SubscribeHub holds a lock).
class TimetokenClock {
 public:
  // Returns max(TimetokenAt(now), the previous value + 1).
  uint64_t Next(absl::Time now);

  // Returns the last value handed out (0 before the first).
  uint64_t last() const { return last_; }

 private:
  uint64_t last_ = 0;
};

}  // namespace presence

#endif  // SERVICE_HTTP_TIMETOKEN_H_
