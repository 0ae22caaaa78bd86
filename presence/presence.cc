#include "presence/presence.h"

#include <algorithm>
#include <memory>
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

// The answer to a heartbeat: the timeout applied and how often to beat,
// max(1, timeout / 2 - 1), without unsigned underflow below 2.
HeartbeatResult HeartbeatAnswer(uint32_t timeout_seconds) {
  HeartbeatResult result;
  result.timeout_seconds = timeout_seconds;
  const uint32_t half = timeout_seconds / 2;
  result.heartbeat_interval_seconds = half > 2 ? half - 1 : 1;
  return result;
}

// Returns `status` with its message prefixed by `prefix` (which names a
// batch entry): the field in a batch is "entries[3].heartbeat.channels[0]".
absl::Status Prefixed(absl::string_view prefix, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(prefix, status.message()));
}

}  // namespace

absl::Status Presence::PrepareHereNow(HereNowRequest& request) const {
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
  return absl::OkStatus();
}

absl::Status Presence::PrepareWhereNow(const WhereNowRequest& request) const {
  return ValidateUserId("user_id", request.user_id, limits_);
}

absl::Status Presence::PrepareSetState(SetStateRequest& request) const {
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
  return absl::OkStatus();
}

absl::Status Presence::PrepareGetState(GetStateRequest& request) const {
  absl::Status status = ValidateUserId("user_id", request.user_id, limits_);
  if (status.ok()) {
    status = NormalizeTargets(request.channels, request.channel_groups,
                              /*required=*/true, limits_);
  }
  return status;
}

absl::Status Presence::PrepareHeartbeat(HeartbeatRequest& request) const {
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
  return absl::OkStatus();
}

absl::Status Presence::PrepareLeave(LeaveRequest& request) const {
  absl::Status status = ValidateUserId("user_id", request.user_id, limits_);
  if (status.ok())
    status = ValidateSessionId("session_id", request.session_id, limits_);
  if (status.ok()) {
    status = NormalizeTargets(request.channels, request.channel_groups,
                              /*required=*/true, limits_);
  }
  return status;
}

absl::Status Presence::PrepareGroupChannels(
    absl::string_view group, std::vector<std::string>& channels) const {
  absl::Status status = ValidateGroupName("group", group, limits_);
  if (status.ok()) status = ValidateChannelList("channels", channels, limits_);
  if (!status.ok()) return status;
  if (channels.empty()) {
    return absl::InvalidArgumentError(
        "channels: at least one channel is required");
  }
  SortUnique(channels);
  return absl::OkStatus();
}

absl::StatusOr<HereNowResult> Presence::HereNow(HereNowRequest request) {
  if (absl::Status status = PrepareHereNow(request); !status.ok()) {
    return status;
  }
  return store_->HereNow(request);
}

absl::StatusOr<WhereNowResult> Presence::WhereNow(
    const WhereNowRequest& request) {
  if (absl::Status status = PrepareWhereNow(request); !status.ok()) {
    return status;
  }
  return store_->WhereNow(request);
}

absl::StatusOr<SetStateResult> Presence::SetState(SetStateRequest request) {
  if (absl::Status status = PrepareSetState(request); !status.ok()) {
    return status;
  }
  return store_->SetState(request);
}

absl::StatusOr<GetStateResult> Presence::GetState(GetStateRequest request) {
  if (absl::Status status = PrepareGetState(request); !status.ok()) {
    return status;
  }
  return store_->GetState(request);
}

absl::StatusOr<HeartbeatResult> Presence::Heartbeat(HeartbeatRequest request) {
  if (absl::Status status = PrepareHeartbeat(request); !status.ok()) {
    return status;
  }
  absl::Status status = store_->Heartbeat(request);
  if (!status.ok()) return status;
  return HeartbeatAnswer(request.timeout_seconds);
}

absl::StatusOr<LeaveResult> Presence::Leave(LeaveRequest request) {
  if (absl::Status status = PrepareLeave(request); !status.ok()) {
    return status;
  }
  return store_->Leave(request);
}

absl::StatusOr<Presence::PreparedBatch> Presence::PrepareBatch(
    BatchRequest& request) const {
  if (request.entries.size() > limits_.max_batch_entries) {
    return absl::InvalidArgumentError(absl::StrCat(
        "entries: ", request.entries.size(),
        " entries is more than the maximum ", limits_.max_batch_entries));
  }
  PreparedBatch prepared;
  prepared.result.results.resize(request.entries.size());
  prepared.valid.reserve(request.entries.size());
  prepared.positions.reserve(request.entries.size());
  for (size_t i = 0; i < request.entries.size(); ++i) {
    BatchEntry& entry = request.entries[i];
    const bool heartbeat = entry.kind == BatchEntry::Kind::kHeartbeat;
    absl::Status status = heartbeat ? PrepareHeartbeat(entry.heartbeat)
                                    : PrepareLeave(entry.leave);
    if (!status.ok()) {
      prepared.result.results[i].status = Prefixed(
          absl::StrCat("entries[", i, heartbeat ? "].heartbeat." : "].leave."),
          status);
      continue;
    }
    prepared.valid.push_back(std::move(entry));
    prepared.positions.push_back(i);
  }
  return prepared;
}

