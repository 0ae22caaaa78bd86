// Limits: the bounds every request is validated against. The server copies
// its flags into one of these; the defaults are the documented ones.
#ifndef PRESENCE_LIMITS_H_
#define PRESENCE_LIMITS_H_

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace presence {

struct Limits {
  // Longest user_id, session_id, channel or group name, in characters.
  uint32_t max_name_chars = 92;
  // Channels named in one request.
  uint32_t max_channels_per_request = 1000;
  // Channel groups named in one request.
  uint32_t max_groups_per_request = 10;
  // Channels one group may hold.
  uint32_t max_channels_per_group = 2000;
  // Largest state, as compact serialized JSON.
  uint32_t max_state_bytes = 32 * 1024;
  // Deepest nesting of a state (the top-level object is depth 1).
  uint32_t max_state_depth = 16;
  // Heartbeat timeouts: 0 in a request means default_timeout_seconds.
  uint32_t default_timeout_seconds = 300;
  uint32_t min_timeout_seconds = 20;
  uint32_t max_timeout_seconds = 3600;
  // Occupants listed per channel by HereNow (a limit of 0 means this).
  uint32_t max_here_now_limit = 1000;
  // Entries (heartbeats and leaves) in one batch request.
  uint32_t max_batch_entries = 10000;
  // Enforced by the stores, atomically with the heartbeat they refuse
  // (RESOURCE_EXHAUSTED naming the user, the limit and its value; nothing
  // changes). 0 is unlimited.
  // Live sessions (distinct session ids, across channels) of one user: a
  // heartbeat with a session id the user does not have yet is refused when
  // the user has this many.
  uint32_t max_sessions_per_user = 0;
  // Channels one user is present on: a heartbeat that would add channels
  // beyond this many is refused (one on channels the user is already on
  // passes).
  uint32_t max_channels_per_user = 0;
};

// The per-user limits above, as their errors name them.
enum class UserLimit { kSessionsPerUser, kChannelsPerUser };

// "max_sessions_per_user", "max_channels_per_user": the name in the error's
// message.
inline absl::string_view UserLimitName(UserLimit limit) {
  return limit == UserLimit::kSessionsPerUser ? "max_sessions_per_user"
                                              : "max_channels_per_user";
}

// Which per-user limit refused a request, if `status` is such a refusal
// (for transports that count them).
inline std::optional<UserLimit> UserLimitOf(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kResourceExhausted) {
    return std::nullopt;
  }
  for (UserLimit limit :
       {UserLimit::kSessionsPerUser, UserLimit::kChannelsPerUser}) {
    if (absl::StrContains(status.message(), UserLimitName(limit))) return limit;
  }
  return std::nullopt;
}

}  // namespace presence

#endif  // PRESENCE_LIMITS_H_
