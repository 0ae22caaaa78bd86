#include "service/http/pubnub_event_encoder.h"

#include "service/http/pubnub_responses.h"

namespace presence {

std::shared_ptr<const EncodedEvent> PubNubEventEncoder::Encode(
    const PresenceEvent& event) const {
  return std::make_shared<const PubNubEncodedEvent>(
      event.channel, PresenceEventPayload(event));
}

}  // namespace presence
