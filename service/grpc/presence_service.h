// The gRPC adapters: presence.v1.PresenceService and ChannelGroupService
// over the presence library. They convert protos to library requests, call
// Presence, and convert back; every error goes through ToGrpcStatus.
//
// Every method is registered raw: unary requests are parsed by UnaryCall
// (so malformed bytes get INVALID_ARGUMENT naming the message type), and
// WatchEvents streams write events the fan-out encoded once for all of them.
//
// Every call is authenticated and its grants checked by the Authorizer
// before Presence sees it (service/auth/authorizer.h has the rules); a
// refused call changes nothing. Writes (Heartbeat, Leave, SetState,
// BatchHeartbeat's entries, group changes) are charged to their client's
// write rate and a WatchEvents stream takes a watcher slot (ClientLimits,
// service/limits) once authenticated: RESOURCE_EXHAUSTED beyond.
//
// Handlers call the library's asynchronous forms and finish the RPC in the
// callback, so a gRPC thread never waits on a store's backend (the memory
// store answers before the call returns; Redis later, from its own thread).
//
// Thread-safe.
#ifndef SERVICE_GRPC_PRESENCE_SERVICE_H_
#define SERVICE_GRPC_PRESENCE_SERVICE_H_

#include <cstddef>

#include "grpcpp/support/byte_buffer.h"
#include "presence/presence.h"
#include "presence/v1/channel_group.grpc.pb.h"
#include "presence/v1/presence.grpc.pb.h"
#include "service/auth/authorizer.h"
#include "service/fanout/event_fanout.h"
#include "service/grpc/rpc_stats.h"
#include "service/grpc/watch_event_encoder.h"
#include "service/limits/client_limits.h"

namespace presence {

namespace internal_service {
using PresenceServiceBase = v1::PresenceService::WithRawCallbackMethod_HereNow<
    v1::PresenceService::WithRawCallbackMethod_WhereNow<
        v1::PresenceService::WithRawCallbackMethod_SetState<
            v1::PresenceService::WithRawCallbackMethod_GetState<
                v1::PresenceService::WithRawCallbackMethod_Heartbeat<
                    v1::PresenceService::WithRawCallbackMethod_Leave<
                        v1::PresenceService::
                            WithRawCallbackMethod_BatchHeartbeat<
                                v1::PresenceService::
                                    WithRawCallbackMethod_WatchEvents<
                                        v1::PresenceService::Service>>>>>>>>;

using ChannelGroupServiceBase =
    v1::ChannelGroupService::WithRawCallbackMethod_AddChannels<
        v1::ChannelGroupService::WithRawCallbackMethod_RemoveChannels<
            v1::ChannelGroupService::WithRawCallbackMethod_ListChannels<
                v1::ChannelGroupService::WithRawCallbackMethod_ListGroups<
                    v1::ChannelGroupService::WithRawCallbackMethod_DeleteGroup<
                        v1::ChannelGroupService::Service>>>>>;
}  // namespace internal_service

class PresenceServiceImpl final : public internal_service::PresenceServiceBase {
 public:
  // `presence`, `fanout`, `authorizer`, `limits` and `stats` must outlive
  // this object. A watcher may have up to `max_buffered_events` events
  // waiting to be sent.
  PresenceServiceImpl(Presence* presence, EventFanout* fanout,
                      size_t max_buffered_events,
                      const auth::Authorizer* authorizer, ClientLimits* limits,
                      RpcStats* stats)
      : presence_(presence),
        fanout_(fanout),
        max_buffered_events_(max_buffered_events),
        authorizer_(authorizer),
        limits_(limits),
        stats_(stats) {}

  // The encoder of this service's watch streams (to close only them).
  const WatchEventEncoder* encoder() const { return &encoder_; }

  grpc::ServerUnaryReactor* HereNow(grpc::CallbackServerContext* context,
                                    const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* WhereNow(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* SetState(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetState(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* context,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Leave(grpc::CallbackServerContext* context,
                                  const grpc::ByteBuffer* request,
                                  grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* BatchHeartbeat(grpc::CallbackServerContext* context,
                                           const grpc::ByteBuffer* request,
                                           grpc::ByteBuffer* response) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchEvents(
      grpc::CallbackServerContext* context,
      const grpc::ByteBuffer* request) override;

 private:
  // Library requests from the protos; `field` prefixes field names in
  // errors (a batch entry's).
  absl::StatusOr<HeartbeatRequest> ToHeartbeat(
      const v1::HeartbeatRequest& request, absl::string_view field) const;
  static LeaveRequest ToLeave(const v1::LeaveRequest& request);

  Presence* const presence_;
  EventFanout* const fanout_;
  const size_t max_buffered_events_;
  const auth::Authorizer* const authorizer_;
  ClientLimits* const limits_;
  RpcStats* const stats_;
  const WatchEventEncoder encoder_;
};

class ChannelGroupServiceImpl final
    : public internal_service::ChannelGroupServiceBase {
 public:
  // `presence`, `authorizer`, `limits` and `stats` must outlive this
  // object.
  ChannelGroupServiceImpl(Presence* presence,
                          const auth::Authorizer* authorizer,
                          ClientLimits* limits, RpcStats* stats)
      : presence_(presence),
        authorizer_(authorizer),
        limits_(limits),
        stats_(stats) {}

  grpc::ServerUnaryReactor* AddChannels(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* RemoveChannels(grpc::CallbackServerContext* context,
                                           const grpc::ByteBuffer* request,
                                           grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListChannels(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListGroups(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* DeleteGroup(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;

 private:
  Presence* const presence_;
  const auth::Authorizer* const authorizer_;
  ClientLimits* const limits_;
  RpcStats* const stats_;
};

}  // namespace presence

#endif  // SERVICE_GRPC_PRESENCE_SERVICE_H_
