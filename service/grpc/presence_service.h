// The gRPC adapters: presence.v1.PresenceService and ChannelGroupService
// over the presence library. They convert protos to library requests, call
// Presence, and convert back; every error goes through ToGrpcStatus.
//
// Thread-safe; the handlers never block beyond the library call.
#ifndef SERVICE_GRPC_PRESENCE_SERVICE_H_
#define SERVICE_GRPC_PRESENCE_SERVICE_H_

#include <cstddef>

#include "grpcpp/support/byte_buffer.h"
#include "presence/presence.h"
#include "presence/v1/channel_group.grpc.pb.h"
#include "presence/v1/presence.grpc.pb.h"
#include "service/fanout/event_fanout.h"
#include "service/grpc/watch_event_encoder.h"

namespace presence {

// WatchEvents is a raw method: the fan-out encodes each event once (with
// this service's WatchEventEncoder) and every stream writes the same bytes.
class PresenceServiceImpl final
    : public v1::PresenceService::WithRawCallbackMethod_WatchEvents<
          v1::PresenceService::CallbackService> {
 public:
  // `presence` and `fanout` must outlive this object. A watcher may have up
  // to `max_buffered_events` events waiting to be sent.
  PresenceServiceImpl(Presence* presence, EventFanout* fanout,
                      size_t max_buffered_events)
      : presence_(presence),
        fanout_(fanout),
        max_buffered_events_(max_buffered_events) {}

  // The encoder of this service's watch streams (to close only them).
  const WatchEventEncoder* encoder() const { return &encoder_; }

  grpc::ServerUnaryReactor* HereNow(grpc::CallbackServerContext* context,
                                    const v1::HereNowRequest* request,
                                    v1::HereNowResponse* response) override;
  grpc::ServerUnaryReactor* WhereNow(grpc::CallbackServerContext* context,
                                     const v1::WhereNowRequest* request,
                                     v1::WhereNowResponse* response) override;
  grpc::ServerUnaryReactor* SetState(grpc::CallbackServerContext* context,
                                     const v1::SetStateRequest* request,
                                     v1::SetStateResponse* response) override;
  grpc::ServerUnaryReactor* GetState(grpc::CallbackServerContext* context,
                                     const v1::GetStateRequest* request,
                                     v1::GetStateResponse* response) override;
  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* context,
                                      const v1::HeartbeatRequest* request,
                                      v1::HeartbeatResponse* response) override;
  grpc::ServerUnaryReactor* Leave(grpc::CallbackServerContext* context,
                                  const v1::LeaveRequest* request,
                                  v1::LeaveResponse* response) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchEvents(
      grpc::CallbackServerContext* context,
      const grpc::ByteBuffer* request) override;

 private:
  Presence* const presence_;
  EventFanout* const fanout_;
  const size_t max_buffered_events_;
  const WatchEventEncoder encoder_;
};

class ChannelGroupServiceImpl final
    : public v1::ChannelGroupService::CallbackService {
 public:
  // `presence` must outlive this object.
  explicit ChannelGroupServiceImpl(Presence* presence) : presence_(presence) {}

  grpc::ServerUnaryReactor* AddChannels(
      grpc::CallbackServerContext* context,
      const v1::AddChannelsRequest* request,
      v1::AddChannelsResponse* response) override;
  grpc::ServerUnaryReactor* RemoveChannels(
      grpc::CallbackServerContext* context,
      const v1::RemoveChannelsRequest* request,
      v1::RemoveChannelsResponse* response) override;
  grpc::ServerUnaryReactor* ListChannels(
      grpc::CallbackServerContext* context,
      const v1::ListChannelsRequest* request,
      v1::ListChannelsResponse* response) override;
  grpc::ServerUnaryReactor* ListGroups(
      grpc::CallbackServerContext* context,
      const v1::ListGroupsRequest* request,
      v1::ListGroupsResponse* response) override;
  grpc::ServerUnaryReactor* DeleteGroup(
      grpc::CallbackServerContext* context,
      const v1::DeleteGroupRequest* request,
      v1::DeleteGroupResponse* response) override;

 private:
  Presence* const presence_;
};

}  // namespace presence

#endif  // SERVICE_GRPC_PRESENCE_SERVICE_H_
