#include "service/grpc/presence_service.h"

#include <cstdint>
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
  using Call = UnaryCall<v1::HereNowRequest, v1::HereNowResponse>;
  Call* call;
  grpc::ServerUnaryReactor* reactor =
      Call::Start(context, raw_request, raw_response, stats_,
                  RpcMethod::kHereNow, *authorizer_, &call);
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
  if (!call->Permit(auth::Authorizer::CheckHereNow(call->caller(), query))) {
    return reactor;
  }
  presence_->HereNowAsync(
      std::move(query), [call](absl::StatusOr<HereNowResult> result) {
        if (!result.ok()) return (void)call->Finish(result.status());
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
              if (!status.ok()) return (void)call->Finish(status);
            }
          }
        }
        call->Finish(absl::OkStatus());
      });
  return reactor;
}

grpc::ServerUnaryReactor* PresenceServiceImpl::WhereNow(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  using Call = UnaryCall<v1::WhereNowRequest, v1::WhereNowResponse>;
  Call* call;
  grpc::ServerUnaryReactor* reactor =
      Call::Start(context, raw_request, raw_response, stats_,
                  RpcMethod::kWhereNow, *authorizer_, &call);
  if (call == nullptr) return reactor;
  WhereNowRequest query{call->request().user_id()};
  if (!call->Permit(auth::Authorizer::CheckWhereNow(call->caller(), query))) {
    return reactor;
  }
  presence_->WhereNowAsync(
      query, [call](absl::StatusOr<WhereNowResult> result) {
        if (result.ok()) {
          ToRepeated(result->channels, call->response()->mutable_channels());
        }
        call->Finish(result.status());
      });
  return reactor;
}

grpc::ServerUnaryReactor* PresenceServiceImpl::SetState(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  using Call = UnaryCall<v1::SetStateRequest, v1::SetStateResponse>;
  Call* call;
  grpc::ServerUnaryReactor* reactor =
      Call::Start(context, raw_request, raw_response, stats_,
                  RpcMethod::kSetState, *authorizer_, &call);
  if (call == nullptr) return reactor;
  if (!call->AdmitWrite(*limits_, 1)) return reactor;
  const v1::SetStateRequest& request = call->request();
  SetStateRequest update;
  update.user_id = request.user_id();
  update.channels = ToVector(request.channels());
  update.channel_groups = ToVector(request.channel_groups());
  if (!call->Permit(auth::Authorizer::CheckSetState(call->caller(), update))) {
    return reactor;
  }
  absl::Status status = StructToJson(request.state(), "state",
                                     WalkDepth(*presence_), &update.state);
  if (!status.ok()) return call->Finish(status);
  presence_->SetStateAsync(
      std::move(update), [call](absl::StatusOr<SetStateResult> result) {
        if (!result.ok()) return (void)call->Finish(result.status());
        ToRepeated(result->channels, call->response()->mutable_channels());
        call->Finish(
            JsonToStruct(result->state, call->response()->mutable_state()));
      });
  return reactor;
}

grpc::ServerUnaryReactor* PresenceServiceImpl::GetState(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  using Call = UnaryCall<v1::GetStateRequest, v1::GetStateResponse>;
  Call* call;
  grpc::ServerUnaryReactor* reactor =
      Call::Start(context, raw_request, raw_response, stats_,
                  RpcMethod::kGetState, *authorizer_, &call);
  if (call == nullptr) return reactor;
  const v1::GetStateRequest& request = call->request();
  GetStateRequest query;
  query.user_id = request.user_id();
  query.channels = ToVector(request.channels());
  query.channel_groups = ToVector(request.channel_groups());
  if (!call->Permit(auth::Authorizer::CheckGetState(call->caller(), query))) {
    return reactor;
  }
  presence_->GetStateAsync(
      std::move(query), [call](absl::StatusOr<GetStateResult> result) {
        if (!result.ok()) return (void)call->Finish(result.status());
        for (const ChannelState& state : result->states) {
          v1::GetStateInfo* info = call->response()->add_states();
          info->set_channel_name(state.channel);
          absl::Status status =
              JsonToStruct(state.state, info->mutable_state());
          if (!status.ok()) return (void)call->Finish(status);
        }
        call->Finish(absl::OkStatus());
      });
  return reactor;
}

