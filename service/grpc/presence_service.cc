#include "service/grpc/presence_service.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "service/grpc/grpc_status.h"
#include "service/grpc/struct_json.h"
#include "service/grpc/watch_reactor.h"

namespace presence {
namespace {

grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context,
                                 const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

template <typename Repeated>
std::vector<std::string> ToVector(const Repeated& names) {
  return std::vector<std::string>(names.begin(), names.end());
}

template <typename Repeated>
void ToRepeated(const std::vector<std::string>& names, Repeated* out) {
  out->Reserve(static_cast<int>(names.size()));
  for (const std::string& name : names) *out->Add() = name;
}

// The converter's walk stops one level past the library's limit, so the
// library reports the limit itself.
int WalkDepth(const Presence& presence) {
  return static_cast<int>(presence.limits().max_state_depth) + 1;
}

}  // namespace

grpc::ServerUnaryReactor* PresenceServiceImpl::HereNow(
    grpc::CallbackServerContext* context, const v1::HereNowRequest* request,
    v1::HereNowResponse* response) {
  HereNowRequest query;
  query.channels = ToVector(request->channels());
  query.channel_groups = ToVector(request->channel_groups());
  query.include_user_ids =
      !request->has_include_user_ids() || request->include_user_ids();
  query.include_state = request->include_state();
  query.limit = request->limit();
  query.offset = request->offset();
  absl::StatusOr<HereNowResult> result = presence_->HereNow(std::move(query));
  if (!result.ok()) return Finish(context, result.status());
  response->set_total_channels(result->total_channels);
  response->set_total_occupancy(result->total_occupancy);
  response->mutable_channels()->Reserve(
      static_cast<int>(result->channels.size()));
  for (const ChannelOccupancy& channel : result->channels) {
    v1::HereNowChannel* out = response->add_channels();
    out->set_name(channel.name);
    out->set_occupancy(channel.occupancy);
    out->mutable_occupants()->Reserve(
        static_cast<int>(channel.occupants.size()));
    for (const Occupant& occupant : channel.occupants) {
      v1::HereNowUser* user = out->add_occupants();
      user->set_user_id(occupant.user_id);
      if (!occupant.state.empty()) {
        absl::Status status =
            JsonToStruct(occupant.state, user->mutable_state());
        if (!status.ok()) return Finish(context, status);
      }
    }
  }
  return Finish(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* PresenceServiceImpl::WhereNow(
    grpc::CallbackServerContext* context, const v1::WhereNowRequest* request,
    v1::WhereNowResponse* response) {
  absl::StatusOr<WhereNowResult> result =
      presence_->WhereNow({request->user_id()});
  if (result.ok()) ToRepeated(result->channels, response->mutable_channels());
  return Finish(context, result.status());
}

grpc::ServerUnaryReactor* PresenceServiceImpl::SetState(
    grpc::CallbackServerContext* context, const v1::SetStateRequest* request,
    v1::SetStateResponse* response) {
  SetStateRequest update;
  update.user_id = request->user_id();
  update.channels = ToVector(request->channels());
  update.channel_groups = ToVector(request->channel_groups());
  absl::Status status = StructToJson(request->state(), "state",
                                     WalkDepth(*presence_), &update.state);
  if (!status.ok()) return Finish(context, status);
  absl::StatusOr<SetStateResult> result =
      presence_->SetState(std::move(update));
  if (!result.ok()) return Finish(context, result.status());
  ToRepeated(result->channels, response->mutable_channels());
  return Finish(context,
                JsonToStruct(result->state, response->mutable_state()));
}

grpc::ServerUnaryReactor* PresenceServiceImpl::GetState(
    grpc::CallbackServerContext* context, const v1::GetStateRequest* request,
    v1::GetStateResponse* response) {
  GetStateRequest query;
  query.user_id = request->user_id();
  query.channels = ToVector(request->channels());
  query.channel_groups = ToVector(request->channel_groups());
  absl::StatusOr<GetStateResult> result = presence_->GetState(std::move(query));
  if (!result.ok()) return Finish(context, result.status());
  for (const ChannelState& state : result->states) {
    v1::GetStateInfo* info = response->add_states();
    info->set_channel_name(state.channel);
    absl::Status status = JsonToStruct(state.state, info->mutable_state());
    if (!status.ok()) return Finish(context, status);
  }
  return Finish(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* PresenceServiceImpl::Heartbeat(
    grpc::CallbackServerContext* context, const v1::HeartbeatRequest* request,
    v1::HeartbeatResponse* response) {
  HeartbeatRequest heartbeat;
  heartbeat.user_id = request->user_id();
  heartbeat.channels = ToVector(request->channels());
  heartbeat.channel_groups = ToVector(request->channel_groups());
  heartbeat.timeout_seconds = request->timeout_seconds();
  heartbeat.session_id = request->session_id();
  heartbeat.states.reserve(request->states().size());
  for (const auto& [key, state] : request->states()) {
    std::string json;
    absl::Status status =
        StructToJson(state, absl::StrCat("states[\"", key, "\"]"),
                     WalkDepth(*presence_), &json);
    if (!status.ok()) return Finish(context, status);
    heartbeat.states.emplace_back(key, std::move(json));
  }
  absl::StatusOr<HeartbeatResult> result =
      presence_->Heartbeat(std::move(heartbeat));
  if (result.ok()) {
    response->set_timeout_seconds(result->timeout_seconds);
    response->set_heartbeat_interval_seconds(
        result->heartbeat_interval_seconds);
  }
  return Finish(context, result.status());
}

grpc::ServerUnaryReactor* PresenceServiceImpl::Leave(
    grpc::CallbackServerContext* context, const v1::LeaveRequest* request,
    v1::LeaveResponse* response) {
  LeaveRequest leave;
  leave.user_id = request->user_id();
  leave.channels = ToVector(request->channels());
  leave.channel_groups = ToVector(request->channel_groups());
  leave.session_id = request->session_id();
  absl::StatusOr<LeaveResult> result = presence_->Leave(std::move(leave));
  if (result.ok()) ToRepeated(result->channels, response->mutable_channels());
  return Finish(context, result.status());
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* PresenceServiceImpl::WatchEvents(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  v1::WatchEventsRequest watch;
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (request->Dump(&slices).ok()) {
    for (const grpc::Slice& slice : slices) {
      bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
  }
  if (!watch.ParseFromString(bytes)) {
    return WatchReactor::Fail(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                     "request: not a WatchEventsRequest"));
  }
  std::vector<std::string> channels = ToVector(watch.channels());
  std::vector<std::string> groups = ToVector(watch.channel_groups());
  absl::Status status = presence_->NormalizeWatch(channels, groups);
  if (!status.ok()) return WatchReactor::Fail(ToGrpcStatus(status));
  // A watch opened while the store's event feed is down would look complete
  // and not be.
  if (!presence_->store()->Healthy()) {
    return WatchReactor::Fail(grpc::Status(
        grpc::StatusCode::UNAVAILABLE,
        "the presence store is unreachable; watch again when it is back"));
  }
  return WatchReactor::Start(context, fanout_, &encoder_, max_buffered_events_,
                             channels, groups);
}

grpc::ServerUnaryReactor* ChannelGroupServiceImpl::AddChannels(
    grpc::CallbackServerContext* context, const v1::AddChannelsRequest* request,
    v1::AddChannelsResponse* /*response*/) {
  return Finish(context, presence_->AddChannelsToGroup(
                             request->group(), ToVector(request->channels())));
}

grpc::ServerUnaryReactor* ChannelGroupServiceImpl::RemoveChannels(
    grpc::CallbackServerContext* context,
    const v1::RemoveChannelsRequest* request,
    v1::RemoveChannelsResponse* /*response*/) {
  return Finish(context, presence_->RemoveChannelsFromGroup(
                             request->group(), ToVector(request->channels())));
}

grpc::ServerUnaryReactor* ChannelGroupServiceImpl::ListChannels(
    grpc::CallbackServerContext* context,
    const v1::ListChannelsRequest* request,
    v1::ListChannelsResponse* response) {
  absl::StatusOr<std::vector<std::string>> channels =
      presence_->ListChannelsInGroup(request->group());
  if (channels.ok()) ToRepeated(*channels, response->mutable_channels());
  return Finish(context, channels.status());
}

grpc::ServerUnaryReactor* ChannelGroupServiceImpl::ListGroups(
    grpc::CallbackServerContext* context,
    const v1::ListGroupsRequest* /*request*/,
    v1::ListGroupsResponse* response) {
  absl::StatusOr<std::vector<std::string>> groups = presence_->ListGroups();
  if (groups.ok()) ToRepeated(*groups, response->mutable_groups());
  return Finish(context, groups.status());
}

grpc::ServerUnaryReactor* ChannelGroupServiceImpl::DeleteGroup(
    grpc::CallbackServerContext* context, const v1::DeleteGroupRequest* request,
    v1::DeleteGroupResponse* /*response*/) {
  return Finish(context, presence_->DeleteGroup(request->group()));
}

}  // namespace presence
