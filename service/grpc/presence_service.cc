#include "service/grpc/presence_service.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "service/grpc/grpc_status.h"
#include "service/grpc/struct_json.h"
#include "service/grpc/unary_call.h"
#include "service/grpc/watch_reactor.h"

namespace presence {
namespace {

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
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  UnaryCall<v1::HereNowRequest, v1::HereNowResponse>* call;
  grpc::ServerUnaryReactor* reactor =
      UnaryCall<v1::HereNowRequest, v1::HereNowResponse>::Start(
          context, raw_request, raw_response, stats_, RpcMethod::kHereNow,
          &call);
  if (call == nullptr) return reactor;
  const v1::HereNowRequest& request = call->request();
  HereNowRequest query;
  query.channels = ToVector(request.channels());
  query.channel_groups = ToVector(request.channel_groups());
  query.include_user_ids =
      !request.has_include_user_ids() || request.include_user_ids();
  query.include_state = request.include_state();
  query.limit = request.limit();
  query.offset = request.offset();
  absl::StatusOr<HereNowResult> result = presence_->HereNow(std::move(query));
  if (!result.ok()) return call->Finish(result.status());
  v1::HereNowResponse* response = call->response();
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
        if (!status.ok()) return call->Finish(status);
      }
    }
  }
  return call->Finish(absl::OkStatus());
}

grpc::ServerUnaryReactor* PresenceServiceImpl::WhereNow(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  UnaryCall<v1::WhereNowRequest, v1::WhereNowResponse>* call;
  grpc::ServerUnaryReactor* reactor =
      UnaryCall<v1::WhereNowRequest, v1::WhereNowResponse>::Start(
          context, raw_request, raw_response, stats_, RpcMethod::kWhereNow,
          &call);
  if (call == nullptr) return reactor;
  absl::StatusOr<WhereNowResult> result =
      presence_->WhereNow({call->request().user_id()});
  if (result.ok()) {
    ToRepeated(result->channels, call->response()->mutable_channels());
  }
  return call->Finish(result.status());
}

grpc::ServerUnaryReactor* PresenceServiceImpl::SetState(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  UnaryCall<v1::SetStateRequest, v1::SetStateResponse>* call;
  grpc::ServerUnaryReactor* reactor =
      UnaryCall<v1::SetStateRequest, v1::SetStateResponse>::Start(
          context, raw_request, raw_response, stats_, RpcMethod::kSetState,
          &call);
  if (call == nullptr) return reactor;
  const v1::SetStateRequest& request = call->request();
  SetStateRequest update;
  update.user_id = request.user_id();
  update.channels = ToVector(request.channels());
  update.channel_groups = ToVector(request.channel_groups());
  absl::Status status = StructToJson(request.state(), "state",
                                     WalkDepth(*presence_), &update.state);
  if (!status.ok()) return call->Finish(status);
  absl::StatusOr<SetStateResult> result =
      presence_->SetState(std::move(update));
  if (!result.ok()) return call->Finish(result.status());
  ToRepeated(result->channels, call->response()->mutable_channels());
  return call->Finish(
      JsonToStruct(result->state, call->response()->mutable_state()));
}

grpc::ServerUnaryReactor* PresenceServiceImpl::GetState(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  UnaryCall<v1::GetStateRequest, v1::GetStateResponse>* call;
  grpc::ServerUnaryReactor* reactor =
      UnaryCall<v1::GetStateRequest, v1::GetStateResponse>::Start(
          context, raw_request, raw_response, stats_, RpcMethod::kGetState,
          &call);
  if (call == nullptr) return reactor;
  const v1::GetStateRequest& request = call->request();
  GetStateRequest query;
  query.user_id = request.user_id();
  query.channels = ToVector(request.channels());
  query.channel_groups = ToVector(request.channel_groups());
  absl::StatusOr<GetStateResult> result = presence_->GetState(std::move(query));
  if (!result.ok()) return call->Finish(result.status());
  for (const ChannelState& state : result->states) {
    v1::GetStateInfo* info = call->response()->add_states();
    info->set_channel_name(state.channel);
    absl::Status status = JsonToStruct(state.state, info->mutable_state());
    if (!status.ok()) return call->Finish(status);
  }
  return call->Finish(absl::OkStatus());
}

grpc::ServerUnaryReactor* PresenceServiceImpl::Heartbeat(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  UnaryCall<v1::HeartbeatRequest, v1::HeartbeatResponse>* call;
  grpc::ServerUnaryReactor* reactor =
      UnaryCall<v1::HeartbeatRequest, v1::HeartbeatResponse>::Start(
          context, raw_request, raw_response, stats_, RpcMethod::kHeartbeat,
          &call);
  if (call == nullptr) return reactor;
  const v1::HeartbeatRequest& request = call->request();
  HeartbeatRequest heartbeat;
  heartbeat.user_id = request.user_id();
  heartbeat.channels = ToVector(request.channels());
  heartbeat.channel_groups = ToVector(request.channel_groups());
  heartbeat.timeout_seconds = request.timeout_seconds();
  heartbeat.session_id = request.session_id();
  heartbeat.states.reserve(request.states().size());
  for (const auto& [key, state] : request.states()) {
    std::string json;
    absl::Status status =
        StructToJson(state, absl::StrCat("states[\"", key, "\"]"),
                     WalkDepth(*presence_), &json);
    if (!status.ok()) return call->Finish(status);
    heartbeat.states.emplace_back(key, std::move(json));
  }
  absl::StatusOr<HeartbeatResult> result =
      presence_->Heartbeat(std::move(heartbeat));
  if (result.ok()) {
    call->response()->set_timeout_seconds(result->timeout_seconds);
    call->response()->set_heartbeat_interval_seconds(
        result->heartbeat_interval_seconds);
  }
  return call->Finish(result.status());
}

