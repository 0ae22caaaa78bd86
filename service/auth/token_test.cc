#include "service/auth/token.h"

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace presence::auth {
namespace {

using ::testing::HasSubstr;

// A token whose claims are `json`, with a MAC of the right length (ParseToken
// does not check it).
std::string TokenOf(absl::string_view json) {
  return absl::StrCat(kTokenPrefix, absl::WebSafeBase64Escape(json), ".",
                      absl::WebSafeBase64Escape(std::string(32, 'x')));
}

Claims FullClaims() {
  Claims claims;
  claims.expires = absl::FromUnixSeconds(1'800'000'000);
  claims.issued = absl::FromUnixSeconds(1'799'990'000);
  claims.user_id = "alice";
  claims.channels = {{"lobby", kRead | kWrite}, {"hall", kRead}};
  claims.channel_prefixes = {{"room-", kRead | kWrite | kManage}};
  claims.groups = {{"friends", kRead | kManage}};
  claims.presence_admin = true;
  claims.admin = true;
  return claims;
}

TEST(PermissionsTest, LettersRoundTrip) {
  EXPECT_EQ(PermissionLetters(kRead | kWrite | kManage), "rwm");
  EXPECT_EQ(PermissionLetters(kManage | kRead), "rm");
  EXPECT_EQ(*ParsePermissionLetters("mr"), kRead | kManage);
  EXPECT_EQ(*ParsePermissionLetters("w"), kWrite);
  EXPECT_FALSE(ParsePermissionLetters("").ok());
  EXPECT_FALSE(ParsePermissionLetters("rr").ok());
  EXPECT_FALSE(ParsePermissionLetters("rx").ok());
  EXPECT_EQ(PermissionName(kManage), "manage");
}

TEST(TokenTest, ClaimsJsonRoundTrips) {
  const Claims claims = FullClaims();
  const std::string json = ClaimsToJson(claims);
  EXPECT_EQ(json, R"({"exp":1800000000,"iat":1799990000,"uid":"alice",)"
                  R"("ch":{"hall":"r","lobby":"rw"},"chp":{"room-":"rwm"},)"
                  R"("grp":{"friends":"rm"},"padm":true,"adm":true})");
  absl::StatusOr<Claims> parsed = ParseClaimsJson(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, claims);
}

TEST(TokenTest, MinimalClaims) {
  absl::StatusOr<Claims> parsed = ParseToken(TokenOf(R"({"exp":5})"));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->expires, absl::FromUnixSeconds(5));
  EXPECT_EQ(parsed->issued, absl::InfinitePast());
  EXPECT_TRUE(parsed->user_id.empty());
  EXPECT_TRUE(parsed->channels.empty());
  EXPECT_FALSE(parsed->admin);
}

TEST(TokenTest, RefusesBadClaims) {
  const struct {
    const char* json;
    const char* error;
  } kCases[] = {
      {"x", "not JSON"},
      {"[]", "not a JSON object"},
      {R"({"exp":5} x)", "not JSON"},
      {R"({})", "\"exp\" is missing"},
      {R"({"exp":"5"})", "\"exp\" must be an integer"},
      {R"({"exp":5.5})", "\"exp\" must be an integer"},
      {R"({"exp":5,"exp":6})", "\"exp\" is repeated"},
      {R"({"exp":5,"iat":true})", "\"iat\" must be an integer"},
      {R"({"exp":5,"uid":7})", "\"uid\" must be a string"},
      {R"({"exp":5,"uid":""})", "\"uid\" must not be empty"},
      {R"({"exp":5,"ch":[]})", "\"ch\" must be an object"},
      {R"({"exp":5,"ch":{"a":1}})", "must be a string"},
      {R"({"exp":5,"ch":{"a":""}})", "must not be empty"},
      {R"({"exp":5,"ch":{"a":"rx"}})", "only r, w and m"},
      {R"({"exp":5,"chp":{"":"r"}})", "chp[\"\"]: must not be empty"},
      {R"({"exp":5,"grp":{"g":"r","g":"w"}})", "names a grant twice"},
      {R"({"exp":5,"padm":1})", "\"padm\" must be true or false"},
      {R"({"exp":5,"scope":"all"})", "\"scope\" is not a known claim"},
      {"{\"exp\":5,\"uid\":\"\xff\"}", "not JSON"},
  };
  for (const auto& c : kCases) {
    absl::StatusOr<Claims> parsed = ParseToken(TokenOf(c.json));
    ASSERT_FALSE(parsed.ok()) << c.json;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(parsed.status().message(), HasSubstr(c.error)) << c.json;
  }
}

TEST(TokenTest, RefusesBadText) {
  const std::string claims = absl::WebSafeBase64Escape(R"({"exp":5})");
  const std::string mac = absl::WebSafeBase64Escape(std::string(32, 'x'));
  const struct {
    std::string token;
    const char* error;
  } kCases[] = {
      {"", "does not start with \"pv1.\""},
      {absl::StrCat("pv2.", claims, ".", mac), "does not start with"},
      {absl::StrCat("pv1.", claims), "no signature"},
      {"pv1.", "no signature"},
      {absl::StrCat("pv1..", mac), "claims are not base64url"},
      {absl::StrCat("pv1.", claims, "!.", mac), "claims are not base64url"},
      {absl::StrCat("pv1.", claims, ".", "c2hvcnQ"), "not a base64url HMAC"},
      {absl::StrCat("pv1.", claims, ".", mac, "$"), "not a base64url HMAC"},
      {absl::StrCat("pv1.", std::string(kMaxTokenBytes, 'a'), ".", mac),
       "longer than 4096 bytes"},
  };
  for (const auto& c : kCases) {
    absl::StatusOr<Claims> parsed = ParseToken(c.token);
    ASSERT_FALSE(parsed.ok()) << c.token;
    EXPECT_THAT(parsed.status().message(), HasSubstr(c.error)) << c.token;
  }
}

TEST(TokenTest, DeepNestingIsRefusedWithoutRecursion) {
  // Iterative parsing: an unknown key's deep value cannot overflow the
  // stack; the key itself is refused.
  const std::string json = absl::StrCat(
      R"({"exp":5,"x":)", std::string(1500, '['), std::string(1500, ']'), "}");
  absl::StatusOr<Claims> parsed = ParseClaimsJson(json);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.status().message(), HasSubstr("\"x\" is not a known"));
}

TEST(TokenTest, ValidateClaims) {
  Claims claims = FullClaims();
  EXPECT_TRUE(ValidateClaims(claims).ok());
  claims.expires = absl::InfinitePast();
  EXPECT_THAT(ValidateClaims(claims).message(), HasSubstr("exp"));
  claims = FullClaims();
  claims.channels["lobby"] = 0;
  EXPECT_THAT(ValidateClaims(claims).message(),
              HasSubstr("ch[\"lobby\"]: needs at least one of"));
  claims = FullClaims();
  claims.groups[std::string(kMaxClaimNameBytes + 1, 'g')] = kRead;
  EXPECT_THAT(ValidateClaims(claims).message(), HasSubstr("longer than 256"));
  claims = FullClaims();
  claims.user_id = "\xc0\x80";  // An overlong NUL.
  EXPECT_THAT(ValidateClaims(claims).message(), HasSubstr("not valid UTF-8"));
  claims.user_id = "h\xc3\xa9llo";
  EXPECT_TRUE(ValidateClaims(claims).ok());
}

}  // namespace
}  // namespace presence::auth