// Converts a HeartbeatRequest; `field` prefixes the states' field names.
absl::StatusOr<HeartbeatRequest> PresenceServiceImpl::ToHeartbeat(
    const v1::HeartbeatRequest& request, absl::string_view field) const {
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
        StructToJson(state, absl::StrCat(field, "states[\"", key, "\"]"),
                     WalkDepth(*presence_), &json);
    if (!status.ok()) return status;
    heartbeat.states.emplace_back(key, std::move(json));
  }
  return heartbeat;
}

grpc::ServerUnaryReactor* PresenceServiceImpl::Heartbeat(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  using Call = UnaryCall<v1::HeartbeatRequest, v1::HeartbeatResponse>;
  Call* call;
  grpc::ServerUnaryReactor* reactor =
      Call::Start(context, raw_request, raw_response, stats_,
                  RpcMethod::kHeartbeat, *authorizer_, &call);
  if (call == nullptr) return reactor;
  if (!call->AdmitWrite(*limits_, 1)) return reactor;
  absl::StatusOr<HeartbeatRequest> heartbeat = ToHeartbeat(call->request(), "");
  if (!heartbeat.ok()) return call->Finish(heartbeat.status());
  if (!call->Permit(
          auth::Authorizer::CheckHeartbeat(call->caller(), *heartbeat))) {
    return reactor;
  }
  presence_->HeartbeatAsync(
      *std::move(heartbeat),
      [call, limits = limits_](absl::StatusOr<HeartbeatResult> result) {
        limits->CountUserLimit(result.status(), "grpc");
        if (result.ok()) {
          call->response()->set_timeout_seconds(result->timeout_seconds);
          call->response()->set_heartbeat_interval_seconds(
              result->heartbeat_interval_seconds);
        }
        call->Finish(result.status());
      });
  return reactor;
}

LeaveRequest PresenceServiceImpl::ToLeave(const v1::LeaveRequest& request) {
  LeaveRequest leave;
  leave.user_id = request.user_id();
  leave.channels = ToVector(request.channels());
  leave.channel_groups = ToVector(request.channel_groups());
  leave.session_id = request.session_id();
  return leave;
}

grpc::ServerUnaryReactor* PresenceServiceImpl::Leave(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  using Call = UnaryCall<v1::LeaveRequest, v1::LeaveResponse>;
  Call* call;
  grpc::ServerUnaryReactor* reactor =
      Call::Start(context, raw_request, raw_response, stats_, RpcMethod::kLeave,
                  *authorizer_, &call);
  if (call == nullptr) return reactor;
  if (!call->AdmitWrite(*limits_, 1)) return reactor;
  LeaveRequest leave = ToLeave(call->request());
  if (!call->Permit(auth::Authorizer::CheckLeave(call->caller(), leave))) {
    return reactor;
  }
  presence_->LeaveAsync(
      std::move(leave), [call](absl::StatusOr<LeaveResult> result) {
        if (result.ok()) {
          ToRepeated(result->channels, call->response()->mutable_channels());
        }
        call->Finish(result.status());
      });
  return reactor;
}

