#include "service/http/pubnub_request.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace presence {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::Status MalformedEscape(absl::string_view where) {
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": malformed percent-encoding"));
}

// Decodes the names of a path segment's channel list: split on the literal
// ',' first, then decode, so "%2C" inside a name stays in it (and is then
// refused by name validation).
absl::StatusOr<std::vector<std::string>> DecodeNameSegment(
    absl::string_view segment) {
  std::vector<std::string> names;
  for (absl::string_view raw : absl::StrSplit(segment, ',')) {
    if (raw.empty()) continue;
    std::optional<std::string> name = PercentDecode(raw);
    if (!name.has_value()) return MalformedEscape("channels");
    names.push_back(*std::move(name));
  }
  return names;
}

absl::StatusOr<std::string> DecodeSegment(absl::string_view segment,
                                          absl::string_view field) {
  std::optional<std::string> decoded = PercentDecode(segment);
  if (!decoded.has_value()) return MalformedEscape(field);
  return *std::move(decoded);
}

bool IsSubKeyWord(absl::string_view word) {
  return word == "sub-key" || word == "sub_key";
}

// Routes /v2/presence/<sub-key>/{sk}/... given the segments after "presence".
absl::Status RoutePresence(const std::vector<absl::string_view>& s,
                           PubNubRequest& request) {
  request.endpoint = PubNubEndpoint::kUnknownPresence;
  if (s.size() < 2 || !IsSubKeyWord(s[0])) return absl::OkStatus();
  absl::StatusOr<std::string> key = DecodeSegment(s[1], "sub-key");
  if (!key.ok()) return key.status();
  request.sub_key = *std::move(key);
  if (s.size() == 2) {
    request.endpoint = PubNubEndpoint::kGlobalHereNow;
    return absl::OkStatus();
  }
  if (s[2] == "uuid" && s.size() == 4) {
    absl::StatusOr<std::string> uuid = DecodeSegment(s[3], "uuid");
    if (!uuid.ok()) return uuid.status();
    request.path_uuid = *std::move(uuid);
    request.endpoint = PubNubEndpoint::kWhereNow;
    return absl::OkStatus();
  }
  if (s[2] != "channel" || s.size() < 4) return absl::OkStatus();
  absl::StatusOr<std::vector<std::string>> channels = DecodeNameSegment(s[3]);
  if (!channels.ok()) return channels.status();
  request.channels = *std::move(channels);
  if (s.size() == 4) {
    request.endpoint = PubNubEndpoint::kHereNow;
  } else if (s.size() == 5 && s[4] == "heartbeat") {
    request.endpoint = PubNubEndpoint::kHeartbeat;
  } else if (s.size() == 5 && s[4] == "leave") {
    request.endpoint = PubNubEndpoint::kLeave;
  } else if ((s.size() == 6 || (s.size() == 7 && s[6] == "data")) &&
             s[4] == "uuid") {
    absl::StatusOr<std::string> uuid = DecodeSegment(s[5], "uuid");
    if (!uuid.ok()) return uuid.status();
    request.path_uuid = *std::move(uuid);
    request.endpoint =
        s.size() == 7 ? PubNubEndpoint::kSetState : PubNubEndpoint::kGetState;
  }
  return absl::OkStatus();
}

