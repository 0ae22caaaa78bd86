#include "service/auth/authorizer.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace presence::auth {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::InvalidArgumentError(
        absl::StrCat("--auth_secret_file: cannot read ", path));
  }
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

absl::Status Denied(absl::string_view message) {
  return absl::PermissionDeniedError(message);
}

// The payload of a PERMISSION_DENIED that names a resource: "c:<channel>"
// or "g:<group>".
constexpr absl::string_view kDeniedResourceUrl =
    "type.presence/auth.DeniedResource";

// PERMISSION_DENIED naming the resource ("channel \"lobby\"") in its message
// and its payload.
absl::Status DeniedOn(absl::string_view kind, absl::string_view name,
                      absl::string_view message) {
  absl::Status status = Denied(message);
  status.SetPayload(
      kDeniedResourceUrl,
      absl::Cord(absl::StrCat(kind == "channel" ? "c:" : "g:", name)));
  return status;
}

// OK when `have` includes `needed`; else PERMISSION_DENIED naming the
// resource ("channel \"lobby\"").
absl::Status Require(Permissions have, Permission needed,
                     absl::string_view kind, absl::string_view name) {
  if ((have & needed) != 0) return absl::OkStatus();
  return DeniedOn(kind, name,
                  absl::StrCat("the token has no \"", PermissionName(needed),
                               "\" permission on ", kind, " \"", name, "\""));
}

// `needed` on every channel and group named.
absl::Status RequireAll(const Claims& claims,
                        const std::vector<std::string>& channels,
                        const std::vector<std::string>& groups,
                        Permission needed) {
  for (const std::string& channel : channels) {
    absl::Status status =
        Require(Authorizer::ChannelPermissions(claims, channel), needed,
                "channel", channel);
    if (!status.ok()) return status;
  }
  for (const std::string& group : groups) {
    absl::Status status = Require(Authorizer::GroupPermissions(claims, group),
                                  needed, "channel group", group);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

// A token bound to a user acts only as that user.
absl::Status RequireActingAs(const Claims& claims, absl::string_view user_id) {
  if (claims.user_id.empty() || claims.admin || claims.user_id == user_id) {
    return absl::OkStatus();
  }
  return Denied(absl::StrCat("the token is bound to user \"", claims.user_id,
                             "\" and cannot act as user \"", user_id, "\""));
}

absl::Status RequirePresenceAdmin(const Claims& claims,
                                  absl::string_view what) {
  if (claims.presence_admin || claims.admin) return absl::OkStatus();
  return Denied(absl::StrCat(what, " needs a token with presence_admin"));
}

// The writes: write on every target, as the bound user.
absl::Status RequireWrite(const Claims& claims, absl::string_view user_id,
                          const std::vector<std::string>& channels,
                          const std::vector<std::string>& groups) {
  if (absl::Status status = RequireActingAs(claims, user_id); !status.ok()) {
    return status;
  }
  return RequireAll(claims, channels, groups, kWrite);
}

}  // namespace

absl::string_view AuthFailureName(AuthFailure failure) {
  switch (failure) {
    case AuthFailure::kMissing:
      return "missing";
    case AuthFailure::kMalformed:
      return "malformed";
    case AuthFailure::kBadSignature:
      return "bad_signature";
    case AuthFailure::kExpired:
      return "expired";
    case AuthFailure::kDenied:
      return "permission_denied";
  }
  return "unknown";
}

std::optional<DeniedResource> DeniedResourceOf(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kPermissionDenied) {
    return std::nullopt;
  }
  absl::optional<absl::Cord> payload = status.GetPayload(kDeniedResourceUrl);
  if (!payload.has_value()) return std::nullopt;
  const std::string text(*payload);
  return DeniedResource{absl::StartsWith(text, "g:"), text.substr(2)};
}

absl::StatusOr<std::unique_ptr<Authorizer>> Authorizer::Create(
    const AuthOptions& options, const Clock* clock) {
  auto authorizer = std::make_unique<Authorizer>();
  authorizer->mode_ = options.mode;
  authorizer->clock_ = clock;
  if (options.mode == AuthMode::kNone) {
    if (!options.secret_file.empty()) {
      return absl::InvalidArgumentError(
          "--auth_secret_file is used only with --auth=token");
    }
    return authorizer;
  }
  if (options.secret_file.empty()) {
    return absl::InvalidArgumentError(
        "--auth=token needs --auth_secret_file (one secret of at least 32 "
        "characters per line)");
  }
  authorizer->secret_file_ = options.secret_file;
  absl::StatusOr<bool> loaded = authorizer->ReloadSecrets();
  if (!loaded.ok()) return loaded.status();
  return authorizer;
}

