#include "service/auth/token.h"

#include <cstdint>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace presence::auth {
namespace {

constexpr size_t kMacBytes = 32;  // SHA-256.

// Whether `text` is valid UTF-8 (shortest forms, no surrogates, at most
// U+10FFFF).
bool IsUtf8(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    size_t length;
    uint32_t code;
    if (byte < 0x80) {
      ++i;
      continue;
    } else if ((byte & 0xE0) == 0xC0) {
      length = 2;
      code = byte & 0x1F;
    } else if ((byte & 0xF0) == 0xE0) {
      length = 3;
      code = byte & 0x0F;
    } else if ((byte & 0xF8) == 0xF0) {
      length = 4;
      code = byte & 0x07;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    static constexpr uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < kSmallest[length] || code > 0x10FFFF ||
        (code >= 0xD800 && code <= 0xDFFF)) {
      return false;
    }
    i += length;
  }
  return true;
}

absl::Status ValidateName(absl::string_view what, absl::string_view name) {
  if (name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": must not be empty"));
  }
  if (name.size() > kMaxClaimNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": longer than ", kMaxClaimNameBytes, " bytes"));
  }
  if (!IsUtf8(name)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": not valid UTF-8"));
  }
  return absl::OkStatus();
}

absl::Status ValidateGrants(absl::string_view key,
                            const std::map<std::string, Permissions>& grants) {
  for (const auto& [name, permissions] : grants) {
    const std::string what = absl::StrCat(key, "[\"", name, "\"]");
    if (absl::Status status = ValidateName(what, name); !status.ok()) {
      return status;
    }
    if (permissions == 0 || (permissions & ~(kRead | kWrite | kManage)) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": needs at least one of read, write, manage"));
    }
  }
  return absl::OkStatus();
}

absl::Status KeyError(absl::string_view key, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("token claims: \"", key, "\" ", why));
}

absl::StatusOr<int64_t> ReadSeconds(const rapidjson::Value& value,
                                    absl::string_view key) {
  if (!value.IsInt64()) return KeyError(key, "must be an integer");
  return value.GetInt64();
}

// Reads {"name": "letters", ...} into `out`.
absl::Status ReadGrants(const rapidjson::Value& value, absl::string_view key,
                        std::map<std::string, Permissions>* out) {
  if (!value.IsObject()) return KeyError(key, "must be an object");
  for (const auto& member : value.GetObject()) {
    std::string name(member.name.GetString(), member.name.GetStringLength());
    if (!member.value.IsString()) {
      return KeyError(key, absl::StrCat("[\"", name, "\"] must be a string"));
    }
    absl::StatusOr<Permissions> permissions =
        ParsePermissionLetters(absl::string_view(
            member.value.GetString(), member.value.GetStringLength()));
    if (!permissions.ok()) {
      return KeyError(
          key,
          absl::StrCat("[\"", name, "\"]: ", permissions.status().message()));
    }
    if (!out->emplace(std::move(name), *permissions).second) {
      return KeyError(key, "names a grant twice");
    }
  }
  return absl::OkStatus();
}

void WriteGrants(rapidjson::Writer<rapidjson::StringBuffer>& writer,
                 const char* key,
                 const std::map<std::string, Permissions>& grants) {
  if (grants.empty()) return;
  writer.Key(key);
  writer.StartObject();
  for (const auto& [name, permissions] : grants) {
    writer.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
    const std::string letters = PermissionLetters(permissions);
    writer.String(letters.data(),
                  static_cast<rapidjson::SizeType>(letters.size()));
  }
  writer.EndObject();
}

}  // namespace

absl::string_view PermissionName(Permission permission) {
  switch (permission) {
    case kRead:
      return "read";
    case kWrite:
      return "write";
    case kManage:
      return "manage";
  }
  return "unknown";
}

std::string PermissionLetters(Permissions permissions) {
  std::string letters;
  if (permissions & kRead) letters.push_back('r');
  if (permissions & kWrite) letters.push_back('w');
  if (permissions & kManage) letters.push_back('m');
  return letters;
}

absl::StatusOr<Permissions> ParsePermissionLetters(absl::string_view letters) {
  if (letters.empty()) {
    return absl::InvalidArgumentError(
        "permissions must not be empty (use r, w and m)");
  }
  Permissions permissions = 0;
  for (char letter : letters) {
    Permissions bit;
    switch (letter) {
      case 'r':
        bit = kRead;
        break;
      case 'w':
        bit = kWrite;
        break;
      case 'm':
        bit = kManage;
        break;
      default:
        return absl::InvalidArgumentError(absl::StrCat(
            "permissions \"", letters, "\": only r, w and m are allowed"));
    }
    if (permissions & bit) {
      return absl::InvalidArgumentError(
          absl::StrCat("permissions \"", letters, "\" repeat a letter"));
    }
    permissions |= bit;
  }
  return permissions;
}

bool Claims::operator==(const Claims& other) const {
  return expires == other.expires && issued == other.issued &&
         user_id == other.user_id && channels == other.channels &&
         channel_prefixes == other.channel_prefixes && groups == other.groups &&
         presence_admin == other.presence_admin && admin == other.admin;
}