grpc::ServerUnaryReactor* PresenceServiceImpl::BatchHeartbeat(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  using Call = UnaryCall<v1::BatchHeartbeatRequest, v1::BatchHeartbeatResponse>;
  Call* call;
  grpc::ServerUnaryReactor* reactor =
      Call::Start(context, raw_request, raw_response, stats_,
                  RpcMethod::kBatchHeartbeat, *authorizer_, &call);
  if (call == nullptr) return reactor;
  // Each entry is a write.
  const auto cost = static_cast<uint64_t>(call->request().entries_size());
  if (!call->AdmitWrite(*limits_, cost)) return reactor;
  const auto& entries = call->request().entries();
  BatchRequest batch;
  batch.entries.resize(entries.size());
  // Entries that cannot even be converted, or that the caller may not send,
  // are answered here; the rest go to the library, which validates each on
  // its own.
  std::vector<absl::Status> conversion(entries.size());
  for (int i = 0; i < entries.size(); ++i) {
    const v1::BatchEntry& entry = entries[i];
    BatchEntry& out = batch.entries[i];
    if (entry.has_heartbeat()) {
      // The prefix names a state's conversion error: built only when there
      // are states to convert.
      const v1::HeartbeatRequest& beat = entry.heartbeat();
      absl::StatusOr<HeartbeatRequest> heartbeat =
          ToHeartbeat(beat, beat.states().empty()
                                ? std::string()
                                : absl::StrCat("entries[", i, "].heartbeat."));
      if (heartbeat.ok()) {
        out.heartbeat = *std::move(heartbeat);
      } else {
        conversion[i] = heartbeat.status();
      }
    } else if (entry.has_leave()) {
      out.kind = BatchEntry::Kind::kLeave;
      out.leave = ToLeave(entry.leave());
    } else {
      conversion[i] = absl::InvalidArgumentError(
          absl::StrCat("entries[", i, "]: neither a heartbeat nor a leave"));
    }
  }
  // Every entry is checked on its own: one without the grant is answered
  // PERMISSION_DENIED in its own result and never reaches the library.
  for (size_t i = 0; i < conversion.size(); ++i) {
    if (!conversion[i].ok()) continue;
    conversion[i] =
        auth::Authorizer::CheckBatchEntry(call->caller(), batch.entries[i], i);
    if (!conversion[i].ok()) {
      stats_->RecordAuthFailure(RpcMethod::kBatchHeartbeat,
                                auth::AuthFailure::kDenied);
    }
  }
  // A bad or refused entry goes to the library as an empty heartbeat, which
  // it refuses; its answer is then replaced by the conversion error.
  for (size_t i = 0; i < conversion.size(); ++i) {
    if (!conversion[i].ok()) batch.entries[i] = BatchEntry();
  }
  presence_->BatchAsync(
      std::move(batch),
      [call, limits = limits_,
       conversion = std::move(conversion)](absl::StatusOr<BatchResult> result) {
        if (!result.ok()) return (void)call->Finish(result.status());
        const auto& entries = call->request().entries();
        auto* results = call->response()->mutable_results();
        results->Reserve(static_cast<int>(result->results.size()));
        for (size_t i = 0; i < result->results.size(); ++i) {
          v1::BatchEntryResult* out = results->Add();
          const absl::Status& status =
              conversion[i].ok() ? result->results[i].status : conversion[i];
          limits->CountUserLimit(status, "grpc");
          if (!status.ok()) {
            const grpc::Status wire = ToGrpcStatus(status);
            out->set_code(wire.error_code());
            out->set_message(wire.error_message());
          } else if (entries[static_cast<int>(i)].has_heartbeat()) {
            const HeartbeatResult& beat = result->results[i].heartbeat;
            out->mutable_heartbeat()->set_timeout_seconds(beat.timeout_seconds);
            out->mutable_heartbeat()->set_heartbeat_interval_seconds(
                beat.heartbeat_interval_seconds);
          } else {
            ToRepeated(result->results[i].leave.channels,
                       out->mutable_leave()->mutable_channels());
          }
        }
        call->Finish(absl::OkStatus());
      });
  return reactor;
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
  auth::AuthFailure failure = auth::AuthFailure::kMissing;
  absl::StatusOr<auth::Caller> caller =
      authorizer_->AuthenticateBearer(AuthorizationHeader(*context), &failure);
  std::vector<std::string> channels = ToVector(watch.channels());
  std::vector<std::string> groups = ToVector(watch.channel_groups());
  absl::Status allowed = caller.status();
  if (caller.ok()) {
    allowed = auth::Authorizer::CheckWatch(*caller, channels, groups);
    failure = auth::AuthFailure::kDenied;
  }
  if (!allowed.ok()) {
    stats_->RecordAuthFailure(RpcMethod::kWatchEvents, failure);
    return WatchReactor::Fail(ToGrpcStatus(allowed), stats_);
  }
  absl::Status status = presence_->NormalizeWatch(channels, groups);
  if (!status.ok()) return WatchReactor::Fail(ToGrpcStatus(status), stats_);
  // A watch opened while the store's event feed is down would look complete
  // and not be; so would one registered after an interruption that happens
  // between this check and the registration (Add refuses it).
  const uint64_t seen = fanout_->interruptions();
  if (!presence_->store()->Healthy()) {
    return WatchReactor::Fail(
        grpc::Status(
            grpc::StatusCode::UNAVAILABLE,
            "the presence store is unreachable; watch again when it is back"),
        stats_);
  }
  // Counted against the watcher limits only once it would be served; the
  // stream holds its slot until it ends.
  absl::StatusOr<WatchSlot> slot =
      limits_->AcquireWatch(ClientKeyOf(*context, *caller), "grpc");
  if (!slot.ok()) {
    return WatchReactor::Fail(ToGrpcStatus(slot.status()), stats_);
  }
  return WatchReactor::Start(context, fanout_, &encoder_, max_buffered_events_,
                             channels, groups, seen, stats_, *std::move(slot));
}

