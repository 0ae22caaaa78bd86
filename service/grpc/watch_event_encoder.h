// WatchEventEncoder: the gRPC transport's EventEncoder. It turns a presence
// event into a serialized presence.v1.WatchEventsResponse in a
// grpc::ByteBuffer, which every WatchEvents stream of the event writes as
// is (the method is raw, so nothing is serialized per stream).
//
//   WatchEventEncoder encoder;
//   fanout.Add(&reactor, &encoder, channels, groups);
//   // reactor.Deliver(event): WatchEventEncoder::Bytes(*event) is the frame.
#ifndef SERVICE_GRPC_WATCH_EVENT_ENCODER_H_
#define SERVICE_GRPC_WATCH_EVENT_ENCODER_H_

#include <memory>

#include "grpcpp/support/byte_buffer.h"
#include "presence/event.h"
#include "presence/v1/presence.pb.h"
#include "service/fanout/event_fanout.h"

namespace presence {

class WatchEventEncoder : public EventEncoder {
 public:
  absl::string_view transport() const override { return "grpc"; }

  std::shared_ptr<const EncodedEvent> Encode(
      const PresenceEvent& event) const override;

  // Returns the serialized message of an event this encoder encoded.
  static const grpc::ByteBuffer& Bytes(const EncodedEvent& event);

  // Returns `event` as a WatchEventsResponse.
  static v1::WatchEventsResponse ToProto(const PresenceEvent& event);
};

}  // namespace presence

#endif  // SERVICE_GRPC_WATCH_EVENT_ENCODER_H_
