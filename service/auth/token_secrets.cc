#include "service/auth/token_secrets.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace presence::auth {
namespace {

std::string Mac(absl::string_view secret, absl::string_view text) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac,
       &length);
  return std::string(reinterpret_cast<const char*>(mac), length);
}

}  // namespace

absl::string_view TokenErrorName(TokenError error) {
  switch (error) {
    case TokenError::kMalformed:
      return "malformed";
    case TokenError::kBadSignature:
      return "bad_signature";
    case TokenError::kExpired:
      return "expired";
  }
  return "unknown";
}

absl::StatusOr<TokenSecrets> TokenSecrets::FromText(absl::string_view text,
                                                    absl::string_view source) {
  std::vector<std::string> secrets;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    if (line.size() < kMinSecretBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": line ", line_number, ": a secret must have at least ",
          kMinSecretBytes, " characters (it has ", line.size(),
          "); e.g. openssl rand -base64 48"));
    }
    secrets.emplace_back(line);
  }
  if (secrets.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": no secret (one per line)"));
  }
  if (secrets.size() > kMaxSecrets) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": ", secrets.size(), " secrets; at most ", kMaxSecrets,
        " (the signing one first, and the one being rotated)"));
  }
  return TokenSecrets(std::move(secrets));
}

absl::StatusOr<TokenSecrets> TokenSecrets::FromFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read the secret file ", path));
  }
  std::ostringstream text;
  text << file.rdbuf();
  return FromText(text.str(), path);
}

std::string TokenSecrets::Sign(const Claims& claims) const {
  const std::string signed_text = absl::StrCat(
      kTokenPrefix, absl::WebSafeBase64Escape(ClaimsToJson(claims)));
  return absl::StrCat(signed_text, ".",
                      absl::WebSafeBase64Escape(Mac(secrets_[0], signed_text)));
}

absl::StatusOr<MintedToken> TokenSecrets::Mint(Claims claims, absl::Time now,
                                               absl::Duration ttl) const {
  if (ttl < absl::Seconds(1) || ttl > kMaxTokenTtl) {
    return absl::InvalidArgumentError(
        absl::StrCat("ttl: ", absl::FormatDuration(ttl), " is not in [1s, ",
                     absl::ToInt64Hours(kMaxTokenTtl) / 24, " days]"));
  }
  claims.issued = absl::FromUnixSeconds(absl::ToUnixSeconds(now));
  claims.expires = claims.issued + absl::Trunc(ttl, absl::Seconds(1));
  if (absl::Status status = ValidateClaims(claims); !status.ok()) {
    return status;
  }
  std::string token = Sign(claims);
  if (token.size() > kMaxTokenBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the token would be ", token.size(), " bytes, more than ",
                     kMaxTokenBytes,
                     ": grant fewer names (a prefix or a group covers "
                     "many channels)"));
  }
  return MintedToken{std::move(token), claims.expires};
}

absl::StatusOr<Claims> TokenSecrets::Verify(absl::string_view token,
                                            absl::Time now,
                                            TokenError* error) const {
  auto fail = [error](TokenError why, absl::string_view message) {
    if (error != nullptr) *error = why;
    return absl::UnauthenticatedError(message);
  };
  absl::StatusOr<TokenParts> parts = SplitToken(token);
  if (!parts.ok()) {
    return fail(TokenError::kMalformed,
                absl::StrCat("malformed token: ", parts.status().message()));
  }
  bool signed_by_us = false;
  for (const std::string& secret : secrets_) {
    const std::string expected = Mac(secret, parts->signed_text);
    // Every secret is tried, so the time taken does not tell which matched.
    signed_by_us |=
        expected.size() == parts->mac.size() &&
        CRYPTO_memcmp(expected.data(), parts->mac.data(), expected.size()) == 0;
  }
  if (!signed_by_us) {
    return fail(TokenError::kBadSignature,
                "token signature does not verify (signed with another secret, "
                "or altered)");
  }
  absl::StatusOr<Claims> claims = ParseClaimsJson(parts->claims_json);
  if (!claims.ok()) {
    return fail(TokenError::kMalformed,
                absl::StrCat("malformed token: ", claims.status().message()));
  }
  if (now >= claims->expires) {
    return fail(
        TokenError::kExpired,
        absl::StrCat("token expired at ",
                     absl::FormatTime(absl::RFC3339_sec, claims->expires,
                                      absl::UTCTimeZone())));
  }
  return claims;
}

}  // namespace presence::auth
