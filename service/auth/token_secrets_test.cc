#include "service/auth/token_secrets.h"

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/auth/token.h"

namespace presence::auth {
namespace {

using ::testing::HasSubstr;

constexpr char kOld[] = "old-secret-0123456789-0123456789-0123456789";
constexpr char kNew[] = "new-secret-0123456789-0123456789-0123456789";
const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

TokenSecrets Secrets(absl::string_view text) {
  absl::StatusOr<TokenSecrets> secrets = TokenSecrets::FromText(text, "test");
  EXPECT_TRUE(secrets.ok()) << secrets.status();
  return *std::move(secrets);
}

Claims ClaimsFor(absl::string_view user, absl::Time expires) {
  Claims claims;
  claims.expires = expires;
  claims.user_id = std::string(user);
  claims.channels["lobby"] = kRead;
  return claims;
}

TEST(TokenSecretsTest, FileRules) {
  EXPECT_EQ(Secrets(absl::StrCat("# comment\n\n  ", kOld, "  \r\n")).size(),
            1u);
  EXPECT_EQ(Secrets(absl::StrCat(kNew, "\n", kOld, "\n")).size(), 2u);

  absl::StatusOr<TokenSecrets> empty = TokenSecrets::FromText("\n# x\n", "f");
  EXPECT_THAT(empty.status().message(), HasSubstr("f: no secret"));
  absl::StatusOr<TokenSecrets> short_secret =
      TokenSecrets::FromText(absl::StrCat(kOld, "\nshort\n"), "f");
  EXPECT_THAT(short_secret.status().message(),
              HasSubstr("f: line 2: a secret must have at least 32"));
  absl::StatusOr<TokenSecrets> three = TokenSecrets::FromText(
      absl::StrCat(kOld, "\n", kNew, "\n", kNew, "x\n"), "f");
  EXPECT_THAT(three.status().message(), HasSubstr("3 secrets; at most 2"));
  EXPECT_FALSE(TokenSecrets::FromFile("/nonexistent/secret").ok());
}

TEST(TokenSecretsTest, SignThenVerify) {
  const TokenSecrets secrets = Secrets(kOld);
  const Claims claims = ClaimsFor("alice", kNow + absl::Hours(1));
  const std::string token = secrets.Sign(claims);
  EXPECT_TRUE(absl::StartsWith(token, "pv1."));
  absl::StatusOr<Claims> verified = secrets.Verify(token, kNow);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(*verified, claims);
  // The unverified parse reads the same claims.
  EXPECT_EQ(*ParseToken(token), claims);
}

TEST(TokenSecretsTest, Mint) {
  const TokenSecrets secrets = Secrets(kOld);
  Claims claims;
  claims.groups["friends"] = kRead;
  absl::StatusOr<MintedToken> minted =
      secrets.Mint(claims, kNow + absl::Milliseconds(700), absl::Hours(2));
  ASSERT_TRUE(minted.ok()) << minted.status();
  EXPECT_EQ(minted->expires, kNow + absl::Hours(2));
  absl::StatusOr<Claims> verified = secrets.Verify(minted->token, kNow);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(verified->issued, kNow);
  EXPECT_EQ(verified->expires, kNow + absl::Hours(2));
  EXPECT_EQ(verified->groups, claims.groups);

  EXPECT_THAT(
      secrets.Mint(claims, kNow, absl::ZeroDuration()).status().message(),
      HasSubstr("ttl: 0 is not in [1s, 365 days]"));
  EXPECT_FALSE(
      secrets.Mint(claims, kNow, kMaxTokenTtl + absl::Seconds(1)).ok());
  EXPECT_TRUE(secrets.Mint(claims, kNow, kMaxTokenTtl).ok());
  claims.channels[""] = kRead;
  EXPECT_THAT(secrets.Mint(claims, kNow, absl::Hours(1)).status().message(),
              HasSubstr("ch[\"\"]: must not be empty"));
  claims.channels.clear();
  for (int i = 0; i < 200; ++i) {
    claims.channels[absl::StrCat("channel-number-", i)] = kRead;
  }
  EXPECT_THAT(secrets.Mint(claims, kNow, absl::Hours(1)).status().message(),
              HasSubstr("more than 4096: grant fewer names"));
}

TEST(TokenSecretsTest, Expiry) {
  const TokenSecrets secrets = Secrets(kOld);
  const std::string token =
      secrets.Sign(ClaimsFor("alice", kNow + absl::Seconds(60)));
  EXPECT_TRUE(secrets.Verify(token, kNow + absl::Seconds(59)).ok());
  TokenError error = TokenError::kMalformed;
  absl::StatusOr<Claims> expired =
      secrets.Verify(token, kNow + absl::Seconds(60), &error);
  EXPECT_EQ(expired.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(expired.status().message(),
              HasSubstr("token expired at 2027-01-15T08:01:00"));
  EXPECT_EQ(error, TokenError::kExpired);
  EXPECT_EQ(TokenErrorName(error), "expired");
}

TEST(TokenSecretsTest, BadSignature) {
  const std::string token =
      Secrets(kNew).Sign(ClaimsFor("alice", kNow + absl::Hours(1)));
  TokenError error = TokenError::kMalformed;
  absl::StatusOr<Claims> other = Secrets(kOld).Verify(token, kNow, &error);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(other.status().message(), HasSubstr("signature does not verify"));
  EXPECT_EQ(error, TokenError::kBadSignature);

  // Claims altered after signing: alice's token turned into bob's.
  const TokenSecrets secrets = Secrets(kNew);
  const std::string mine =
      secrets.Sign(ClaimsFor("alice", kNow + absl::Hours(1)));
  const std::string forged_claims = absl::WebSafeBase64Escape(
      ClaimsToJson(ClaimsFor("bob", kNow + absl::Hours(1))));
  const std::string forged =
      absl::StrCat(kTokenPrefix, forged_claims, mine.substr(mine.rfind('.')));
  EXPECT_THAT(secrets.Verify(forged, kNow).status().message(),
              HasSubstr("signature does not verify"));
}

TEST(TokenSecretsTest, MalformedIsUnauthenticated) {
  TokenError error = TokenError::kExpired;
  absl::StatusOr<Claims> bad = Secrets(kOld).Verify("garbage", kNow, &error);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(bad.status().message(), HasSubstr("malformed token"));
  EXPECT_EQ(error, TokenError::kMalformed);
}

TEST(TokenSecretsTest, RotationWithTwoSecrets) {
  const Claims claims = ClaimsFor("alice", kNow + absl::Hours(1));
  const std::string by_old = Secrets(kOld).Sign(claims);
  // Step 1: the new secret is added second; the old one still signs.
  const TokenSecrets step1 = Secrets(absl::StrCat(kOld, "\n", kNew));
  EXPECT_EQ(step1.Sign(claims), by_old);
  // Step 2: the new secret signs; tokens of the old one still verify.
  const TokenSecrets step2 = Secrets(absl::StrCat(kNew, "\n", kOld));
  const std::string by_new = step2.Sign(claims);
  EXPECT_NE(by_new, by_old);
  EXPECT_TRUE(step2.Verify(by_old, kNow).ok());
  EXPECT_TRUE(step2.Verify(by_new, kNow).ok());
  EXPECT_TRUE(step1.Verify(by_new, kNow).ok());
  // Step 3: the old secret is gone, and so are its tokens.
  const TokenSecrets step3 = Secrets(kNew);
  EXPECT_TRUE(step3.Verify(by_new, kNow).ok());
  EXPECT_FALSE(step3.Verify(by_old, kNow).ok());
}

}  // namespace
}  // namespace presence::auth
