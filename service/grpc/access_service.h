// The gRPC adapter of presence.v1.AccessService: GrantToken mints signed
// access tokens for an admin caller (see service/auth/authorizer.h for the
// rules and service/auth/token.h for the format).
//
// Thread-safe.
#ifndef SERVICE_GRPC_ACCESS_SERVICE_H_
#define SERVICE_GRPC_ACCESS_SERVICE_H_

#include "absl/status/statusor.h"
#include "grpcpp/support/byte_buffer.h"
#include "presence/v1/access.grpc.pb.h"
#include "service/auth/authorizer.h"
#include "service/auth/token.h"
#include "service/grpc/rpc_stats.h"

namespace presence {

class AccessServiceImpl final
    : public v1::AccessService::WithRawCallbackMethod_GrantToken<
          v1::AccessService::Service> {
 public:
  // `authorizer` and `stats` must outlive this object.
  AccessServiceImpl(const auth::Authorizer* authorizer, RpcStats* stats)
      : authorizer_(authorizer), stats_(stats) {}

  grpc::ServerUnaryReactor* GrantToken(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;

  // Returns the claims `request` asks for (expiry not set), or
  // INVALID_ARGUMENT naming the field.
  static absl::StatusOr<auth::Claims> ToClaims(
      const v1::GrantTokenRequest& request);

 private:
  const auth::Authorizer* const authorizer_;
  RpcStats* const stats_;
};

}  // namespace presence

#endif  // SERVICE_GRPC_ACCESS_SERVICE_H_
