#include "presence/presence.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "presence/internal/validation.h"

namespace presence {
namespace {

void SortUnique(std::vector<std::string>& names) {
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
}

// Validates and normalises the channel and group lists of a request.
// `required`: the request needs at least one channel or group.
absl::Status NormalizeTargets(std::vector<std::string>& channels,
                              std::vector<std::string>& groups, bool required,
                              const Limits& limits) {
  absl::Status status = ValidateChannelList("channels", channels, limits);
  if (status.ok()) status = ValidateGroupList("channel_groups", groups, limits);
  if (!status.ok()) return status;
  if (required && channels.empty() && groups.empty()) {
    return absl::InvalidArgumentError(
        "channels, channel_groups: at least one channel or channel group is "
        "required");
  }
  SortUnique(channels);
  SortUnique(groups);
  return absl::OkStatus();
}

// Returns the canonical form of a state, "" for an empty object (no state).
absl::StatusOr<std::string> NormalizeState(absl::string_view field,
                                           absl::string_view json,
                                           const Limits& limits) {
  absl::StatusOr<std::string> state = CanonicalState(field, json, limits);
  if (state.ok() && *state == "{}") state->clear();
  return state;
}

}  // namespace

absl::StatusOr<HereNowResult> Presence::HereNow(HereNowRequest request) {
  absl::Status status =
      NormalizeTargets(request.channels, request.channel_groups,
                       /*required=*/false, limits_);
  if (!status.ok()) return status;
  if (request.limit > limits_.max_here_now_limit) {
    return absl::InvalidArgumentError(absl::StrCat("limit: ", request.limit,
                                                   " is more than the maximum ",
                                                   limits_.max_here_now_limit));
  }
  if (request.limit == 0) request.limit = limits_.max_here_now_limit;
  if (!request.include_user_ids) request.include_state = false;
  return store_->HereNow(request);
}

absl::StatusOr<WhereNowResult> Presence::WhereNow(
    const WhereNowRequest& request) {
  absl::Status status = ValidateUserId("user_id", request.user_id, limits_);
  if (!status.ok()) return status;
  return store_->WhereNow(request);
}

absl::StatusOr<SetStateResult> Presence::SetState(SetStateRequest request) {
  absl::Status status = ValidateUserId("user_id", request.user_id, limits_);
  if (status.ok()) {
    status = NormalizeTargets(request.channels, request.channel_groups,
                              /*required=*/true, limits_);
  }
  if (!status.ok()) return status;
  absl::StatusOr<std::string> state = NormalizeState(
      "state", request.state.empty() ? "{}" : request.state, limits_);
  if (!state.ok()) return state.status();
  request.state = *std::move(state);
  return store_->SetState(request);
}

absl::StatusOr<GetStateResult> Presence::GetState(GetStateRequest request) {
  absl::Status status = ValidateUserId("user_id", request.user_id, limits_);
  if (status.ok()) {
    status = NormalizeTargets(request.channels, request.channel_groups,
                              /*required=*/true, limits_);
  }
  if (!status.ok()) return status;
  return store_->GetState(request);
}

absl::StatusOr<HeartbeatResult> Presence::Heartbeat(HeartbeatRequest request) {
  absl::Status status = ValidateUserId("user_id", request.user_id, limits_);
  if (status.ok())
    status = ValidateSessionId("session_id", request.session_id, limits_);
  if (status.ok()) {
    status = NormalizeTargets(request.channels, request.channel_groups,
                              /*required=*/true, limits_);
  }
  if (!status.ok()) return status;
  if (request.timeout_seconds == 0) {
    request.timeout_seconds = limits_.default_timeout_seconds;
  } else if (request.timeout_seconds < limits_.min_timeout_seconds ||
             request.timeout_seconds > limits_.max_timeout_seconds) {
    return absl::InvalidArgumentError(absl::StrCat(
        "timeout_seconds: ", request.timeout_seconds, " is outside [",
        limits_.min_timeout_seconds, ", ", limits_.max_timeout_seconds,
        "] (0 means the default, ", limits_.default_timeout_seconds, ")"));
  }
  // Sorted by key, so every store resolves a channel in two groups alike.
  std::sort(request.states.begin(), request.states.end());
  for (auto& [key, state] : request.states) {
    const std::string field = absl::StrCat("states[\"", key, "\"]");
    if (!std::binary_search(request.channels.begin(), request.channels.end(),
                            key) &&
        !std::binary_search(request.channel_groups.begin(),
                            request.channel_groups.end(), key)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field,
                       ": the key must be one of the request's channels or "
                       "channel_groups"));
    }
    absl::StatusOr<std::string> canonical =
        NormalizeState(field, state.empty() ? "{}" : state, limits_);
    if (!canonical.ok()) return canonical.status();
    state = *std::move(canonical);
  }
  status = store_->Heartbeat(request);
  if (!status.ok()) return status;
  HeartbeatResult result;
  result.timeout_seconds = request.timeout_seconds;
  // max(1, timeout / 2 - 1), without unsigned underflow below 2.
  const uint32_t half = request.timeout_seconds / 2;
  result.heartbeat_interval_seconds = half > 2 ? half - 1 : 1;
  return result;
}

absl::StatusOr<LeaveResult> Presence::Leave(LeaveRequest request) {
  absl::Status status = ValidateUserId("user_id", request.user_id, limits_);
  if (status.ok())
    status = ValidateSessionId("session_id", request.session_id, limits_);
  if (status.ok()) {
    status = NormalizeTargets(request.channels, request.channel_groups,
                              /*required=*/true, limits_);
  }
  if (!status.ok()) return status;
  return store_->Leave(request);
}

absl::Status Presence::NormalizeWatch(std::vector<std::string>& channels,
                                      std::vector<std::string>& groups) const {
  return NormalizeTargets(channels, groups, /*required=*/false, limits_);
}

absl::Status Presence::AddChannelsToGroup(absl::string_view group,
                                          std::vector<std::string> channels) {
  absl::Status status = ValidateGroupName("group", group, limits_);
  if (status.ok()) status = ValidateChannelList("channels", channels, limits_);
  if (!status.ok()) return status;
  if (channels.empty()) {
    return absl::InvalidArgumentError(
        "channels: at least one channel is required");
  }
  SortUnique(channels);
  return store_->AddChannelsToGroup(group, channels);
}

absl::Status Presence::RemoveChannelsFromGroup(
    absl::string_view group, std::vector<std::string> channels) {
  absl::Status status = ValidateGroupName("group", group, limits_);
  if (status.ok()) status = ValidateChannelList("channels", channels, limits_);
  if (!status.ok()) return status;
  if (channels.empty()) {
    return absl::InvalidArgumentError(
        "channels: at least one channel is required");
  }
  SortUnique(channels);
  return store_->RemoveChannelsFromGroup(group, channels);
}

absl::StatusOr<std::vector<std::string>> Presence::ListChannelsInGroup(
    absl::string_view group) {
  absl::Status status = ValidateGroupName("group", group, limits_);
  if (!status.ok()) return status;
  return store_->ListChannelsInGroup(group);
}

absl::StatusOr<std::vector<std::string>> Presence::ListGroups() {
  return store_->ListGroups();
}

absl::Status Presence::DeleteGroup(absl::string_view group) {
  absl::Status status = ValidateGroupName("group", group, limits_);
  if (!status.ok()) return status;
  return store_->DeleteGroup(group);
}

}  // namespace presence
