// Validation of everything a client sends, before anything changes.
//
// Every function returns OK or INVALID_ARGUMENT with a message that names
// the field and the rule, e.g.
//   channels[2]: "a,b" contains ','; channel names must not contain
//   , : * / \ whitespace or control characters
//
// Rules (limits from Limits):
// - user_id: 1..max_name_chars characters of valid UTF-8, printable, no
//   whitespace. session_id: the same, but may be empty.
// - channel and group names: as user_id, and none of , : * / \ and not
//   ending in "-pnpres" (PubNub's presence-channel suffix).
// - state: a JSON object, at most max_state_bytes once serialized compactly,
//   nesting depth at most max_state_depth, no NaN or Infinity.
#ifndef PRESENCE_INTERNAL_VALIDATION_H_
#define PRESENCE_INTERNAL_VALIDATION_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "presence/limits.h"

namespace presence {

absl::Status ValidateUserId(absl::string_view field, absl::string_view value,
                            const Limits& limits);

absl::Status ValidateSessionId(absl::string_view field, absl::string_view value,
                               const Limits& limits);

absl::Status ValidateChannelName(absl::string_view field,
                                 absl::string_view value, const Limits& limits);

absl::Status ValidateGroupName(absl::string_view field, absl::string_view value,
                               const Limits& limits);

// Validates the count (at most max_channels_per_request) and every name of
// a channel list. `field` is e.g. "channels".
absl::Status ValidateChannelList(absl::string_view field,
                                 const std::vector<std::string>& channels,
                                 const Limits& limits);

// Validates the count (at most max_groups_per_request) and every name.
absl::Status ValidateGroupList(absl::string_view field,
                               const std::vector<std::string>& groups,
                               const Limits& limits);

// Validates `json` as a state and returns its compact serialization (the
// form stores keep and compare).
absl::StatusOr<std::string> CanonicalState(absl::string_view field,
                                           absl::string_view json,
                                           const Limits& limits);

}  // namespace presence

#endif  // PRESENCE_INTERNAL_VALIDATION_H_
