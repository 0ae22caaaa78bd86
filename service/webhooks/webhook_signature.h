// Webhook signatures: how a receiver knows a webhook request came from this
// service and was not replayed long after it was sent.
//
//   std::string header = presence::SignWebhook(secret, 1700000000, body);
//   // header == "t=1700000000,v1=5f0c...": send it as X-Presence-Signature.
//
// A receiver recomputes lowercase_hex(HMAC-SHA256(secret, "<t>.<body>")) over
// the raw request body, compares it with v1 in constant time, and rejects a
// request whose t is too far from its own clock (e.g. more than 5 minutes).
//
// Thread-safe: these are pure functions.
#ifndef SERVICE_WEBHOOKS_WEBHOOK_SIGNATURE_H_
#define SERVICE_WEBHOOKS_WEBHOOK_SIGNATURE_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace presence {

// The HTTP header that carries the signature.
inline constexpr absl::string_view kWebhookSignatureHeader =
    "X-Presence-Signature";

// Returns the lowercase hex HMAC-SHA256 of `message` under `key`.
std::string HmacSha256Hex(absl::string_view key, absl::string_view message);

// Returns the X-Presence-Signature value for `body` sent at `unix_seconds`:
// "t=<unix_seconds>,v1=<HmacSha256Hex(secret, "<unix_seconds>.<body>")>".
std::string SignWebhook(absl::string_view secret, int64_t unix_seconds,
                        absl::string_view body);

}  // namespace presence

#endif  // SERVICE_WEBHOOKS_WEBHOOK_SIGNATURE_H_