BatchResult Presence::MergeBatch(PreparedBatch& prepared,
                                 std::vector<BatchEntryResult> applied) {
  for (size_t k = 0; k < prepared.positions.size(); ++k) {
    BatchEntryResult& out = prepared.result.results[prepared.positions[k]];
    if (k >= applied.size()) {
      out.status = absl::InternalError("the store answered too few entries");
      continue;
    }
    out.status = std::move(applied[k].status);
    const BatchEntry& entry = prepared.valid[k];
    if (!out.status.ok()) {
      out.status = Prefixed(
          absl::StrCat("entries[", prepared.positions[k], "]: "), out.status);
    } else if (entry.kind == BatchEntry::Kind::kHeartbeat) {
      out.heartbeat = HeartbeatAnswer(entry.heartbeat.timeout_seconds);
    } else {
      out.leave = std::move(applied[k].leave);
    }
  }
  return std::move(prepared.result);
}

absl::StatusOr<BatchResult> Presence::Batch(BatchRequest request) {
  absl::StatusOr<PreparedBatch> prepared = PrepareBatch(request);
  if (!prepared.ok()) return prepared.status();
  return MergeBatch(*prepared, store_->Batch(prepared->valid));
}

void Presence::HereNowAsync(HereNowRequest request,
                            StoreCallback<HereNowResult> done) {
  if (absl::Status status = PrepareHereNow(request); !status.ok()) {
    return std::move(done)(status);
  }
  store_->HereNowAsync(request, std::move(done));
}

void Presence::WhereNowAsync(const WhereNowRequest& request,
                             StoreCallback<WhereNowResult> done) {
  if (absl::Status status = PrepareWhereNow(request); !status.ok()) {
    return std::move(done)(status);
  }
  store_->WhereNowAsync(request, std::move(done));
}

void Presence::SetStateAsync(SetStateRequest request,
                             StoreCallback<SetStateResult> done) {
  if (absl::Status status = PrepareSetState(request); !status.ok()) {
    return std::move(done)(status);
  }
  store_->SetStateAsync(request, std::move(done));
}

void Presence::GetStateAsync(GetStateRequest request,
                             StoreCallback<GetStateResult> done) {
  if (absl::Status status = PrepareGetState(request); !status.ok()) {
    return std::move(done)(status);
  }
  store_->GetStateAsync(request, std::move(done));
}

void Presence::HeartbeatAsync(HeartbeatRequest request,
                              StoreCallback<HeartbeatResult> done) {
  if (absl::Status status = PrepareHeartbeat(request); !status.ok()) {
    return std::move(done)(status);
  }
  const uint32_t timeout = request.timeout_seconds;
  store_->HeartbeatAsync(request, [done = std::move(done), timeout](
                                      const absl::Status& status) mutable {
    if (!status.ok()) return std::move(done)(status);
    std::move(done)(HeartbeatAnswer(timeout));
  });
}

void Presence::LeaveAsync(LeaveRequest request,
                          StoreCallback<LeaveResult> done) {
  if (absl::Status status = PrepareLeave(request); !status.ok()) {
    return std::move(done)(status);
  }
  store_->LeaveAsync(request, std::move(done));
}

void Presence::BatchAsync(BatchRequest request,
                          StoreCallback<BatchResult> done) {
  absl::StatusOr<PreparedBatch> prepared = PrepareBatch(request);
  if (!prepared.ok()) return std::move(done)(prepared.status());
  // Shared, so that the entries the store reads stay where they are.
  auto shared = std::make_shared<PreparedBatch>(*std::move(prepared));
  store_->BatchAsync(shared->valid,
                     [shared, done = std::move(done)](
                         std::vector<BatchEntryResult> applied) mutable {
                       std::move(done)(MergeBatch(*shared, std::move(applied)));
                     });
}

absl::Status Presence::NormalizeWatch(std::vector<std::string>& channels,
                                      std::vector<std::string>& groups) const {
  return NormalizeTargets(channels, groups, /*required=*/false, limits_);
}

absl::Status Presence::AddChannelsToGroup(absl::string_view group,
                                          std::vector<std::string> channels) {
  if (absl::Status status = PrepareGroupChannels(group, channels);
      !status.ok()) {
    return status;
  }
  return store_->AddChannelsToGroup(group, channels);
}

absl::Status Presence::RemoveChannelsFromGroup(
    absl::string_view group, std::vector<std::string> channels) {
  if (absl::Status status = PrepareGroupChannels(group, channels);
      !status.ok()) {
    return status;
  }
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

void Presence::AddChannelsToGroupAsync(absl::string_view group,
                                       std::vector<std::string> channels,
                                       StoreStatusCallback done) {
  if (absl::Status status = PrepareGroupChannels(group, channels);
      !status.ok()) {
    return std::move(done)(status);
  }
  store_->AddChannelsToGroupAsync(group, channels, std::move(done));
}

void Presence::RemoveChannelsFromGroupAsync(absl::string_view group,
                                            std::vector<std::string> channels,
                                            StoreStatusCallback done) {
  if (absl::Status status = PrepareGroupChannels(group, channels);
      !status.ok()) {
    return std::move(done)(status);
  }
  store_->RemoveChannelsFromGroupAsync(group, channels, std::move(done));
}

void Presence::ListChannelsInGroupAsync(
    absl::string_view group, StoreCallback<std::vector<std::string>> done) {
  absl::Status status = ValidateGroupName("group", group, limits_);
  if (!status.ok()) return std::move(done)(status);
  store_->ListChannelsInGroupAsync(group, std::move(done));
}

void Presence::ListGroupsAsync(StoreCallback<std::vector<std::string>> done) {
  store_->ListGroupsAsync(std::move(done));
}

void Presence::DeleteGroupAsync(absl::string_view group,
                                StoreStatusCallback done) {
  absl::Status status = ValidateGroupName("group", group, limits_);
  if (!status.ok()) return std::move(done)(status);
  store_->DeleteGroupAsync(group, std::move(done));
}

}  // namespace presence
