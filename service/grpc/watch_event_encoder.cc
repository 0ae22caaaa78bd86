#include "service/grpc/watch_event_encoder.h"

#include <string>

#include "google/protobuf/util/time_util.h"
#include "service/grpc/struct_json.h"

namespace presence {
namespace {

struct GrpcEncodedEvent : EncodedEvent {
  grpc::ByteBuffer bytes;
};

v1::WatchEventsResponse::Action ToAction(EventType type) {
  switch (type) {
    case EventType::kJoin:
      return v1::WatchEventsResponse::ACTION_JOIN;
    case EventType::kLeave:
      return v1::WatchEventsResponse::ACTION_LEAVE;
    case EventType::kTimeout:
      return v1::WatchEventsResponse::ACTION_TIMEOUT;
    case EventType::kStateChange:
      return v1::WatchEventsResponse::ACTION_STATE_CHANGE;
    case EventType::kInterval:
      return v1::WatchEventsResponse::ACTION_INTERVAL;
    case EventType::kActive:
      return v1::WatchEventsResponse::ACTION_ACTIVE;
    case EventType::kInactive:
      return v1::WatchEventsResponse::ACTION_INACTIVE;
  }
  return v1::WatchEventsResponse::ACTION_UNSPECIFIED;
}

}  // namespace

v1::WatchEventsResponse WatchEventEncoder::ToProto(const PresenceEvent& event) {
  v1::WatchEventsResponse out;
  out.set_channel(event.channel);
  out.set_action(ToAction(event.type));
  out.set_user_id(event.user_id);
  out.set_occupancy(event.occupancy);
  *out.mutable_time() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
          absl::ToUnixNanos(event.time));
  if (!event.state.empty()) {
    // Stored states are valid JSON objects; a failure leaves no state.
    JsonToStruct(event.state, out.mutable_state()).IgnoreError();
  }
  for (const std::string& user : event.joined) out.add_join(user);
  for (const std::string& user : event.left) out.add_leave(user);
  for (const std::string& user : event.timed_out) out.add_timeout(user);
  out.set_here_now_refresh(event.here_now_refresh);
  out.set_sequence(event.sequence);
  return out;
}

std::shared_ptr<const EncodedEvent> WatchEventEncoder::Encode(
    const PresenceEvent& event) const {
  auto encoded = std::make_shared<GrpcEncodedEvent>();
  grpc::Slice slice(ToProto(event).SerializeAsString());
  encoded->bytes = grpc::ByteBuffer(&slice, 1);
  return encoded;
}

const grpc::ByteBuffer& WatchEventEncoder::Bytes(const EncodedEvent& event) {
  return static_cast<const GrpcEncodedEvent&>(event).bytes;
}

}  // namespace presence