// Routes /v1/channel-registration/<sub-key>/{sk}/channel-group[/{cg}[/remove]].
absl::Status RouteRegistry(const std::vector<absl::string_view>& s,
                           PubNubRequest& request) {
  request.endpoint = PubNubEndpoint::kUnknownPresence;
  if (s.size() < 3 || !IsSubKeyWord(s[0]) || s[2] != "channel-group") {
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> key = DecodeSegment(s[1], "sub-key");
  if (!key.ok()) return key.status();
  request.sub_key = *std::move(key);
  if (s.size() == 3) {
    request.endpoint = PubNubEndpoint::kListGroups;
    return absl::OkStatus();
  }
  if (s.size() > 5 || (s.size() == 5 && s[4] != "remove")) {
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> group = DecodeSegment(s[3], "channel-group");
  if (!group.ok()) return group.status();
  request.group = *std::move(group);
  if (s.size() == 5) {
    request.endpoint = PubNubEndpoint::kDeleteGroup;
  } else if (request.Query("add").has_value()) {
    request.endpoint = PubNubEndpoint::kAddChannels;
  } else if (request.Query("remove").has_value()) {
    request.endpoint = PubNubEndpoint::kRemoveChannels;
  } else {
    request.endpoint = PubNubEndpoint::kListChannels;
  }
  return absl::OkStatus();
}

// Routes /v2/subscribe/{sk}/{chs}/{callback}.
absl::Status RouteSubscribe(const std::vector<absl::string_view>& s,
                            PubNubRequest& request) {
  request.endpoint = PubNubEndpoint::kUnknownPresence;
  if (s.size() != 3) return absl::OkStatus();
  absl::StatusOr<std::string> key = DecodeSegment(s[0], "sub-key");
  if (!key.ok()) return key.status();
  request.sub_key = *std::move(key);
  absl::StatusOr<std::vector<std::string>> channels = DecodeNameSegment(s[1]);
  if (!channels.ok()) return channels.status();
  request.channels = *std::move(channels);
  request.endpoint = PubNubEndpoint::kSubscribe;
  return absl::OkStatus();
}

}  // namespace

absl::string_view PubNubEndpointName(PubNubEndpoint endpoint) {
  switch (endpoint) {
    case PubNubEndpoint::kHereNow:
      return "here_now";
    case PubNubEndpoint::kGlobalHereNow:
      return "global_here_now";
    case PubNubEndpoint::kWhereNow:
      return "where_now";
    case PubNubEndpoint::kHeartbeat:
      return "heartbeat";
    case PubNubEndpoint::kLeave:
      return "leave";
    case PubNubEndpoint::kSetState:
      return "set_state";
    case PubNubEndpoint::kGetState:
      return "get_state";
    case PubNubEndpoint::kAddChannels:
      return "add_channels";
    case PubNubEndpoint::kRemoveChannels:
      return "remove_channels";
    case PubNubEndpoint::kListChannels:
      return "list_channels";
    case PubNubEndpoint::kListGroups:
      return "list_groups";
    case PubNubEndpoint::kDeleteGroup:
      return "delete_group";
    case PubNubEndpoint::kSubscribe:
      return "subscribe";
    case PubNubEndpoint::kTime:
      return "time";
    case PubNubEndpoint::kUnknownPresence:
      return "unknown";
    case PubNubEndpoint::kOtherFeature:
      return "other_feature";
  }
  return "unknown";
}

bool IsChannelRegistry(PubNubEndpoint endpoint) {
  switch (endpoint) {
    case PubNubEndpoint::kAddChannels:
    case PubNubEndpoint::kRemoveChannels:
    case PubNubEndpoint::kListChannels:
    case PubNubEndpoint::kListGroups:
    case PubNubEndpoint::kDeleteGroup:
      return true;
    default:
      return false;
  }
}

std::optional<std::string> PubNubRequest::Query(absl::string_view name) const {
  for (const auto& [key, value] : query) {
    if (key == name) return value;
  }
  return std::nullopt;
}

std::optional<std::string> PubNubRequest::Query(absl::string_view name,
                                                absl::string_view alias) const {
  std::optional<std::string> value = Query(name);
  return value.has_value() ? value : Query(alias);
}

std::optional<std::string> PercentDecode(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int high = HexValue(text[i + 1]);
    const int low = HexValue(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return out;
}

std::vector<std::string> SplitNameList(absl::string_view value) {
  return absl::StrSplit(value, ',', absl::SkipEmpty());
}

absl::StatusOr<bool> ParsePubNubBool(absl::string_view field,
                                     absl::string_view value) {
  const std::string lower = absl::AsciiStrToLower(value);
  if (lower == "1" || lower == "true") return true;
  if (lower == "0" || lower == "false") return false;
  return absl::InvalidArgumentError(absl::StrCat(
      field, ": \"", value, "\" is not a boolean (1, 0, true or false)"));
}

absl::StatusOr<PubNubRequest> ParsePubNubTarget(absl::string_view target) {
  PubNubRequest request;
  const size_t question = target.find('?');
  absl::string_view path = target.substr(0, question);
  if (question != absl::string_view::npos) {
    for (absl::string_view pair :
         absl::StrSplit(target.substr(question + 1), '&', absl::SkipEmpty())) {
      const size_t equals = pair.find('=');
      std::optional<std::string> name = PercentDecode(pair.substr(0, equals));
      if (!name.has_value()) return MalformedEscape("query");
      std::optional<std::string> value =
          equals == absl::string_view::npos
              ? std::string()
              : PercentDecode(pair.substr(equals + 1));
      if (!value.has_value()) return MalformedEscape(*name);
      request.query.emplace_back(*std::move(name), *std::move(value));
    }
  }

  // Segments are split before decoding, so an encoded '/' ("%2F", e.g. in a
  // uuid) stays inside its segment.
  std::vector<absl::string_view> segments = absl::StrSplit(path, '/');
  if (!segments.empty() && segments.front().empty()) {
    segments.erase(segments.begin());
  }
  if (segments.size() > 1 && segments.back().empty()) segments.pop_back();

  const auto rest = [&segments](size_t from) {
    return std::vector<absl::string_view>(segments.begin() + from,
                                          segments.end());
  };
  absl::Status status;
  if (segments.size() >= 2 && segments[0] == "v2" &&
      segments[1] == "presence") {
    status = RoutePresence(rest(2), request);
  } else if (segments.size() >= 2 && segments[0] == "v1" &&
             segments[1] == "channel-registration") {
    status = RouteRegistry(rest(2), request);
  } else if (segments.size() >= 2 && segments[0] == "v2" &&
             segments[1] == "subscribe") {
    status = RouteSubscribe(rest(2), request);
  } else if (segments.size() == 2 && segments[0] == "time") {
    request.endpoint = PubNubEndpoint::kTime;
  } else {
    request.endpoint = PubNubEndpoint::kOtherFeature;
  }
  if (!status.ok()) return status;
  return request;
}

}  // namespace presence
