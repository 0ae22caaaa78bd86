// Authorizer: who may call what. It authenticates a call's token (see
// token.h) and holds the one set of rules that every transport applies
// before it calls Presence, per RPC, on the library's request types:
//
//   RPC                 needs
//   HereNow             read on every channel and group named; with
//                       neither (every channel): presence_admin
//   WhereNow            a token bound to that user, or presence_admin
//   GetState            read on every channel and group named
//   SetState,           write on every channel and group named; a token
//   Heartbeat, Leave    bound to a user acts only as that user
//   BatchHeartbeat      each entry as Heartbeat or Leave; an entry that
//                       fails gets PERMISSION_DENIED in its own result
//   WatchEvents         read on every channel and group named; with
//                       neither (the firehose): presence_admin
//   AddChannels         manage on the group and on every channel added
//   RemoveChannels,     manage on the group
//   DeleteGroup
//   ListChannels        read or manage on the group
//   ListGroups          presence_admin (it names every group)
//   GrantToken          admin
//
// A channel's permissions are those of its exact grant and of every prefix
// grant it starts with; a request through a group needs the grant on the
// group (not on its channels). presence_admin adds read on everything;
// admin allows everything. A denied call changes nothing: checks run
// before Presence is called.
//
// With --auth=none every call is allowed (Caller::Anyone()).
//
//   absl::StatusOr<Caller> caller =
//       authorizer.AuthenticateBearer(authorization_header);
//   if (!caller.ok()) return caller.status();  // UNAUTHENTICATED
//   absl::Status allowed = Authorizer::CheckHeartbeat(*caller, request);
//
// Thread-safe.
#ifndef SERVICE_AUTH_AUTHORIZER_H_
#define SERVICE_AUTH_AUTHORIZER_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "presence/base/mutex.h"
#include "presence/clock.h"
#include "presence/types.h"
#include "service/auth/token.h"
#include "service/auth/token_secrets.h"

namespace presence::auth {

enum class AuthMode {
  kNone,   // Every call is allowed: for the embedded quick start, or behind
           // a mesh that authenticates callers with mTLS.
  kToken,  // Presence and group RPCs need a signed token.
};

struct AuthOptions {
  AuthMode mode = AuthMode::kNone;
  // With kToken: the secrets (--auth_secret_file; see token_secrets.h).
  std::string secret_file;
};

// Why a call was refused.
enum class AuthFailure {
  kMissing,       // No token.
  kMalformed,     // Not a token, or not "Bearer <token>".
  kBadSignature,  // Not signed by a configured secret.
  kExpired,
  kDenied,  // A valid token without the grant (PERMISSION_DENIED).
};
inline constexpr int kAuthFailureKinds = 5;

// Returns "missing", "malformed", "bad_signature", "expired" or
// "permission_denied".
absl::string_view AuthFailureName(AuthFailure failure);

// The channel or group a PERMISSION_DENIED of the Authorizer names, for
// transports that list it apart (PubNub's 403 payload).
struct DeniedResource {
  bool group = false;  // A channel group, else a channel.
  std::string name;
};

// Returns the resource `status` (from a Check*) names, or nullopt when it
// names none (an admin-only form, a bound user) or is another status.
std::optional<DeniedResource> DeniedResourceOf(const absl::Status& status);

// Who is calling: the claims of a verified token, or anyone (auth off).
class Caller {
 public:
  // Allowed everything.
  static Caller Anyone() { return Caller(nullptr); }
  explicit Caller(Claims claims)
      : Caller(std::make_shared<const Claims>(std::move(claims))) {}

  // Null for Anyone().
  const Claims* claims() const { return claims_.get(); }

 private:
  explicit Caller(std::shared_ptr<const Claims> claims)
      : claims_(std::move(claims)) {}

  std::shared_ptr<const Claims> claims_;
};

class Authorizer {
 public:
  // Auth off: every call is Anyone.
  Authorizer() = default;