absl::StatusOr<bool> Authorizer::ReloadSecrets() {
  if (!enabled()) return false;
  absl::StatusOr<std::string> text = ReadFile(secret_file_);
  if (!text.ok()) return text.status();
  {
    MutexLock lock(&mu_);
    if (secrets_ != nullptr && *text == secret_text_) return false;
  }
  absl::StatusOr<TokenSecrets> secrets = TokenSecrets::FromText(
      *text, absl::StrCat("--auth_secret_file ", secret_file_));
  if (!secrets.ok()) return secrets.status();
  MutexLock lock(&mu_);
  secrets_ = std::make_shared<const TokenSecrets>(*std::move(secrets));
  secret_text_ = *std::move(text);
  return true;
}

std::shared_ptr<const TokenSecrets> Authorizer::secrets() const {
  MutexLock lock(&mu_);
  return secrets_;
}

absl::StatusOr<Caller> Authorizer::Authenticate(
    std::optional<absl::string_view> token, AuthFailure* failure) const {
  if (!enabled()) return Caller::Anyone();
  auto fail = [failure](AuthFailure why, absl::Status status) {
    if (failure != nullptr) *failure = why;
    return status;
  };
  if (!token.has_value() || token->empty()) {
    return fail(
        AuthFailure::kMissing,
        absl::UnauthenticatedError("this call needs a token: send the metadata "
                                   "\"authorization: Bearer <token>\""));
  }
  TokenError error = TokenError::kMalformed;
  absl::StatusOr<Claims> claims = secrets()->Verify(*token, Now(), &error);
  if (!claims.ok()) {
    AuthFailure why = AuthFailure::kMalformed;
    if (error == TokenError::kBadSignature) why = AuthFailure::kBadSignature;
    if (error == TokenError::kExpired) why = AuthFailure::kExpired;
    return fail(why, claims.status());
  }
  return Caller(*std::move(claims));
}

absl::StatusOr<Caller> Authorizer::AuthenticateBearer(
    std::optional<absl::string_view> header, AuthFailure* failure) const {
  if (!enabled() || !header.has_value()) return Authenticate(header, failure);
  absl::string_view value = absl::StripAsciiWhitespace(*header);
  constexpr absl::string_view kScheme = "bearer ";
  if (!absl::StartsWithIgnoreCase(value, kScheme)) {
    if (failure != nullptr) *failure = AuthFailure::kMalformed;
    return absl::UnauthenticatedError(
        "malformed authorization metadata: expected \"Bearer <token>\"");
  }
  value.remove_prefix(kScheme.size());
  return Authenticate(absl::StripLeadingAsciiWhitespace(value), failure);
}

absl::StatusOr<MintedToken> Authorizer::Mint(Claims claims,
                                             absl::Duration ttl) const {
  if (!enabled()) {
    return absl::FailedPreconditionError(
        "tokens are off on this server (--auth=none): there is no secret to "
        "sign with");
  }
  return secrets()->Mint(std::move(claims), Now(), ttl);
}

Permissions Authorizer::ChannelPermissions(const Claims& claims,
                                           absl::string_view channel) {
  if (claims.admin) return kRead | kWrite | kManage;
  Permissions permissions = claims.presence_admin ? kRead : 0;
  if (auto it = claims.channels.find(std::string(channel));
      it != claims.channels.end()) {
    permissions |= it->second;
  }
  for (const auto& [prefix, granted] : claims.channel_prefixes) {
    if (absl::StartsWith(channel, prefix)) permissions |= granted;
  }
  return permissions;
}

Permissions Authorizer::GroupPermissions(const Claims& claims,
                                         absl::string_view group) {
  if (claims.admin) return kRead | kWrite | kManage;
  Permissions permissions = claims.presence_admin ? kRead : 0;
  if (auto it = claims.groups.find(std::string(group));
      it != claims.groups.end()) {
    permissions |= it->second;
  }
  return permissions;
}

absl::Status Authorizer::CheckHereNow(const Caller& caller,
                                      const HereNowRequest& request) {
  const Claims* claims = caller.claims();
  if (claims == nullptr) return absl::OkStatus();
  if (request.channels.empty() && request.channel_groups.empty()) {
    return RequirePresenceAdmin(*claims,
                                "HereNow of every channel (no channels and no "
                                "groups named)");
  }
  return RequireAll(*claims, request.channels, request.channel_groups, kRead);
}

