// libFuzzer target: the token parser (scripts/fuzz.sh builds and runs it).
// Any text must be refused cleanly or parsed; parsed claims must survive a
// round trip through their JSON form; and the claims JSON parser alone must
// never crash either.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "service/auth/token.h"

namespace presence::auth {
namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

void FuzzOne(absl::string_view text) {
  absl::StatusOr<Claims> claims = ParseToken(text);
  if (claims.ok()) {
    absl::StatusOr<Claims> again = ParseClaimsJson(ClaimsToJson(*claims));
    Check(again.ok() && *again == *claims);
  } else {
    Check(claims.status().code() == absl::StatusCode::kInvalidArgument);
  }
  absl::StatusOr<Claims> direct = ParseClaimsJson(text);
  if (direct.ok()) {
    absl::StatusOr<Claims> again = ParseClaimsJson(ClaimsToJson(*direct));
    Check(again.ok() && *again == *direct);
  }
  // The same bytes behind the prefix, as a caller would send them.
  (void)ParseToken(absl::StrCat(kTokenPrefix, text));
}

}  // namespace
}  // namespace presence::auth

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  presence::auth::FuzzOne(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