grpc::ServerUnaryReactor* PresenceServiceImpl::Leave(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  UnaryCall<v1::LeaveRequest, v1::LeaveResponse>* call;
  grpc::ServerUnaryReactor* reactor =
      UnaryCall<v1::LeaveRequest, v1::LeaveResponse>::Start(
          context, raw_request, raw_response, stats_, RpcMethod::kLeave, &call);
  if (call == nullptr) return reactor;
  const v1::LeaveRequest& request = call->request();
  LeaveRequest leave;
  leave.user_id = request.user_id();
  leave.channels = ToVector(request.channels());
  leave.channel_groups = ToVector(request.channel_groups());
  leave.session_id = request.session_id();
  absl::StatusOr<LeaveResult> result = presence_->Leave(std::move(leave));
  if (result.ok()) {
    ToRepeated(result->channels, call->response()->mutable_channels());
  }
  return call->Finish(result.status());
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* PresenceServiceImpl::WatchEvents(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  v1::WatchEventsRequest watch;
  grpc::ByteBuffer bytes(*request);  // Shares the slices.
  grpc::ProtoBufferReader reader(&bytes);
  if (!watch.ParseFromZeroCopyStream(&reader)) {
    stats_->RecordUnparsable(RpcMethod::kWatchEvents);
    return WatchReactor::Fail(
        grpc::Status(
            grpc::StatusCode::INVALID_ARGUMENT,
            "request: not a valid presence.v1.WatchEventsRequest (malformed "
            "protobuf, or a string field that is not valid UTF-8)"),
        stats_);
  }
  std::vector<std::string> channels = ToVector(watch.channels());
  std::vector<std::string> groups = ToVector(watch.channel_groups());
  absl::Status status = presence_->NormalizeWatch(channels, groups);
  if (!status.ok()) return WatchReactor::Fail(ToGrpcStatus(status), stats_);
  // A watch opened while the store's event feed is down would look complete
  // and not be.
  if (!presence_->store()->Healthy()) {
    return WatchReactor::Fail(
        grpc::Status(
            grpc::StatusCode::UNAVAILABLE,
            "the presence store is unreachable; watch again when it is back"),
        stats_);
  }
  return WatchReactor::Start(context, fanout_, &encoder_, max_buffered_events_,
                             channels, groups, stats_);
}

grpc::ServerUnaryReactor* ChannelGroupServiceImpl::AddChannels(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  UnaryCall<v1::AddChannelsRequest, v1::AddChannelsResponse>* call;
  grpc::ServerUnaryReactor* reactor =
      UnaryCall<v1::AddChannelsRequest, v1::AddChannelsResponse>::Start(
          context, raw_request, raw_response, stats_, RpcMethod::kAddChannels,
          &call);
  if (call == nullptr) return reactor;
  return call->Finish(presence_->AddChannelsToGroup(
      call->request().group(), ToVector(call->request().channels())));
}

grpc::ServerUnaryReactor* ChannelGroupServiceImpl::RemoveChannels(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  UnaryCall<v1::RemoveChannelsRequest, v1::RemoveChannelsResponse>* call;
  grpc::ServerUnaryReactor* reactor =
      UnaryCall<v1::RemoveChannelsRequest, v1::RemoveChannelsResponse>::Start(
          context, raw_request, raw_response, stats_,
          RpcMethod::kRemoveChannels, &call);
  if (call == nullptr) return reactor;
  return call->Finish(presence_->RemoveChannelsFromGroup(
      call->request().group(), ToVector(call->request().channels())));
}

grpc::ServerUnaryReactor* ChannelGroupServiceImpl::ListChannels(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  UnaryCall<v1::ListChannelsRequest, v1::ListChannelsResponse>* call;
  grpc::ServerUnaryReactor* reactor =
      UnaryCall<v1::ListChannelsRequest, v1::ListChannelsResponse>::Start(
          context, raw_request, raw_response, stats_, RpcMethod::kListChannels,
          &call);
  if (call == nullptr) return reactor;
  absl::StatusOr<std::vector<std::string>> channels =
      presence_->ListChannelsInGroup(call->request().group());
  if (channels.ok()) {
    ToRepeated(*channels, call->response()->mutable_channels());
  }
  return call->Finish(channels.status());
}

grpc::ServerUnaryReactor* ChannelGroupServiceImpl::ListGroups(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  UnaryCall<v1::ListGroupsRequest, v1::ListGroupsResponse>* call;
  grpc::ServerUnaryReactor* reactor =
      UnaryCall<v1::ListGroupsRequest, v1::ListGroupsResponse>::Start(
          context, raw_request, raw_response, stats_, RpcMethod::kListGroups,
          &call);
  if (call == nullptr) return reactor;
  absl::StatusOr<std::vector<std::string>> groups = presence_->ListGroups();
  if (groups.ok()) ToRepeated(*groups, call->response()->mutable_groups());
  return call->Finish(groups.status());
}

grpc::ServerUnaryReactor* ChannelGroupServiceImpl::DeleteGroup(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  UnaryCall<v1::DeleteGroupRequest, v1::DeleteGroupResponse>* call;
  grpc::ServerUnaryReactor* reactor =
      UnaryCall<v1::DeleteGroupRequest, v1::DeleteGroupResponse>::Start(
          context, raw_request, raw_response, stats_, RpcMethod::kDeleteGroup,
          &call);
  if (call == nullptr) return reactor;
  return call->Finish(presence_->DeleteGroup(call->request().group()));
}

}  // namespace presence
