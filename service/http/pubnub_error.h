// The one place where errors become PubNub error answers: an HTTP status
// and the body PubNub's SDKs recognise,
//
//   {"status":400,"error":true,"message":"uuid: must not be
//   empty","service":"Presence"}
//
// with the body's status equal to the HTTP status (the JS SDK takes its
// error category from it: 400 PNBadRequestCategory, 403
// PNAccessDeniedCategory, >= 500 PNServerErrorCategory).
//
//   PubNubError error = ToPubNubError(presence.Leave(request).status(),
//                                     kPresenceService);
//   Respond(error.http_status, error.body);
//
// Library messages name the facade's fields (user_id, channel_groups,
// timeout_seconds, states); the answer names the PubNub query parameter
// instead (uuid, channel-group, heartbeat, state).
#ifndef SERVICE_HTTP_PUBNUB_ERROR_H_
#define SERVICE_HTTP_PUBNUB_ERROR_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace presence {

// The `service` of presence, subscribe and time answers, and of channel
// registration answers.
inline constexpr absl::string_view kPresenceService = "Presence";
inline constexpr absl::string_view kChannelRegistryService = "channel-registry";
// The `service` of 403 answers (tokens and grants).
inline constexpr absl::string_view kAccessManagerService = "Access Manager";

// PubNub's answer to a feature the key set does not have (publish, history,
// ...), as the real service words it.
inline constexpr absl::string_view kFeatureNotEnabledMessage =
    "This feature is not turned on for this account. Contact "
    "support@pubnub.com to activate this feature.";

// PubNub's answer to a subscribe key it does not know.
inline constexpr absl::string_view kInvalidSubscribeKeyMessage =
    "Invalid Subscribe Key";

struct PubNubError {
  int http_status = 500;
  std::string body;
};

// Maps a non-OK status: INVALID_ARGUMENT, FAILED_PRECONDITION and
// OUT_OF_RANGE are 400; NOT_FOUND 404; PERMISSION_DENIED and
// UNAUTHENTICATED 403; ALREADY_EXISTS and ABORTED 409; RESOURCE_EXHAUSTED
// 429; UNIMPLEMENTED 402 (PubNub's "not enabled for this key set");
// UNAVAILABLE 503; DEADLINE_EXCEEDED 504; anything else 500.
//
// A 403 has the body of PubNub's Access Manager, with the channel or group
// a denial names (service/auth's DeniedResourceOf) in its payload:
//
//   {"status":403,"error":true,"service":"Access Manager",
//    "message":"Forbidden: the token has no \"read\" permission on channel
//    \"lobby\"","payload":{"channels":["lobby"]}}
PubNubError ToPubNubError(const absl::Status& status,
                          absl::string_view service);

// An error answer with an explicit HTTP status (protocol-level errors such
// as 405 or 414 that no library status describes).
PubNubError MakePubNubError(int http_status, absl::string_view message,
                            absl::string_view service);

// Returns `message` with the library's field names at its start (the part
// before the first ": ") replaced by PubNub's parameter names.
std::string RenameFieldsForPubNub(absl::string_view message);

}  // namespace presence

#endif  // SERVICE_HTTP_PUBNUB_ERROR_H_
