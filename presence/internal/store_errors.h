// The errors stores return for the same conditions, shared so that every
// store words them alike (the conformance suite checks them).
#ifndef PRESENCE_INTERNAL_STORE_ERRORS_H_
#define PRESENCE_INTERNAL_STORE_ERRORS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "presence/limits.h"

namespace presence {

// NOT_FOUND: a channel group that does not exist.
absl::Status GroupNotFoundError(absl::string_view group);

// FAILED_PRECONDITION: a group that would hold more channels than allowed.
absl::Status GroupFullError(absl::string_view group, size_t would_hold,
                            uint32_t limit);

// FAILED_PRECONDITION: SetState on channels where the user is not present.
absl::Status NotPresentError(absl::string_view user,
                             const std::vector<std::string>& channels);

// RESOURCE_EXHAUSTED: a heartbeat a per-user limit refuses (`value` is the
// limit's; `count` the user's sessions now, or the channels the user would
// be present on). Names the user and the limit (UserLimitName).
absl::Status UserLimitError(absl::string_view user, UserLimit limit,
                            uint32_t value, size_t count);

}  // namespace presence

#endif  // PRESENCE_INTERNAL_STORE_ERRORS_H_
