#include "presence/internal/store_errors.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace presence {

absl::Status GroupNotFoundError(absl::string_view group) {
  return absl::NotFoundError(
      absl::StrCat("channel group '", group, "' does not exist"));
}

absl::Status GroupFullError(absl::string_view group, size_t would_hold,
                            uint32_t limit) {
  return absl::FailedPreconditionError(
      absl::StrCat("channel group '", group, "' would hold ", would_hold,
                   " channels; a group holds at most ", limit));
}

absl::Status NotPresentError(absl::string_view user,
                             const std::vector<std::string>& channels) {
  return absl::FailedPreconditionError(absl::StrCat(
      "user '", user,
      "' is not present on channels: ", absl::StrJoin(channels, ", "),
      " (state can only be set where the user is present)"));
}

absl::Status UserLimitError(absl::string_view user, UserLimit limit,
                            uint32_t value, size_t count) {
  if (limit == UserLimit::kSessionsPerUser) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "user '", user, "' has ", count, " sessions; ", UserLimitName(limit),
        " is ", value,
        ": a heartbeat with another session_id is refused until one of them "
        "leaves or times out"));
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("user '", user, "' would be present on ", count,
                   " channels; ", UserLimitName(limit), " is ", value));
}

}  // namespace presence