absl::StatusOr<TokenParts> SplitToken(absl::string_view token) {
  if (token.size() > kMaxTokenBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("token is longer than ", kMaxTokenBytes, " bytes"));
  }
  if (token.substr(0, kTokenPrefix.size()) != kTokenPrefix) {
    return absl::InvalidArgumentError(
        absl::StrCat("token does not start with \"", kTokenPrefix, "\""));
  }
  const size_t dot = token.rfind('.');
  if (dot < kTokenPrefix.size()) {
    return absl::InvalidArgumentError(
        "token has no signature (expected pv1.<claims>.<signature>)");
  }
  const absl::string_view claims =
      token.substr(kTokenPrefix.size(), dot - kTokenPrefix.size());
  const absl::string_view mac = token.substr(dot + 1);
  TokenParts parts;
  parts.signed_text = token.substr(0, dot);
  // The unescaper is lenient about padding and some characters; the MAC
  // covers the text as sent, so leniency cannot forge anything.
  if (claims.empty() ||
      !absl::WebSafeBase64Unescape(claims, &parts.claims_json)) {
    return absl::InvalidArgumentError("token claims are not base64url");
  }
  if (!absl::WebSafeBase64Unescape(mac, &parts.mac) ||
      parts.mac.size() != kMacBytes) {
    return absl::InvalidArgumentError(
        "token signature is not a base64url HMAC-SHA256");
  }
  return parts;
}

absl::StatusOr<Claims> ParseClaimsJson(absl::string_view json) {
  rapidjson::Document document;
  // Iterative: nesting depth cannot exhaust the stack. Validates UTF-8.
  document.Parse<rapidjson::kParseIterativeFlag |
                 rapidjson::kParseValidateEncodingFlag>(json.data(),
                                                        json.size());
  if (document.HasParseError()) {
    return absl::InvalidArgumentError(
        absl::StrCat("token claims are not JSON: ",
                     rapidjson::GetParseError_En(document.GetParseError())));
  }
  if (!document.IsObject()) {
    return absl::InvalidArgumentError("token claims: not a JSON object");
  }
  Claims claims;
  bool has_expiry = false;
  std::map<std::string, bool> seen;
  for (const auto& member : document.GetObject()) {
    const std::string key(member.name.GetString(),
                          member.name.GetStringLength());
    if (!seen.emplace(key, true).second) return KeyError(key, "is repeated");
    const rapidjson::Value& value = member.value;
    absl::Status status;
    if (key == "exp") {
      absl::StatusOr<int64_t> seconds = ReadSeconds(value, key);
      if (!seconds.ok()) return seconds.status();
      claims.expires = absl::FromUnixSeconds(*seconds);
      has_expiry = true;
    } else if (key == "iat") {
      absl::StatusOr<int64_t> seconds = ReadSeconds(value, key);
      if (!seconds.ok()) return seconds.status();
      claims.issued = absl::FromUnixSeconds(*seconds);
    } else if (key == "uid") {
      if (!value.IsString()) return KeyError(key, "must be a string");
      claims.user_id.assign(value.GetString(), value.GetStringLength());
    } else if (key == "ch") {
      status = ReadGrants(value, key, &claims.channels);
    } else if (key == "chp") {
      status = ReadGrants(value, key, &claims.channel_prefixes);
    } else if (key == "grp") {
      status = ReadGrants(value, key, &claims.groups);
    } else if (key == "padm" || key == "adm") {
      if (!value.IsBool()) return KeyError(key, "must be true or false");
      (key == "adm" ? claims.admin : claims.presence_admin) = value.GetBool();
    } else {
      return KeyError(key, "is not a known claim");
    }
    if (!status.ok()) return status;
  }
  if (!has_expiry) return KeyError("exp", "is missing");
  if (claims.user_id.empty() && seen.count("uid") != 0) {
    return KeyError("uid", "must not be empty");
  }
  if (absl::Status status = ValidateClaims(claims); !status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("token claims: ", status.message()));
  }
  return claims;
}

absl::StatusOr<Claims> ParseToken(absl::string_view token) {
  absl::StatusOr<TokenParts> parts = SplitToken(token);
  if (!parts.ok()) return parts.status();
  return ParseClaimsJson(parts->claims_json);
}

std::string ClaimsToJson(const Claims& claims) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("exp");
  writer.Int64(absl::ToUnixSeconds(claims.expires));
  if (claims.issued != absl::InfinitePast()) {
    writer.Key("iat");
    writer.Int64(absl::ToUnixSeconds(claims.issued));
  }
  if (!claims.user_id.empty()) {
    writer.Key("uid");
    writer.String(claims.user_id.data(),
                  static_cast<rapidjson::SizeType>(claims.user_id.size()));
  }
  WriteGrants(writer, "ch", claims.channels);
  WriteGrants(writer, "chp", claims.channel_prefixes);
  WriteGrants(writer, "grp", claims.groups);
  if (claims.presence_admin) {
    writer.Key("padm");
    writer.Bool(true);
  }
  if (claims.admin) {
    writer.Key("adm");
    writer.Bool(true);
  }
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

absl::Status ValidateClaims(const Claims& claims) {
  if (claims.expires == absl::InfinitePast() ||
      claims.expires == absl::InfiniteFuture()) {
    return absl::InvalidArgumentError("exp: a finite expiry is required");
  }
  if (!claims.user_id.empty()) {
    if (absl::Status status = ValidateName("uid", claims.user_id);
        !status.ok()) {
      return status;
    }
  }
  for (const auto& [key, grants] :
       {std::pair<const char*, const std::map<std::string, Permissions>*>{
            "ch", &claims.channels},
        {"chp", &claims.channel_prefixes},
        {"grp", &claims.groups}}) {
    if (absl::Status status = ValidateGrants(key, *grants); !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

}  // namespace presence::auth
