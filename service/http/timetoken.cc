#include "service/http/timetoken.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace presence {

uint64_t TimetokenAt(absl::Time time) {
  const int64_t units = absl::ToUnixNanos(time) / 100;
  return units < 0 ? 0 : static_cast<uint64_t>(units);
}

std::string TimetokenString(uint64_t timetoken) {
  return absl::StrCat(timetoken);
}

std::optional<uint64_t> ParseTimetoken(absl::string_view text) {
  if (text.empty()) return uint64_t{0};
  if (text.size() > 19 ||
      !std::all_of(text.begin(), text.end(), absl::ascii_isdigit)) {
    return std::nullopt;
  }
  uint64_t value = 0;
  if (!absl::SimpleAtoi(text, &value)) return std::nullopt;
  return value;
}

uint64_t TimetokenClock::Next(absl::Time now) {
  last_ = std::max(TimetokenAt(now), last_ + 1);
  return last_;
}

}  // namespace presence
