// libFuzzer target: the PubNub request-target parser of the HTTP API (the
// path and query of every request; Boost.Beast parses the rest of HTTP).
// scripts/fuzz.sh builds and runs it. Any target must be refused with
// INVALID_ARGUMENT or parsed into names without the separators the path
// syntax uses.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "service/http/pubnub_request.h"

namespace presence {
namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

void FuzzOne(absl::string_view target) {
  absl::StatusOr<PubNubRequest> request = ParsePubNubTarget(target);
  if (!request.ok()) {
    Check(request.status().code() == absl::StatusCode::kInvalidArgument);
  } else {
    for (const std::string& channel : request->channels) {
      Check(!channel.empty());
    }
    (void)request->Query("uuid");
    (void)request->Query("disable_uuids", "disable-uuids");
    if (std::optional<std::string> groups = request->Query("channel-group")) {
      for (const std::string& group : SplitNameList(*groups)) {
        Check(!group.empty() && group.find(',') == std::string::npos);
      }
    }
  }
  if (std::optional<std::string> decoded = PercentDecode(target)) {
    Check(decoded->size() <= target.size());
  }
  (void)ParsePubNubBool("state", target);
}

}  // namespace
}  // namespace presence

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  presence::FuzzOne(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