grpc::ServerUnaryReactor* ChannelGroupServiceImpl::AddChannels(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  using Call = UnaryCall<v1::AddChannelsRequest, v1::AddChannelsResponse>;
  Call* call;
  grpc::ServerUnaryReactor* reactor =
      Call::Start(context, raw_request, raw_response, stats_,
                  RpcMethod::kAddChannels, *authorizer_, &call);
  if (call == nullptr) return reactor;
  if (!call->AdmitWrite(*limits_, 1)) return reactor;
  std::vector<std::string> channels = ToVector(call->request().channels());
  if (!call->Permit(auth::Authorizer::CheckAddChannels(
          call->caller(), call->request().group(), channels))) {
    return reactor;
  }
  presence_->AddChannelsToGroupAsync(
      call->request().group(), std::move(channels),
      [call](absl::Status status) { call->Finish(status); });
  return reactor;
}

grpc::ServerUnaryReactor* ChannelGroupServiceImpl::RemoveChannels(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  using Call = UnaryCall<v1::RemoveChannelsRequest, v1::RemoveChannelsResponse>;
  Call* call;
  grpc::ServerUnaryReactor* reactor =
      Call::Start(context, raw_request, raw_response, stats_,
                  RpcMethod::kRemoveChannels, *authorizer_, &call);
  if (call == nullptr) return reactor;
  if (!call->AdmitWrite(*limits_, 1)) return reactor;
  if (!call->Permit(auth::Authorizer::CheckRemoveChannels(
          call->caller(), call->request().group()))) {
    return reactor;
  }
  presence_->RemoveChannelsFromGroupAsync(
      call->request().group(), ToVector(call->request().channels()),
      [call](absl::Status status) { call->Finish(status); });
  return reactor;
}

grpc::ServerUnaryReactor* ChannelGroupServiceImpl::ListChannels(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  using Call = UnaryCall<v1::ListChannelsRequest, v1::ListChannelsResponse>;
  Call* call;
  grpc::ServerUnaryReactor* reactor =
      Call::Start(context, raw_request, raw_response, stats_,
                  RpcMethod::kListChannels, *authorizer_, &call);
  if (call == nullptr) return reactor;
  if (!call->Permit(auth::Authorizer::CheckListChannels(
          call->caller(), call->request().group()))) {
    return reactor;
  }
  presence_->ListChannelsInGroupAsync(
      call->request().group(),
      [call](absl::StatusOr<std::vector<std::string>> channels) {
        if (channels.ok()) {
          ToRepeated(*channels, call->response()->mutable_channels());
        }
        call->Finish(channels.status());
      });
  return reactor;
}

grpc::ServerUnaryReactor* ChannelGroupServiceImpl::ListGroups(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  using Call = UnaryCall<v1::ListGroupsRequest, v1::ListGroupsResponse>;
  Call* call;
  grpc::ServerUnaryReactor* reactor =
      Call::Start(context, raw_request, raw_response, stats_,
                  RpcMethod::kListGroups, *authorizer_, &call);
  if (call == nullptr) return reactor;
  if (!call->Permit(auth::Authorizer::CheckListGroups(call->caller()))) {
    return reactor;
  }
  presence_->ListGroupsAsync(
      [call](absl::StatusOr<std::vector<std::string>> groups) {
        if (groups.ok()) {
          ToRepeated(*groups, call->response()->mutable_groups());
        }
        call->Finish(groups.status());
      });
  return reactor;
}

grpc::ServerUnaryReactor* ChannelGroupServiceImpl::DeleteGroup(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  using Call = UnaryCall<v1::DeleteGroupRequest, v1::DeleteGroupResponse>;
  Call* call;
  grpc::ServerUnaryReactor* reactor =
      Call::Start(context, raw_request, raw_response, stats_,
                  RpcMethod::kDeleteGroup, *authorizer_, &call);
  if (call == nullptr) return reactor;
  if (!call->AdmitWrite(*limits_, 1)) return reactor;
  if (!call->Permit(auth::Authorizer::CheckDeleteGroup(
          call->caller(), call->request().group()))) {
    return reactor;
  }
  presence_->DeleteGroupAsync(
      call->request().group(),
      [call](absl::Status status) { call->Finish(status); });
  return reactor;
}

}  // namespace presence
