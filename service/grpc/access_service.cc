#include "service/grpc/access_service.h"

#include <map>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "service/grpc/unary_call.h"
#include "service/logging/logging.h"

namespace presence {

absl::StatusOr<auth::Claims> AccessServiceImpl::ToClaims(
    const v1::GrantTokenRequest& request) {
  auth::Claims claims;
  claims.user_id = request.user_id();
  claims.presence_admin = request.presence_admin();
  claims.admin = request.admin();
  for (int i = 0; i < request.grants_size(); ++i) {
    const v1::Grant& grant = request.grants(i);
    const std::string field = absl::StrCat("grants[", i, "]");
    std::map<std::string, auth::Permissions>* grants;
    switch (grant.resource_case()) {
      case v1::Grant::kChannel:
        grants = &claims.channels;
        break;
      case v1::Grant::kChannelPrefix:
        grants = &claims.channel_prefixes;
        break;
      case v1::Grant::kChannelGroup:
        grants = &claims.groups;
        break;
      default:
        return absl::InvalidArgumentError(absl::StrCat(
            field, ": set one of channel, channel_prefix, channel_group"));
    }
    auth::Permissions permissions = 0;
    if (grant.read()) permissions |= auth::kRead;
    if (grant.write()) permissions |= auth::kWrite;
    if (grant.manage()) permissions |= auth::kManage;
    if (permissions == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": grant at least one of read, write, manage"));
    }
    const std::string& name =
        grant.resource_case() == v1::Grant::kChannel ? grant.channel()
        : grant.resource_case() == v1::Grant::kChannelPrefix
            ? grant.channel_prefix()
            : grant.channel_group();
    if (name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": the name must not be empty"));
    }
    // Two grants on one name add up.
    (*grants)[name] |= permissions;
  }
  return claims;
}

grpc::ServerUnaryReactor* AccessServiceImpl::GrantToken(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  using Call = UnaryCall<v1::GrantTokenRequest, v1::GrantTokenResponse>;
  Call* call;
  grpc::ServerUnaryReactor* reactor =
      Call::Start(context, raw_request, raw_response, stats_,
                  RpcMethod::kGrantToken, *authorizer_, &call);
  if (call == nullptr) return reactor;
  if (!call->Permit(auth::Authorizer::CheckGrantToken(call->caller()))) {
    return reactor;
  }
  const v1::GrantTokenRequest& request = call->request();
  const int64_t max_ttl = absl::ToInt64Seconds(auth::kMaxTokenTtl);
  if (request.ttl_seconds() == 0 || request.ttl_seconds() > max_ttl) {
    return call->Finish(absl::InvalidArgumentError(
        absl::StrCat("ttl_seconds: ", request.ttl_seconds(), " is not in [1, ",
                     max_ttl, "]")));
  }
  absl::StatusOr<auth::Claims> claims = ToClaims(request);
  if (!claims.ok()) return call->Finish(claims.status());
  absl::StatusOr<auth::MintedToken> minted = authorizer_->Mint(
      *std::move(claims), absl::Seconds(request.ttl_seconds()));
  if (!minted.ok()) return call->Finish(minted.status());
  // An audit trail of what was granted; never the token itself.
  const std::string expires =
      absl::FormatTime(absl::RFC3339_sec, minted->expires, absl::UTCTimeZone());
  LogInfo(
      absl::StrCat("GrantToken: minted a token",
                   request.user_id().empty()
                       ? ""
                       : absl::StrCat(" bound to user ", request.user_id()),
                   " with ", request.grants_size(), " grant(s)",
                   request.presence_admin() ? ", presence_admin" : "",
                   request.admin() ? ", admin" : "", ", expiring ", expires),
      {{"user_id", request.user_id()},
       {"grants", absl::StrCat(request.grants_size())},
       {"expires", expires}});
  v1::GrantTokenResponse* response = call->response();
  response->set_token(std::move(minted->token));
  response->mutable_expire_time()->set_seconds(
      absl::ToUnixSeconds(minted->expires));
  return call->Finish(absl::OkStatus());
}

}  // namespace presence
