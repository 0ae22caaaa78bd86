#include "presence/internal/validation.h"

#include <array>
#include <cstdint>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "presence/base/exact_json.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace presence {
namespace {

constexpr absl::string_view kPresenceSuffix = "-pnpres";

// Decodes one UTF-8 code point at `s[*i]`, advancing *i. Returns -1 for an
// invalid sequence (overlong, surrogate, out of range or truncated).
int32_t DecodeUtf8(absl::string_view s, size_t* i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t b0 = byte(*i);
  int len;
  int32_t cp;
  if (b0 < 0x80) {
    ++*i;
    return b0;
  } else if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    return -1;
  }
  if (*i + len > s.size()) return -1;
  for (int k = 1; k < len; ++k) {
    const uint8_t b = byte(*i + k);
    if ((b & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (b & 0x3F);
  }
  static constexpr int32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMinForLength[len] || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    return -1;
  }
  *i += len;
  return cp;
}

bool IsControl(int32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }

bool IsWhitespace(int32_t cp) {
  switch (cp) {
    case ' ':
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
    case 0xFEFF:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200B;
  }
}

std::string Describe(int32_t cp) {
  if (cp >= 0x20 && cp < 0x7F)
    return absl::StrCat("'", std::string(1, static_cast<char>(cp)), "'");
  return absl::StrFormat("U+%04X", cp);
}

enum class NameKind { kId, kSessionId, kChannel };

// Bytes allowed in a name of printable ASCII: kAnyName for every kind,
// kChannelName too for channels and groups (which refuse , : * / \).
constexpr uint8_t kAnyName = 1;
constexpr uint8_t kChannelName = 2;
constexpr std::array<uint8_t, 256> kPlainBytes = [] {
  std::array<uint8_t, 256> table = {};
  for (int b = 0x21; b < 0x7F; ++b) table[b] = kAnyName | kChannelName;
  for (const char c : {',', ':', '*', '/', '\\'}) {
    table[static_cast<uint8_t>(c)] = kAnyName;
  }
  return table;
}();

// Whether `value` is a non-empty name of printable ASCII that every rule of
// `kind` allows: the common case, accepted without decoding UTF-8 or naming
// the field. Anything else takes ValidateName's full path, which says what
// is wrong.
bool IsPlainName(absl::string_view value, const Limits& limits, NameKind kind) {
  if (value.empty() || value.size() > limits.max_name_chars) return false;
  const uint8_t need = kind == NameKind::kChannel ? kChannelName : kAnyName;
  uint8_t all = need;
  for (const char c : value) all &= kPlainBytes[static_cast<uint8_t>(c)];
  return all == need && (kind != NameKind::kChannel ||
                         !absl::EndsWith(value, kPresenceSuffix));
}

absl::Status ValidateName(absl::string_view field, absl::string_view value,
                          const Limits& limits, NameKind kind,
                          absl::string_view what) {
  if (IsPlainName(value, limits, kind)) return absl::OkStatus();
  if (value.empty()) {
    if (kind == NameKind::kSessionId) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": must not be empty"));
  }
  // Checked on bytes first so a huge value is refused without decoding it.
  if (value.size() > 4 * size_t{limits.max_name_chars}) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", what, " is longer than ",
                     limits.max_name_chars, " characters"));
  }
  size_t chars = 0;
  for (size_t i = 0; i < value.size();) {
    const int32_t cp = DecodeUtf8(value, &i);
    if (cp < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": ", what, " is not valid UTF-8"));
    }
    ++chars;
    if (IsControl(cp) || IsWhitespace(cp)) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": ", what, " contains ",
          IsControl(cp) ? "a control character " : "whitespace ", Describe(cp),
          "; ", what, "s must be printable and contain no whitespace"));
    }
    if (kind == NameKind::kChannel &&
        (cp == ',' || cp == ':' || cp == '*' || cp == '/' || cp == '\\')) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": \"", value, "\" contains ", Describe(cp), "; ", what,
          "s must not contain , : * / \\ whitespace or control characters"));
    }
  }
  if (chars > limits.max_name_chars) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", what, " has ", chars, " characters; at most ",
                     limits.max_name_chars));
  }
  if (kind == NameKind::kChannel && absl::EndsWith(value, kPresenceSuffix)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": \"", value, "\" ends in \"", kPresenceSuffix,
                     "\", which is reserved for presence channels"));
  }
  return absl::OkStatus();
}

