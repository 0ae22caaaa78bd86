// Access tokens: their claims (expiry, bound user, grants) and the text form,
// without the signature check (see token_secrets.h for signing and
// verifying).
//
// A token is three dot-separated parts:
//
//   pv1.<claims>.<mac>
//
// where <claims> is the base64url (unpadded) encoding of a compact JSON
// object and <mac> the base64url HMAC-SHA256 of the text "pv1.<claims>".
// The JSON keys:
//
//   "exp"   required  expiry, Unix seconds; the token is refused from then on
//   "iat"   optional  when it was minted, Unix seconds (informational)
//   "uid"   optional  the bound user: the token acts only as this user
//   "ch"    optional  {"<channel>": "<permissions>"}: exact channel names
//   "chp"   optional  {"<prefix>": "<permissions>"}: channel-name prefixes
//   "grp"   optional  {"<group>": "<permissions>"}: channel groups
//   "padm"  optional  true: presence_admin (read everything, WhereNow of
//                     anyone, the global HereNow and the firehose watch)
//   "adm"   optional  true: admin (every RPC, including GrantToken)
//
// <permissions> is a non-empty string of the letters r (read), w (write)
// and m (manage), each at most once, e.g. "rw". Unknown keys are refused, so
// an older server never ignores a restriction a newer minter added.
//
//   absl::StatusOr<Claims> claims = ParseToken(token);  // No MAC check.
//
// ParseToken depends on nothing but Abseil and RapidJSON, so that it can be
// fuzzed on its own. Thread-safe (pure functions).
#ifndef SERVICE_AUTH_TOKEN_H_
#define SERVICE_AUTH_TOKEN_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace presence::auth {

// A set of permissions, as a bit mask of Permission values.
using Permissions = uint8_t;

enum Permission : Permissions {
  kRead = 1,    // HereNow, GetState, WatchEvents; ListChannels of a group.
  kWrite = 2,   // Heartbeat, Leave, SetState, BatchHeartbeat entries.
  kManage = 4,  // Channel groups: add, remove, delete; adding a channel.
};

// Returns "read", "write" or "manage".
absl::string_view PermissionName(Permission permission);

// Returns the letters of `permissions` in the order r, w, m ("rw").
std::string PermissionLetters(Permissions permissions);

// Returns the permissions of `letters`, or INVALID_ARGUMENT when `letters`
// is empty, repeats a letter or has one that is not r, w or m.
absl::StatusOr<Permissions> ParsePermissionLetters(absl::string_view letters);

struct Claims {
  // The token is refused at and after this time.
  absl::Time expires = absl::InfinitePast();
  // When it was minted; absl::InfinitePast() when unknown.
  absl::Time issued = absl::InfinitePast();
  // The bound user; empty when the token is not bound to one.
  std::string user_id;
  // Grants, by exact channel name, channel-name prefix and group name.
  std::map<std::string, Permissions> channels;
  std::map<std::string, Permissions> channel_prefixes;
  std::map<std::string, Permissions> groups;
  bool presence_admin = false;
  bool admin = false;

  bool operator==(const Claims& other) const;
};

// The version prefix of every token this code mints and accepts.
inline constexpr absl::string_view kTokenPrefix = "pv1.";

// Longest token accepted or minted, in bytes: it must fit in an HTTP header
// or query string and in gRPC metadata with room to spare.
inline constexpr size_t kMaxTokenBytes = 4096;

// Longest user id or grant name in a token, in bytes.
inline constexpr size_t kMaxClaimNameBytes = 256;

// Longest lifetime GrantToken and `presence_cli grant` accept.
inline constexpr absl::Duration kMaxTokenTtl = absl::Hours(24 * 365);

// The parts of a token's text.
struct TokenParts {
  // "pv1.<claims>", what the MAC covers: a view into the token.
  absl::string_view signed_text;
  std::string claims_json;  // <claims>, decoded.
  std::string mac;          // <mac>, decoded (32 bytes).
};

// Splits and decodes a token's text, or returns INVALID_ARGUMENT saying
// what is wrong (length, prefix, parts, base64url, MAC length).
absl::StatusOr<TokenParts> SplitToken(absl::string_view token);

// Returns the claims of a JSON object as described above, or
// INVALID_ARGUMENT naming the key that is wrong.
absl::StatusOr<Claims> ParseClaimsJson(absl::string_view json);

// Returns the claims of a token's text, or INVALID_ARGUMENT. Does NOT check
// the MAC: use TokenSecrets::Verify for tokens from callers.
absl::StatusOr<Claims> ParseToken(absl::string_view token);

// Returns the compact JSON of `claims` (keys in the order above, maps
// sorted), which ParseClaimsJson reads back to equal claims. Times are
// truncated to whole seconds.
std::string ClaimsToJson(const Claims& claims);

// Returns OK when `claims` can be minted and parsed back: an expiry, names
// that are non-empty, valid UTF-8 and at most kMaxClaimNameBytes, and no
// empty permission set. Otherwise INVALID_ARGUMENT naming the claim.
absl::Status ValidateClaims(const Claims& claims);

}  // namespace presence::auth

#endif  // SERVICE_AUTH_TOKEN_H_
