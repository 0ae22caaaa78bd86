// The JSON that webhook receivers parse: one object per presence event, and
// the request body that carries a batch of them. Kept apart from delivery so
// that the wire format is defined, documented and tested in one place.
//
//   std::string json = presence::EncodeEventJson(event);
//   // {"channel":"lobby","action":"join","user_id":"alice",...}
//   std::string body;
//   presence::EncodeWebhookBody(
//       {std::make_shared<const std::string>(json)}, &body);
//   // body == R"({"events":[{"channel":"lobby",...}]})"
//
// Thread-safe: pure functions.
#ifndef SERVICE_WEBHOOKS_WEBHOOK_EVENT_JSON_H_
#define SERVICE_WEBHOOKS_WEBHOOK_EVENT_JSON_H_

#include <memory>
#include <string>

#include "absl/types/span.h"
#include "presence/event.h"

namespace presence {

// Returns the JSON object that represents `event` in a webhook, on one line:
//
//   {"channel":"lobby","action":"join","user_id":"alice","occupancy":3,
//    "timestamp":"2026-11-27T17:01:21.123Z","timestamp_ms":1795798881123,
//    "sequence":"4294967297","state":{"mood":"happy"}}
//
// "action" is EventTypeName(event.type); "user_id" and "state" are present
// only when not empty ("state" is event.state embedded as is, so it must be
// JSON text); "sequence" is a string because it exceeds 2^53. Interval
// events have no "user_id" but "join", "leave" and "timeout" arrays (each
// only when not empty) and "here_now_refresh":true when the lists were too
// large to send.
std::string EncodeEventJson(const PresenceEvent& event);

// Replaces `*body` with the body of a webhook request carrying `events`
// (each an EncodeEventJson() result), in order:
//
//   {"events":[<event>,<event>,...]}
//
// It reuses the capacity `*body` already has, so a long-lived buffer
// allocates only when a batch outgrows it.
void EncodeWebhookBody(
    absl::Span<const std::shared_ptr<const std::string>> events,
    std::string* body);

}  // namespace presence

#endif  // SERVICE_WEBHOOKS_WEBHOOK_EVENT_JSON_H_
