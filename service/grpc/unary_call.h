// UnaryCall: one unary RPC of a raw callback method, from the request's
// bytes to the answer.
//
// Every unary method of the presence services is registered raw: the
// adapter parses the request itself, so that bytes that are not a valid
// message are answered INVALID_ARGUMENT naming the message type (gRPC 1.51
// itself answers a message it cannot parse with UNIMPLEMENTED and no text,
// which sends users looking for a missing method). A call is finished
// exactly once, with the one error mapping (ToGrpcStatus), and recorded in
// RpcStats; the request and response live on the call's arena.
//
// Once parsed, the call is authenticated ("authorization: Bearer <token>"
// metadata; every call passes with --auth=none): a call that fails is
// answered UNAUTHENTICATED before the handler sees it. A write handler then
// charges the call to its client's write rate with AdmitWrite()
// (RESOURCE_EXHAUSTED with a "retry-after-ms" trailer beyond), and every
// handler checks the grants with Permit() before it calls Presence.
//
//   grpc::ServerUnaryReactor* Impl::Leave(grpc::CallbackServerContext* ctx,
//                                         const grpc::ByteBuffer* in,
//                                         grpc::ByteBuffer* out) {
//     UnaryCall<v1::LeaveRequest, v1::LeaveResponse>* call;
//     grpc::ServerUnaryReactor* reactor =
//         UnaryCall<v1::LeaveRequest, v1::LeaveResponse>::Start(
//             ctx, in, out, stats_, RpcMethod::kLeave, *authorizer_, &call);
//     if (call == nullptr) return reactor;  // Already answered.
//     if (!call->AdmitWrite(*limits_, 1)) return reactor;  // Rate-limited.
//     LeaveRequest leave = ...;  // From call->request().
//     if (!call->Permit(auth::Authorizer::CheckLeave(call->caller(), leave)))
//       return reactor;  // Answered PERMISSION_DENIED.
//     ... call->response()->...;
//     call->Finish(status);  // Or later, from any thread.
//     return reactor;
//   }
#ifndef SERVICE_GRPC_UNARY_CALL_H_
#define SERVICE_GRPC_UNARY_CALL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/arena.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "grpcpp/support/server_callback.h"
#include "service/auth/authorizer.h"
#include "service/grpc/grpc_status.h"
#include "service/grpc/rpc_stats.h"
#include "service/limits/client_limits.h"

namespace presence {

// The trailing metadata of a call refused by the write rate limit: how many
// milliseconds until the same call would be admitted.
inline constexpr char kRetryAfterMsMetadataKey[] = "retry-after-ms";

// The value of a call's "authorization" metadata, if it has one.
inline std::optional<absl::string_view> AuthorizationHeader(
    const grpc::CallbackServerContext& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return std::nullopt;
  return absl::string_view(it->second.data(), it->second.size());
}

// Who a call comes from, for per-client limits (see ClientKey).
inline std::string ClientKeyOf(const grpc::CallbackServerContext& context,
                               const auth::Caller& caller) {
  return ClientKey(caller, AuthorizationHeader(context).value_or(""),
                   PeerAddress(context.peer()));
}

template <typename Request, typename Response>
class UnaryCall {
 public:
  // Parses `raw_request`, authenticates the call with `authorizer`, and
  // returns the RPC's reactor (what the handler returns). Sets `*call` to
  // the call, or to null when the bytes are not a valid Request (the RPC is
  // then already answered with INVALID_ARGUMENT) or the call's token is
  // missing or not valid (UNAUTHENTICATED). `raw_response` is where
  // Finish() serializes the answer.
  static grpc::ServerUnaryReactor* Start(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* raw_request,
                                         grpc::ByteBuffer* raw_response,
                                         RpcStats* stats, RpcMethod method,
                                         const auth::Authorizer& authorizer,
                                         UnaryCall** call) {
    *call = new UnaryCall(context, raw_response, stats, method);
    grpc::ServerUnaryReactor* reactor = (*call)->reactor_;
    grpc::ByteBuffer bytes(*raw_request);  // Shares the slices.
    grpc::ProtoBufferReader reader(&bytes);
    if (!(*call)->request_->ParseFromZeroCopyStream(&reader)) {
      stats->RecordUnparsable(method);
      (*call)->Finish(absl::InvalidArgumentError(absl::StrCat(
          "request: not a valid ", Request::descriptor()->full_name(),
          " (malformed protobuf, or a string field that is not valid "
          "UTF-8)")));
      *call = nullptr;
      return reactor;
    }
    auth::AuthFailure failure = auth::AuthFailure::kMissing;
    absl::StatusOr<auth::Caller> caller =
        authorizer.AuthenticateBearer(AuthorizationHeader(*context), &failure);
    if (!caller.ok()) {
      (*call)->Refuse(caller.status(), failure);
      *call = nullptr;
      return reactor;
    }
    (*call)->caller_ = *std::move(caller);
    return reactor;
  }

