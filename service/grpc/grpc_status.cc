#include "service/grpc/grpc_status.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace presence {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  std::string message(status.message());
  if (message.size() > kMaxErrorMessageBytes) {
    // Cut on a UTF-8 character boundary.
    size_t cut = kMaxErrorMessageBytes;
    while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80)
      --cut;
    message = absl::StrCat(message.substr(0, cut), "... (truncated)");
  }
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), message);
}

}  // namespace presence
