// Limits: the bounds every request is validated against. The server copies
// its flags into one of these; the defaults are the documented ones.
#ifndef PRESENCE_LIMITS_H_
#define PRESENCE_LIMITS_H_

#include <cstdint>

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
};

}  // namespace presence

#endif  // PRESENCE_LIMITS_H_