absl::Status Authorizer::CheckWhereNow(const Caller& caller,
                                       const WhereNowRequest& request) {
  const Claims* claims = caller.claims();
  if (claims == nullptr || claims->presence_admin || claims->admin ||
      (!claims->user_id.empty() && claims->user_id == request.user_id)) {
    return absl::OkStatus();
  }
  return Denied(absl::StrCat("WhereNow of user \"", request.user_id,
                             "\" needs a token bound to that user or a token "
                             "with presence_admin"));
}

absl::Status Authorizer::CheckGetState(const Caller& caller,
                                       const GetStateRequest& request) {
  const Claims* claims = caller.claims();
  if (claims == nullptr) return absl::OkStatus();
  return RequireAll(*claims, request.channels, request.channel_groups, kRead);
}

absl::Status Authorizer::CheckSetState(const Caller& caller,
                                       const SetStateRequest& request) {
  const Claims* claims = caller.claims();
  if (claims == nullptr) return absl::OkStatus();
  return RequireWrite(*claims, request.user_id, request.channels,
                      request.channel_groups);
}

absl::Status Authorizer::CheckHeartbeat(const Caller& caller,
                                        const HeartbeatRequest& request) {
  const Claims* claims = caller.claims();
  if (claims == nullptr) return absl::OkStatus();
  // The states' keys must name channels or groups of the request (Presence
  // refuses others), so checking those covers the states too.
  return RequireWrite(*claims, request.user_id, request.channels,
                      request.channel_groups);
}

absl::Status Authorizer::CheckLeave(const Caller& caller,
                                    const LeaveRequest& request) {
  const Claims* claims = caller.claims();
  if (claims == nullptr) return absl::OkStatus();
  return RequireWrite(*claims, request.user_id, request.channels,
                      request.channel_groups);
}

absl::Status Authorizer::CheckBatchEntry(const Caller& caller,
                                         const BatchEntry& entry,
                                         size_t index) {
  absl::Status status = entry.kind == BatchEntry::Kind::kHeartbeat
                            ? CheckHeartbeat(caller, entry.heartbeat)
                            : CheckLeave(caller, entry.leave);
  if (status.ok()) return status;
  return absl::Status(status.code(),
                      absl::StrCat("entries[", index, "]: ", status.message()));
}

absl::Status Authorizer::CheckWatch(const Caller& caller,
                                    const std::vector<std::string>& channels,
                                    const std::vector<std::string>& groups) {
  const Claims* claims = caller.claims();
  if (claims == nullptr) return absl::OkStatus();
  if (channels.empty() && groups.empty()) {
    return RequirePresenceAdmin(*claims,
                                "WatchEvents of every channel (the firehose: "
                                "no channels and no groups named)");
  }
  return RequireAll(*claims, channels, groups, kRead);
}

absl::Status Authorizer::CheckAddChannels(
    const Caller& caller, absl::string_view group,
    const std::vector<std::string>& channels) {
  const Claims* claims = caller.claims();
  if (claims == nullptr) return absl::OkStatus();
  // Manage on each channel too: whoever may read through a group would
  // otherwise read any channel by adding it.
  absl::Status status = Require(GroupPermissions(*claims, group), kManage,
                                "channel group", group);
  if (!status.ok()) return status;
  return RequireAll(*claims, channels, {}, kManage);
}

absl::Status Authorizer::CheckRemoveChannels(const Caller& caller,
                                             absl::string_view group) {
  const Claims* claims = caller.claims();
  if (claims == nullptr) return absl::OkStatus();
  return Require(GroupPermissions(*claims, group), kManage, "channel group",
                 group);
}

absl::Status Authorizer::CheckListChannels(const Caller& caller,
                                           absl::string_view group) {
  const Claims* claims = caller.claims();
  if (claims == nullptr ||
      (GroupPermissions(*claims, group) & (kRead | kManage)) != 0) {
    return absl::OkStatus();
  }
  return DeniedOn(
      "channel group", group,
      absl::StrCat("the token has no \"read\" or \"manage\" permission on "
                   "channel group \"",
                   group, "\""));
}

absl::Status Authorizer::CheckDeleteGroup(const Caller& caller,
                                          absl::string_view group) {
  return CheckRemoveChannels(caller, group);
}

absl::Status Authorizer::CheckListGroups(const Caller& caller) {
  const Claims* claims = caller.claims();
  if (claims == nullptr) return absl::OkStatus();
  return RequirePresenceAdmin(*claims, "ListGroups (it names every group)");
}

absl::Status Authorizer::CheckGrantToken(const Caller& caller) {
  const Claims* claims = caller.claims();
  if (claims == nullptr || claims->admin) return absl::OkStatus();
  return Denied("GrantToken needs an admin token");
}

}  // namespace presence::auth