absl::Status ValidateNameList(absl::string_view field,
                              const std::vector<std::string>& names,
                              uint32_t max_count, absl::string_view what,
                              const Limits& limits) {
  if (names.size() > max_count) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", names.size(), " ", what, "s given; at most ",
                     max_count, " per request"));
  }
  for (size_t i = 0; i < names.size(); ++i) {
    if (IsPlainName(names[i], limits, NameKind::kChannel)) continue;
    absl::Status status =
        ValidateName(absl::StrCat(field, "[", i, "]"), names[i], limits,
                     NameKind::kChannel, what);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

// Returns the nesting depth of `value`, giving up past `limit`.
uint32_t Depth(const rapidjson::Value& value, uint32_t limit) {
  if (limit == 0) return 1;
  uint32_t deepest = 0;
  if (value.IsObject()) {
    for (const auto& member : value.GetObject()) {
      deepest = std::max(deepest, Depth(member.value, limit - 1));
      if (deepest >= limit) break;
    }
    return deepest + 1;
  }
  if (value.IsArray()) {
    for (const auto& element : value.GetArray()) {
      deepest = std::max(deepest, Depth(element, limit - 1));
      if (deepest >= limit) break;
    }
    return deepest + 1;
  }
  return 0;
}

}  // namespace

absl::Status ValidateUserId(absl::string_view field, absl::string_view value,
                            const Limits& limits) {
  return ValidateName(field, value, limits, NameKind::kId, "user id");
}

absl::Status ValidateSessionId(absl::string_view field, absl::string_view value,
                               const Limits& limits) {
  return ValidateName(field, value, limits, NameKind::kSessionId, "session id");
}

absl::Status ValidateChannelName(absl::string_view field,
                                 absl::string_view value,
                                 const Limits& limits) {
  return ValidateName(field, value, limits, NameKind::kChannel, "channel name");
}

absl::Status ValidateGroupName(absl::string_view field, absl::string_view value,
                               const Limits& limits) {
  return ValidateName(field, value, limits, NameKind::kChannel, "group name");
}

absl::Status ValidateChannelList(absl::string_view field,
                                 const std::vector<std::string>& channels,
                                 const Limits& limits) {
  return ValidateNameList(field, channels, limits.max_channels_per_request,
                          "channel name", limits);
}

absl::Status ValidateGroupList(absl::string_view field,
                               const std::vector<std::string>& groups,
                               const Limits& limits) {
  return ValidateNameList(field, groups, limits.max_groups_per_request,
                          "group name", limits);
}

absl::StatusOr<std::string> CanonicalState(absl::string_view field,
                                           absl::string_view json,
                                           const Limits& limits) {
  // Compact serialization never grows much past its input; refuse huge
  // input before parsing it.
  if (json.size() > 4 * size_t{limits.max_state_bytes}) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": ", json.size(), " bytes; at most ", limits.max_state_bytes));
  }
  rapidjson::Document doc;
  // Iterative: deep input cannot overflow the stack. No NaN/Infinity:
  // RapidJSON refuses them by default. Numbers are converted exactly.
  const rapidjson::ParseResult parsed = ParseJsonExact(json, &doc);
  if (parsed.IsError()) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": not valid JSON (", ExactJsonErrorText(parsed.Code()),
        " at offset ", parsed.Offset(), ")"));
  }
  if (!doc.IsObject()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": must be a JSON object"));
  }
  const uint32_t depth = Depth(doc, limits.max_state_depth + 1);
  if (depth > limits.max_state_depth) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": nested deeper than ", limits.max_state_depth, " levels"));
  }
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  if (!doc.Accept(writer)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": contains a number that is not finite"));
  }
  if (buffer.GetSize() > limits.max_state_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", buffer.GetSize(),
                     " bytes serialized; at most ", limits.max_state_bytes));
  }
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace presence