  const Request& request() const { return *request_; }
  // Who is calling (valid once Start() returned the call).
  const auth::Caller& caller() const { return caller_; }
  Response* response() { return response_; }
  grpc::CallbackServerContext* context() { return context_; }

  // Returns true when `allowed` (an Authorizer check) is OK; otherwise
  // finishes the call with it (PERMISSION_DENIED), which deletes the call,
  // and returns false.
  bool Permit(const absl::Status& allowed) {
    if (allowed.ok()) return true;
    Refuse(allowed, auth::AuthFailure::kDenied);
    return false;
  }

  // Returns true when `limits` admit the call as `cost` writes of its
  // client (a BatchHeartbeat: its entries); otherwise finishes the call with
  // RESOURCE_EXHAUSTED and the "retry-after-ms" trailer, which deletes the
  // call, and returns false.
  bool AdmitWrite(ClientLimits& limits, uint64_t cost) {
    if (!limits.limits_writes()) return true;
    absl::Duration retry_after;
    const absl::Status admitted =
        limits.AdmitWrite(ClientKeyOf(*context_, caller_), cost, "grpc",
                          RpcMethodName(method_), &retry_after);
    if (admitted.ok()) return true;
    context_->AddTrailingMetadata(
        kRetryAfterMsMetadataKey,
        std::to_string(absl::ToInt64Milliseconds(retry_after)));
    Finish(admitted);
    return false;
  }

  // Serializes the response (when `status` is OK), finishes the RPC,
  // records it and deletes the call. Returns the RPC's reactor.
  grpc::ServerUnaryReactor* Finish(const absl::Status& status) {
    grpc::ServerUnaryReactor* reactor = reactor_;
    grpc::Status answer = ToGrpcStatus(status);
    if (answer.ok()) {
      bool own_buffer = false;
      answer = grpc::SerializationTraits<Response>::Serialize(
          *response_, raw_response_, &own_buffer);
    }
    stats_->Record(method_, answer.error_code(), absl::Now() - start_);
    delete this;  // Nothing of the call is used after this point.
    reactor->Finish(answer);
    return reactor;
  }

 private:
  // DefaultReactor() may be called only once per RPC: it constructs the
  // reactor.
  UnaryCall(grpc::CallbackServerContext* context,
            grpc::ByteBuffer* raw_response, RpcStats* stats, RpcMethod method)
      : context_(context),
        reactor_(context->DefaultReactor()),
        raw_response_(raw_response),
        stats_(stats),
        method_(method),
        start_(absl::Now()),
        request_(google::protobuf::Arena::CreateMessage<Request>(&arena_)),
        response_(google::protobuf::Arena::CreateMessage<Response>(&arena_)) {}

  // Finishes a call the Authorizer refused, counting why.
  void Refuse(const absl::Status& status, auth::AuthFailure failure) {
    stats_->RecordAuthFailure(method_, failure);
    Finish(status);
  }

  grpc::CallbackServerContext* const context_;
  grpc::ServerUnaryReactor* const reactor_;
  grpc::ByteBuffer* const raw_response_;
  RpcStats* const stats_;
  const RpcMethod method_;
  const absl::Time start_;
  google::protobuf::Arena arena_;
  Request* const request_;
  Response* const response_;
  auth::Caller caller_ = auth::Caller::Anyone();
};

}  // namespace presence

#endif  // SERVICE_GRPC_UNARY_CALL_H_