  // With options.mode kToken, reads the secret file (INVALID_ARGUMENT
  // naming --auth_secret_file when it cannot). `clock` decides expiry and
  // must outlive the authorizer.
  static absl::StatusOr<std::unique_ptr<Authorizer>> Create(
      const AuthOptions& options, const Clock* clock);

  bool enabled() const { return mode_ == AuthMode::kToken; }

  // Reads the secret file again. Returns true when the secrets changed,
  // false when they did not (or auth is off); on an error keeps the
  // secrets in use.
  absl::StatusOr<bool> ReloadSecrets() ABSL_LOCKS_EXCLUDED(mu_);

  // Returns the caller of a call that carried `token` (nullopt: none), or
  // UNAUTHENTICATED saying why, with `*failure` set when not null.
  absl::StatusOr<Caller> Authenticate(std::optional<absl::string_view> token,
                                      AuthFailure* failure = nullptr) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // As Authenticate, from an "authorization" header's value, which must be
  // "Bearer <token>" (the scheme in any case).
  absl::StatusOr<Caller> AuthenticateBearer(
      std::optional<absl::string_view> header,
      AuthFailure* failure = nullptr) const ABSL_LOCKS_EXCLUDED(mu_);

  // Returns a token of `claims` valid for `ttl` from now (see
  // TokenSecrets::Mint), or FAILED_PRECONDITION when auth is off (there is
  // no secret).
  absl::StatusOr<MintedToken> Mint(Claims claims, absl::Duration ttl) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // The time tokens are checked against.
  absl::Time Now() const { return clock_->Now(); }

  // The rules (see the table above). Each returns OK or PERMISSION_DENIED
  // naming the channel or group and the permission (or the admin grant)
  // that is missing.
  static absl::Status CheckHereNow(const Caller& caller,
                                   const HereNowRequest& request);
  static absl::Status CheckWhereNow(const Caller& caller,
                                    const WhereNowRequest& request);
  static absl::Status CheckGetState(const Caller& caller,
                                    const GetStateRequest& request);
  static absl::Status CheckSetState(const Caller& caller,
                                    const SetStateRequest& request);
  static absl::Status CheckHeartbeat(const Caller& caller,
                                     const HeartbeatRequest& request);
  static absl::Status CheckLeave(const Caller& caller,
                                 const LeaveRequest& request);
  // The message starts with "entries[<index>]: ".
  static absl::Status CheckBatchEntry(const Caller& caller,
                                      const BatchEntry& entry, size_t index);
  static absl::Status CheckWatch(const Caller& caller,
                                 const std::vector<std::string>& channels,
                                 const std::vector<std::string>& groups);
  static absl::Status CheckAddChannels(
      const Caller& caller, absl::string_view group,
      const std::vector<std::string>& channels);
  static absl::Status CheckRemoveChannels(const Caller& caller,
                                          absl::string_view group);
  static absl::Status CheckListChannels(const Caller& caller,
                                        absl::string_view group);
  static absl::Status CheckDeleteGroup(const Caller& caller,
                                       absl::string_view group);
  static absl::Status CheckListGroups(const Caller& caller);
  static absl::Status CheckGrantToken(const Caller& caller);

  // What `claims` grant on a channel (exact and prefix grants,
  // presence_admin, admin) and on a group.
  static Permissions ChannelPermissions(const Claims& claims,
                                        absl::string_view channel);
  static Permissions GroupPermissions(const Claims& claims,
                                      absl::string_view group);

 private:
  std::shared_ptr<const TokenSecrets> secrets() const ABSL_LOCKS_EXCLUDED(mu_);

  AuthMode mode_ = AuthMode::kNone;
  std::string secret_file_;
  const Clock* clock_ = Clock::Real();
  mutable Mutex mu_;
  std::shared_ptr<const TokenSecrets> secrets_ ABSL_GUARDED_BY(mu_);
  std::string secret_text_ ABSL_GUARDED_BY(mu_);  // To see changes.
};

}  // namespace presence::auth

#endif  // SERVICE_AUTH_AUTHORIZER_H_
