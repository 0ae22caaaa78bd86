#include "service/grpc/grpc_status.h"

#include <string>

#include "gtest/gtest.h"

namespace presence {
namespace {

TEST(GrpcStatusTest, CodesCarryOverWithTheirMessages) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  const struct {
    absl::Status in;
    grpc::StatusCode out;
  } cases[] = {
      {absl::InvalidArgumentError("user_id: bad"),
       grpc::StatusCode::INVALID_ARGUMENT},
      {absl::NotFoundError("g"), grpc::StatusCode::NOT_FOUND},
      {absl::FailedPreconditionError("p"),
       grpc::StatusCode::FAILED_PRECONDITION},
      {absl::UnavailableError("u"), grpc::StatusCode::UNAVAILABLE},
      {absl::ResourceExhaustedError("r"), grpc::StatusCode::RESOURCE_EXHAUSTED},
      {absl::InternalError("i"), grpc::StatusCode::INTERNAL},
      {absl::DeadlineExceededError("d"), grpc::StatusCode::DEADLINE_EXCEEDED},
  };
  for (const auto& c : cases) {
    grpc::Status status = ToGrpcStatus(c.in);
    EXPECT_EQ(status.error_code(), c.out);
    EXPECT_EQ(status.error_message(), std::string(c.in.message()));
  }
}

TEST(GrpcStatusTest, LongMessagesAreTruncatedOnCharacterBoundaries) {
  std::string message(kMaxErrorMessageBytes - 1, 'x');
  message += "é and more";
  grpc::Status status = ToGrpcStatus(absl::InvalidArgumentError(message));
  EXPECT_EQ(status.error_message(),
            std::string(kMaxErrorMessageBytes - 1, 'x') + "... (truncated)");
}

}  // namespace
}  // namespace presence
