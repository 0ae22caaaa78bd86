// The one place where library errors become gRPC statuses.
//
//   return ToGrpcStatus(presence->Leave(request).status());
//
// absl::StatusCode values are defined to match grpc::StatusCode, so the code
// carries over unchanged; the message is kept, truncated to a size that
// fits comfortably in trailers.
#ifndef SERVICE_GRPC_GRPC_STATUS_H_
#define SERVICE_GRPC_GRPC_STATUS_H_

#include <cstddef>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace presence {

// Longest error message sent to clients, in bytes.
inline constexpr size_t kMaxErrorMessageBytes = 1024;

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace presence

#endif  // SERVICE_GRPC_GRPC_STATUS_H_
