#include "service/http/pubnub_error.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "service/auth/authorizer.h"

namespace presence {
namespace {

// Longest message sent, in bytes (as for gRPC: messages quote user input).
constexpr size_t kMaxMessageBytes = 1024;

int HttpStatusOf(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return 403;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnimplemented:
      return 402;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

std::string Truncate(absl::string_view message) {
  if (message.size() <= kMaxMessageBytes) return std::string(message);
  size_t cut = kMaxMessageBytes;
  // Cut on a UTF-8 character boundary.
  while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80)
    --cut;
  return std::string(message.substr(0, cut)) + "... (truncated)";
}

}  // namespace

std::string RenameFieldsForPubNub(absl::string_view message) {
  const size_t colon = message.find(": ");
  if (colon == absl::string_view::npos) return std::string(message);
  std::string fields = absl::StrReplaceAll(message.substr(0, colon),
                                           {{"user_id", "uuid"},
                                            {"channel_groups", "channel-group"},
                                            {"timeout_seconds", "heartbeat"},
                                            {"states[", "state["}});
  return fields + std::string(message.substr(colon));
}

PubNubError MakePubNubError(int http_status, absl::string_view message,
                            absl::string_view service) {
  const std::string text = Truncate(message);
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("status");
  writer.Int(http_status);
  writer.Key("error");
  writer.Bool(true);
  writer.Key("message");
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  writer.Key("service");
  writer.String(service.data(),
                static_cast<rapidjson::SizeType>(service.size()));
  writer.EndObject();
  return PubNubError{http_status,
                     std::string(buffer.GetString(), buffer.GetSize())};
}

PubNubError ToPubNubError(const absl::Status& status,
                          absl::string_view service) {
  const int http_status = HttpStatusOf(status.code());
  if (http_status != 403) {
    return MakePubNubError(http_status, RenameFieldsForPubNub(status.message()),
                           service);
  }
  const std::string text =
      Truncate(absl::StrCat("Forbidden: ", status.message()));
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("status");
  writer.Int(http_status);
  writer.Key("error");
  writer.Bool(true);
  writer.Key("service");
  writer.String(kAccessManagerService.data(),
                static_cast<rapidjson::SizeType>(kAccessManagerService.size()));
  writer.Key("message");
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  if (std::optional<auth::DeniedResource> denied =
          auth::DeniedResourceOf(status)) {
    writer.Key("payload");
    writer.StartObject();
    writer.Key(denied->group ? "channel-groups" : "channels");
    writer.StartArray();
    writer.String(denied->name.data(),
                  static_cast<rapidjson::SizeType>(denied->name.size()));
    writer.EndArray();
    writer.EndObject();
  }
  writer.EndObject();
  return PubNubError{http_status,
                     std::string(buffer.GetString(), buffer.GetSize())};
}

}  // namespace presence
