// TokenSecrets: the HMAC-SHA256 keys that sign and verify access tokens
// (see token.h for the format).
//
// The secret file (--auth_secret_file) holds one secret per line, each at
// least 32 characters; blank lines and lines starting with '#' are ignored,
// and so is whitespace at either end of a line. During a rotation it holds
// two: the first signs, both verify.
//
//   absl::StatusOr<TokenSecrets> secrets = TokenSecrets::FromFile(path);
//   std::string token = secrets->Sign(claims);
//   absl::StatusOr<Claims> verified = secrets->Verify(token, clock->Now());
//
// Thread-safe: immutable once made.
#ifndef SERVICE_AUTH_TOKEN_SECRETS_H_
#define SERVICE_AUTH_TOKEN_SECRETS_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "service/auth/token.h"

namespace presence::auth {

// Why a token was refused (for metrics and logs).
enum class TokenError {
  kMalformed,     // Not pv1.<claims>.<mac>, or claims that do not parse.
  kBadSignature,  // No secret produces its MAC.
  kExpired,       // Its expiry has passed.
};

// Returns "malformed", "bad_signature" or "expired".
absl::string_view TokenErrorName(TokenError error);

// A token just minted.
struct MintedToken {
  std::string token;
  absl::Time expires;  // Whole seconds.
};

// Shortest secret accepted, in bytes.
inline constexpr size_t kMinSecretBytes = 32;
// Most secrets a file may hold: the current one and, during a rotation, the
// previous (or next) one.
inline constexpr size_t kMaxSecrets = 2;

class TokenSecrets {
 public:
  // Returns the secrets in `text` (the file's contents), or INVALID_ARGUMENT
  // naming `source` and the line that breaks a rule.
  static absl::StatusOr<TokenSecrets> FromText(absl::string_view text,
                                               absl::string_view source);

  // Reads `path`; INVALID_ARGUMENT when it cannot be read or breaks a rule.
  static absl::StatusOr<TokenSecrets> FromFile(const std::string& path);

  // Returns the token of `claims`, signed with the first secret. `claims`
  // should pass ValidateClaims.
  std::string Sign(const Claims& claims) const;

  // Mints a token: `claims` issued at `now`, expiring `ttl` later, signed.
  // INVALID_ARGUMENT when `ttl` is not in [1 s, kMaxTokenTtl], the claims
  // fail ValidateClaims, or the token would exceed kMaxTokenBytes.
  absl::StatusOr<MintedToken> Mint(Claims claims, absl::Time now,
                                   absl::Duration ttl) const;

  // Returns the claims of `token` if one of the secrets signed it and it has
  // not expired at `now`; otherwise UNAUTHENTICATED saying why, and sets
  // `*error` when it is not null. The MAC is compared in constant time and
  // checked before the claims are parsed.
  absl::StatusOr<Claims> Verify(absl::string_view token, absl::Time now,
                                TokenError* error = nullptr) const;

  size_t size() const { return secrets_.size(); }

 private:
  explicit TokenSecrets(std::vector<std::string> secrets)
      : secrets_(std::move(secrets)) {}

  std::vector<std::string> secrets_;  // Never empty.
};

}  // namespace presence::auth

#endif  // SERVICE_AUTH_TOKEN_SECRETS_H_
