// PubNubEventEncoder: the HTTP (PubNub) transport's EventEncoder. It turns a
// presence event into the `d` payload of PubNub's presence envelope once,
// however many subscribe long-polls receive it; each answer then only
// splices in its cursor, subscribe key and subscription name
// (SubscribeBody).
//
//   PubNubEventEncoder encoder;
//   fanout.Add(&sink, &encoder, {}, {});
//   // sink.Deliver(e): static_cast<const PubNubEncodedEvent&>(*e).payload()
//
// Active and inactive events have no PubNub presence action: they encode to
// an event that is not delivered (deliverable() is false).
#ifndef SERVICE_HTTP_PUBNUB_EVENT_ENCODER_H_
#define SERVICE_HTTP_PUBNUB_EVENT_ENCODER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "presence/event.h"
#include "service/fanout/event_fanout.h"

namespace presence {

class PubNubEncodedEvent : public EncodedEvent {
 public:
  PubNubEncodedEvent(std::string channel, std::string payload)
      : channel_(std::move(channel)), payload_(std::move(payload)) {}

  // The event's channel (without "-pnpres").
  const std::string& channel() const { return channel_; }
  // The envelope's `d` (PresenceEventPayload).
  const std::string& payload() const { return payload_; }
  bool deliverable() const { return !payload_.empty(); }

  // The event's timetoken, 0 until SubscribeHub first sees the event (the
  // fan-out may hand the same event to several of the transport's sinks;
  // the first one to reach the hub numbers it). Written and read with the
  // hub's lock held; atomic because the object is shared as const.
  uint64_t timetoken() const {
    return timetoken_.load(std::memory_order_relaxed);
  }
  void set_timetoken(uint64_t timetoken) const {
    timetoken_.store(timetoken, std::memory_order_relaxed);
  }

 private:
  const std::string channel_;
  const std::string payload_;
  mutable std::atomic<uint64_t> timetoken_{0};
};

class PubNubEventEncoder : public EventEncoder {
 public:
  absl::string_view transport() const override { return "http"; }

  std::shared_ptr<const EncodedEvent> Encode(
      const PresenceEvent& event) const override;
};

}  // namespace presence

#endif  // SERVICE_HTTP_PUBNUB_EVENT_ENCODER_H_
