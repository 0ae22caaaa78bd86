// The initial-metadata key a WatchEvents stream sends once the watch is
// registered (value "1"): every event after that point is delivered. A
// stream that fails to register finishes without it. Documented in
// presence.proto (PresenceService.WatchEvents) for clients in every
// language; this is its one definition in C++, shared by the server and the
// C++ client.
#ifndef PROTO_PRESENCE_V1_WATCH_METADATA_H_
#define PROTO_PRESENCE_V1_WATCH_METADATA_H_

namespace presence::v1 {

inline constexpr char kWatchRegisteredMetadataKey[] =
    "presence-watch-registered";

}  // namespace presence::v1

#endif  // PROTO_PRESENCE_V1_WATCH_METADATA_H_
