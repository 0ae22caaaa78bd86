// The C++ client of the presence service (presence.v1.PresenceService and
// ChannelGroupService), shaped like PubNub's Presence API: each method of
// PresenceClient returns a call that is configured with chained setters and
// sent with execute() (blocking) or execute_async() (callback).
//
//   PresenceClient pubnub(PresenceClient::Options{
//       .target = "127.0.0.1:50051", .user_id = "alice"});
//   absl::StatusOr<HeartbeatResult> beat =
//       pubnub.heartbeat()
//           .channels({"lobby"})
//           .state("lobby", Json::object({{"mood", "happy"}}))
//           .execute();
//   absl::StatusOr<HereNowResult> here =
//       pubnub.here_now().channels({"lobby"}).include_state(true).execute();
//   if (!here.ok()) return here.status();
//   for (const HereNowUser& user : here->channels[0].occupants) ...
//
// With TLS and a token (a server run with --tls_* and --auth=token):
//
//   PresenceClient pubnub({.target = "presence.example:50051",
//                          .user_id = "alice",
//                          .credentials = *TlsCredentialsFromFiles("ca.crt"),
//                          .auth_token = token});
//
// Errors are values: a failed RPC gives the gRPC status code as the
// absl::StatusCode of the same number, with the server's message. Every call
// has a deadline, Options::timeout unless the call sets timeout(). Calls that
// act for a user act for Options::user_id unless they set user_id().
//
// Thread safety: a PresenceClient is immutable and thread-safe; copies share
// one gRPC channel. A call object (HereNowCall, ...) is a cheap value: it is
// not safe to modify one from several threads, but once configured its
// execute() and execute_async() may run concurrently, each sending one RPC.
//
// Lifetime: call objects keep the channel open, so they may outlive the
// client they came from. Destroying the last copy of a client and its call
// objects blocks until the execute_async() callbacks of its RPCs have
// returned; it must not happen inside such a callback (the process aborts),
// because gRPC cannot destroy a channel on its own threads.

#ifndef PRESENCE_CLIENT_PRESENCE_CLIENT_H_
#define PRESENCE_CLIENT_PRESENCE_CLIENT_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/json.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/status.h"
#include "presence/v1/access.grpc.pb.h"
#include "presence/v1/channel_group.grpc.pb.h"
#include "presence/v1/presence.grpc.pb.h"

namespace presence::client {

// Returns channel credentials for TLS from PEM files: `ca_file` holds the
// CAs that signed the server's certificate (empty: the system's roots);
// `cert_file` and `key_file`, both or neither, are the client's certificate
// and key for servers that require mutual TLS. INVALID_ARGUMENT names a
// file that cannot be read.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
TlsCredentialsFromFiles(const std::string& ca_file,
                        const std::string& cert_file = "",
                        const std::string& key_file = "");

// Results. They mirror the response messages with plain C++ types.

struct HereNowUser {
  std::string user_id;
  // Set only when state was requested and the user has state on the channel.
  std::optional<Json> state;
};

struct HereNowChannel {
  std::string name;
  // Users present, whatever limit and offset were.
  uint32_t occupancy = 0;
  // One page of occupants, ordered by user_id; empty without include_user_ids.
  std::vector<HereNowUser> occupants;
};

struct HereNowResult {
  uint32_t total_channels = 0;
  uint32_t total_occupancy = 0;
  // Ordered by name.
  std::vector<HereNowChannel> channels;
};

struct WhereNowResult {
  std::vector<std::string> channels;  // Sorted.
};

struct SetStateResult {
  std::vector<std::string> channels;  // Where the state was set; sorted.
  Json state;                         // An object.
};

struct GetStateInfo {
  std::string channel_name;
  Json state;  // An object; empty when the user has no state there.
};

struct GetStateResult {
  std::vector<GetStateInfo> state;  // One per channel, sorted by channel.
};

struct HeartbeatResult {
  uint32_t timeout_seconds = 0;             // The timeout the server applied.
  uint32_t heartbeat_interval_seconds = 0;  // How often to send heartbeats.
};

struct LeaveResult {
  std::vector<std::string> channels;  // Channels the user left; sorted.
};

// The outcome of one entry of a batch.
struct BatchEntryResult {
  absl::Status status;  // Errors name the entry: "entries[3].heartbeat...".
  std::optional<HeartbeatResult> heartbeat;  // A heartbeat that succeeded.
  std::optional<LeaveResult> leave;          // A leave that succeeded.
};

struct BatchHeartbeatResult {
  std::vector<BatchEntryResult> results;  // One per entry, in order.
};

struct ListChannelsResult {
  std::vector<std::string> channels;  // Sorted.
};

struct ListGroupsResult {
  std::vector<std::string> groups;  // Sorted.
};

struct GrantTokenResult {
  std::string token;  // For Options::auth_token.
  absl::Time expires;
};

namespace internal {

// Counts the execute_async() calls whose callback has not yet returned.
class InFlightCalls {
 public:
  void Start();
  // Runs `done`, the callback of a started call, on a gRPC thread, then
  // counts the call as finished.
  void Finish(absl::FunctionRef<void()> done);
  // Blocks until every started call has finished. Aborts when called from a
  // callback run by Finish(), where it would wait for itself.
  void WaitUntilNone();

 private:
  std::mutex mu_;
  std::condition_variable none_;
  int count_ = 0;  // Guarded by mu_.
};

// What every call of one client shares. Immutable after construction, and
// gRPC stubs are thread-safe, so it is shared freely across threads.
//
// gRPC breaks when the last reference to a channel is dropped on one of its
// own threads (grpc/grpc#37858). Each execute_async() RPC holds one (in its
// ClientContext) until just before its callback runs, so the destructor waits
// for callbacks to return and the stubs drop the channel on this thread.
struct Connection {
  ~Connection();

  template <typename Service>
  typename Service::StubInterface& stub() const {
    if constexpr (std::is_same_v<Service, v1::PresenceService>) {
      return *presence;
    } else if constexpr (std::is_same_v<Service, v1::ChannelGroupService>) {
      return *channel_groups;
    } else {
      return *access;
    }
  }

  // Adds the call's metadata (the token) to `context`.
  void Prepare(grpc::ClientContext& context) const {
    if (!authorization.empty()) {
      context.AddMetadata("authorization", authorization);
    }
  }

  std::unique_ptr<v1::PresenceService::StubInterface> presence;
  std::unique_ptr<v1::ChannelGroupService::StubInterface> channel_groups;
  std::unique_ptr<v1::AccessService::StubInterface> access;
  // "Bearer <token>", or empty without a token.
  std::string authorization;
  std::string user_id;
  absl::Duration timeout;
  std::shared_ptr<InFlightCalls> in_flight = std::make_shared<InFlightCalls>();
};

// Returns `status` as an absl::Status with the same code and message.
absl::Status FromGrpcStatus(const grpc::Status& status);

// The shared part of every call: holds the request and sends it, blocking or
// with a callback, under a deadline. `Derived` provides
//   static constexpr Method kMethod;  // The RPC, in both forms.
//   static Result ToResult(const Response&);  // Unless Result is void.
// and may hide BuildRequest() to finish or validate the request.
template <typename Derived, typename Service, typename Request,
          typename Response, typename Result>
class UnaryCall {
 public:
  // What execute() returns: absl::Status for RPCs that return nothing.
  using Outcome = std::conditional_t<std::is_void_v<Result>, absl::Status,
                                     absl::StatusOr<Result>>;

  // Sets this call's deadline to `timeout` after it is sent, instead of the
  // client's Options::timeout.
  Derived& timeout(absl::Duration timeout) {
    timeout_ = timeout;
    return static_cast<Derived&>(*this);
  }

  // Sends the RPC and blocks until it completes or its deadline passes.
  // Returns the result, the RPC's error, or INVALID_ARGUMENT (with no RPC)
  // when the request is invalid on the client side.
  Outcome execute() const {
    absl::StatusOr<Request> request = derived().BuildRequest();
    if (!request.ok()) return request.status();
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    connection_->Prepare(context);
    Response response;
    auto& stub = connection_->template stub<Service>();
    grpc::Status status =
        (stub.*Derived::kMethod.call)(&context, *request, &response);
    return ToOutcome(status, response);
  }

  // Sends the RPC without blocking and calls `done` with what execute()
  // would return. `done` runs on a gRPC thread, where it must not block for
  // long, or on the calling thread before execute_async() returns if the
  // request is invalid. The call object may be destroyed right away; see
  // "Lifetime" at the top of this file for the client.
  void execute_async(std::function<void(Outcome)> done) const {
    absl::StatusOr<Request> request = derived().BuildRequest();
    if (!request.ok()) {
      done(request.status());
      return;
    }
    // gRPC needs the context and both messages until the callback runs.
    struct Pending {
      grpc::ClientContext context;
      Request request;
      Response response;
    };
    auto pending = std::make_shared<Pending>();
    pending->context.set_deadline(Deadline());
    connection_->Prepare(pending->context);
    pending->request = *std::move(request);
    Pending& call = *pending;
    std::shared_ptr<InFlightCalls> in_flight = connection_->in_flight;
    in_flight->Start();
    auto* async = connection_->template stub<Service>().async();
    (async->*Derived::kMethod.call_async)(
        &call.context, &call.request, &call.response,
        [pending = std::move(pending), in_flight = std::move(in_flight),
         done = std::move(done)](grpc::Status status) mutable {
          Outcome outcome = ToOutcome(status, pending->response);
          pending.reset();  // Drops the context's channel reference.
          in_flight->Finish([&] {
            done(std::move(outcome));
            done = nullptr;
          });
        });
  }

 protected:
  using Stub = typename Service::StubInterface;
  // A unary RPC of `Service`, as a pair of pointers to its stub methods.
  struct Method {
    grpc::Status (Stub::*call)(grpc::ClientContext*, const Request&, Response*);
    void (Stub::async_interface::*call_async)(
        grpc::ClientContext*, const Request*, Response*,
        std::function<void(grpc::Status)>);
  };

  explicit UnaryCall(std::shared_ptr<const Connection> connection)
      : connection_(std::move(connection)), timeout_(connection_->timeout) {}

  // Returns the request to send, or the error to return instead of sending.
  absl::StatusOr<Request> BuildRequest() const { return request_; }

  // Replaces `field` with `values` and returns *this, for setters.
  Derived& Assign(const std::vector<std::string>& values,
                  google::protobuf::RepeatedPtrField<std::string>* field) {
    field->Clear();
    for (const std::string& value : values) field->Add()->assign(value);
    return static_cast<Derived&>(*this);
  }

  std::shared_ptr<const Connection> connection_;
  absl::Duration timeout_;
  Request request_;

 private:
  const Derived& derived() const { return static_cast<const Derived&>(*this); }

  std::chrono::system_clock::time_point Deadline() const {
    return absl::ToChronoTime(absl::Now() + timeout_);
  }

  static Outcome ToOutcome(const grpc::Status& status,
                           const Response& response) {
    if (!status.ok()) return FromGrpcStatus(status);
    if constexpr (std::is_void_v<Result>) {
      return absl::OkStatus();
    } else {
      return Derived::ToResult(response);
    }
  }
};

}  // namespace internal

class PresenceClient;

// Lists channels' occupancy and, optionally, occupants and their state.
// With no channels and no groups, lists every occupied channel.
class HereNowCall
    : public internal::UnaryCall<HereNowCall, v1::PresenceService,
                                 v1::HereNowRequest, v1::HereNowResponse,
                                 HereNowResult> {
 public:
  HereNowCall& channels(const std::vector<std::string>& names) {
    return Assign(names, request_.mutable_channels());
  }
  HereNowCall& channel_groups(const std::vector<std::string>& names) {
    return Assign(names, request_.mutable_channel_groups());
  }
  // Whether occupants are listed; the server's default is true.
  HereNowCall& include_user_ids(bool include) {
    request_.set_include_user_ids(include);
    return *this;
  }
  // Whether each occupant's state is included; default false.
  HereNowCall& include_state(bool include) {
    request_.set_include_state(include);
    return *this;
  }
  // Occupants listed per channel: 0 (the default) means 1000, the maximum.
  HereNowCall& limit(uint32_t limit) {
    request_.set_limit(limit);
    return *this;
  }
  // Occupants skipped per channel, in user_id order.
  HereNowCall& offset(uint32_t offset) {
    request_.set_offset(offset);
    return *this;
  }

 private:
  friend PresenceClient;
  friend UnaryCall;
  static constexpr Method kMethod{&Stub::HereNow,
                                  &Stub::async_interface::HereNow};
  using UnaryCall::UnaryCall;
  static HereNowResult ToResult(const v1::HereNowResponse& response);
};

// Lists the channels where a user is present.
class WhereNowCall
    : public internal::UnaryCall<WhereNowCall, v1::PresenceService,
                                 v1::WhereNowRequest, v1::WhereNowResponse,
                                 WhereNowResult> {
 public:
  WhereNowCall& user_id(std::string user_id) {
    request_.set_user_id(std::move(user_id));
    return *this;
  }

 private:
  friend PresenceClient;
  friend UnaryCall;
  static constexpr Method kMethod{&Stub::WhereNow,
                                  &Stub::async_interface::WhereNow};
  using UnaryCall::UnaryCall;
  static WhereNowResult ToResult(const v1::WhereNowResponse& response);
};

// Replaces a user's state on channels (and groups' channels) where the user
// is present. The server answers FAILED_PRECONDITION for a listed channel
// where the user is not present.
class SetStateCall
    : public internal::UnaryCall<SetStateCall, v1::PresenceService,
                                 v1::SetStateRequest, v1::SetStateResponse,
                                 SetStateResult> {
 public:
  SetStateCall& channels(const std::vector<std::string>& names) {
    return Assign(names, request_.mutable_channels());
  }
  SetStateCall& channel_groups(const std::vector<std::string>& names) {
    return Assign(names, request_.mutable_channel_groups());
  }
  SetStateCall& user_id(std::string user_id) {
    request_.set_user_id(std::move(user_id));
    return *this;
  }

 private:
  friend PresenceClient;
  friend UnaryCall;
  static constexpr Method kMethod{&Stub::SetState,
                                  &Stub::async_interface::SetState};
  SetStateCall(std::shared_ptr<const internal::Connection> connection,
               Json state)
      : UnaryCall(std::move(connection)), state_(std::move(state)) {}
  // Adds the state; INVALID_ARGUMENT unless it is an object of finite values.
  absl::StatusOr<v1::SetStateRequest> BuildRequest() const;
  static SetStateResult ToResult(const v1::SetStateResponse& response);

  Json state_;
};

// Reads a user's state on channels (and groups' channels).
class GetStateCall
    : public internal::UnaryCall<GetStateCall, v1::PresenceService,
                                 v1::GetStateRequest, v1::GetStateResponse,
                                 GetStateResult> {
 public:
  GetStateCall& channels(const std::vector<std::string>& names) {
    return Assign(names, request_.mutable_channels());
  }
  GetStateCall& channel_groups(const std::vector<std::string>& names) {
    return Assign(names, request_.mutable_channel_groups());
  }
  GetStateCall& user_id(std::string user_id) {
    request_.set_user_id(std::move(user_id));
    return *this;
  }

 private:
  friend PresenceClient;
  friend UnaryCall;
  static constexpr Method kMethod{&Stub::GetState,
                                  &Stub::async_interface::GetState};
  using UnaryCall::UnaryCall;
  static GetStateResult ToResult(const v1::GetStateResponse& response);
};

// Announces, or keeps alive, a user's presence on channels (and groups'
// channels) for one session, optionally setting state.
class HeartbeatCall
    : public internal::UnaryCall<HeartbeatCall, v1::PresenceService,
                                 v1::HeartbeatRequest, v1::HeartbeatResponse,
                                 HeartbeatResult> {
 public:
  HeartbeatCall& channels(const std::vector<std::string>& names) {
    return Assign(names, request_.mutable_channels());
  }
  HeartbeatCall& channel_groups(const std::vector<std::string>& names) {
    return Assign(names, request_.mutable_channel_groups());
  }
  HeartbeatCall& user_id(std::string user_id) {
    request_.set_user_id(std::move(user_id));
    return *this;
  }
  // Presence timeout of this session; 0 (the default) means the server's.
  HeartbeatCall& timeout_seconds(uint32_t seconds) {
    request_.set_timeout_seconds(seconds);
    return *this;
  }
  // The session (device, tab); empty (the default) is the default session.
  HeartbeatCall& session_id(std::string session_id) {
    request_.set_session_id(std::move(session_id));
    return *this;
  }
  // Sets `state` (an object) on the channel, or on each channel of the
  // group, named `channel_or_group`. Replaces an earlier state() of the name.
  HeartbeatCall& state(std::string channel_or_group, Json state) {
    states_.insert_or_assign(std::move(channel_or_group), std::move(state));
    return *this;
  }

 private:
  friend PresenceClient;
  friend UnaryCall;
  static constexpr Method kMethod{&Stub::Heartbeat,
                                  &Stub::async_interface::Heartbeat};
  using UnaryCall::UnaryCall;
  // Adds the states; INVALID_ARGUMENT unless each is an object of finite
  // values.
  absl::StatusOr<v1::HeartbeatRequest> BuildRequest() const;
  static HeartbeatResult ToResult(const v1::HeartbeatResponse& response);

  std::map<std::string, Json> states_;
};

// Ends a session's presence on channels (and groups' channels) now.
class LeaveCall : public internal::UnaryCall<LeaveCall, v1::PresenceService,
                                             v1::LeaveRequest,
                                             v1::LeaveResponse, LeaveResult> {
 public:
  LeaveCall& channels(const std::vector<std::string>& names) {
    return Assign(names, request_.mutable_channels());
  }
  LeaveCall& channel_groups(const std::vector<std::string>& names) {
    return Assign(names, request_.mutable_channel_groups());
  }
  LeaveCall& user_id(std::string user_id) {
    request_.set_user_id(std::move(user_id));
    return *this;
  }
  // The session that leaves; empty (the default) is the default session.
  LeaveCall& session_id(std::string session_id) {
    request_.set_session_id(std::move(session_id));
    return *this;
  }

 private:
  friend PresenceClient;
  friend UnaryCall;
  static constexpr Method kMethod{&Stub::Leave, &Stub::async_interface::Leave};
  using UnaryCall::UnaryCall;
  static LeaveResult ToResult(const v1::LeaveResponse& response);
};

// Heartbeats and leaves of many users in one RPC, for services that hold
// the users' connections. Each entry has the single call's semantics and its
// own result; a bad entry does not fail the others.
//
//   auto batch = pubnub.batch_heartbeat()
//                    .heartbeat("alice", {"lobby"}, /*timeout_seconds=*/60)
//                    .heartbeat("bob", {"lobby", "hall"})
//                    .leave("carol", {"lobby"})
//                    .execute();
//   // batch->results[i].status, .heartbeat, .leave
class BatchHeartbeatCall
    : public internal::UnaryCall<
          BatchHeartbeatCall, v1::PresenceService, v1::BatchHeartbeatRequest,
          v1::BatchHeartbeatResponse, BatchHeartbeatResult> {
 public:
  // Adds a heartbeat of `user_id`'s session `session_id` on `channels`;
  // `timeout_seconds` 0 means the server's default.
  BatchHeartbeatCall& heartbeat(std::string user_id,
                                const std::vector<std::string>& channels,
                                uint32_t timeout_seconds = 0,
                                std::string session_id = "");
  // Adds a leave of `user_id`'s session `session_id` from `channels`.
  BatchHeartbeatCall& leave(std::string user_id,
                            const std::vector<std::string>& channels,
                            std::string session_id = "");

 private:
  friend PresenceClient;
  friend UnaryCall;
  static constexpr Method kMethod{&Stub::BatchHeartbeat,
                                  &Stub::async_interface::BatchHeartbeat};
  using UnaryCall::UnaryCall;
  static BatchHeartbeatResult ToResult(
      const v1::BatchHeartbeatResponse& response);
};

// Adds channels to a group, creating the group if needed.
class AddChannelsToGroupCall
    : public internal::UnaryCall<
          AddChannelsToGroupCall, v1::ChannelGroupService,
          v1::AddChannelsRequest, v1::AddChannelsResponse, void> {
 public:
  AddChannelsToGroupCall& channels(const std::vector<std::string>& names) {
    return Assign(names, request_.mutable_channels());
  }

 private:
  friend PresenceClient;
  friend UnaryCall;
  static constexpr Method kMethod{&Stub::AddChannels,
                                  &Stub::async_interface::AddChannels};
  using UnaryCall::UnaryCall;
};

// Removes channels from a group; removing the last one deletes the group.
class RemoveChannelsFromGroupCall
    : public internal::UnaryCall<
          RemoveChannelsFromGroupCall, v1::ChannelGroupService,
          v1::RemoveChannelsRequest, v1::RemoveChannelsResponse, void> {
 public:
  RemoveChannelsFromGroupCall& channels(const std::vector<std::string>& names) {
    return Assign(names, request_.mutable_channels());
  }

 private:
  friend PresenceClient;
  friend UnaryCall;
  static constexpr Method kMethod{&Stub::RemoveChannels,
                                  &Stub::async_interface::RemoveChannels};
  using UnaryCall::UnaryCall;
};

// Lists a group's channels.
class ListChannelsInGroupCall
    : public internal::UnaryCall<ListChannelsInGroupCall,
                                 v1::ChannelGroupService,
                                 v1::ListChannelsRequest,
                                 v1::ListChannelsResponse, ListChannelsResult> {
 private:
  friend PresenceClient;
  friend UnaryCall;
  static constexpr Method kMethod{&Stub::ListChannels,
                                  &Stub::async_interface::ListChannels};
  using UnaryCall::UnaryCall;
  static ListChannelsResult ToResult(const v1::ListChannelsResponse& response);
};

// Lists every channel group.
class ListGroupsCall
    : public internal::UnaryCall<ListGroupsCall, v1::ChannelGroupService,
                                 v1::ListGroupsRequest, v1::ListGroupsResponse,
                                 ListGroupsResult> {
 private:
  friend PresenceClient;
  friend UnaryCall;
  static constexpr Method kMethod{&Stub::ListGroups,
                                  &Stub::async_interface::ListGroups};
  using UnaryCall::UnaryCall;
  static ListGroupsResult ToResult(const v1::ListGroupsResponse& response);
};

// Deletes a channel group.
class DeleteGroupCall
    : public internal::UnaryCall<DeleteGroupCall, v1::ChannelGroupService,
                                 v1::DeleteGroupRequest,
                                 v1::DeleteGroupResponse, void> {
 private:
  friend PresenceClient;
  friend UnaryCall;
  static constexpr Method kMethod{&Stub::DeleteGroup,
                                  &Stub::async_interface::DeleteGroup};
  using UnaryCall::UnaryCall;
};

// What a grant allows on its channels or groups.
struct TokenPermissions {
  bool read = false;    // HereNow, GetState, WatchEvents; ListChannels.
  bool write = false;   // Heartbeat, Leave, SetState, batch entries.
  bool manage = false;  // Channel groups.
};

// Mints a token (AccessService.GrantToken) for callers of a server run with
// --auth=token; the client's own token must be an admin token.
//
//   auto granted = admin.grant_token()
//                      .ttl(absl::Hours(1))
//                      .authorized_user_id("alice")
//                      .channels({"lobby"}, {.read = true, .write = true})
//                      .channel_prefixes({"room-"}, {.read = true})
//                      .execute();
//   PresenceClient alice({..., .auth_token = granted->token});
class GrantTokenCall
    : public internal::UnaryCall<GrantTokenCall, v1::AccessService,
                                 v1::GrantTokenRequest, v1::GrantTokenResponse,
                                 GrantTokenResult> {
 public:
  // The token's lifetime, in whole seconds (1 s to 365 days). Required.
  GrantTokenCall& ttl(absl::Duration ttl) {
    request_.set_ttl_seconds(static_cast<uint32_t>(absl::ToInt64Seconds(ttl)));
    return *this;
  }
  // Binds the token to a user: it acts only as this user.
  GrantTokenCall& authorized_user_id(std::string user_id) {
    request_.set_user_id(std::move(user_id));
    return *this;
  }
  // Grants on exact channel names, on every channel starting with a prefix,
  // and on channel groups. Calls add up.
  GrantTokenCall& channels(const std::vector<std::string>& names,
                           TokenPermissions permissions) {
    return Add(names, permissions, &v1::Grant::set_channel);
  }
  GrantTokenCall& channel_prefixes(const std::vector<std::string>& prefixes,
                                   TokenPermissions permissions) {
    return Add(prefixes, permissions, &v1::Grant::set_channel_prefix);
  }
  GrantTokenCall& channel_groups(const std::vector<std::string>& names,
                                 TokenPermissions permissions) {
    return Add(names, permissions, &v1::Grant::set_channel_group);
  }
  // Read everything: the global HereNow, the firehose, WhereNow of anyone,
  // ListGroups.
  GrantTokenCall& presence_admin(bool on) {
    request_.set_presence_admin(on);
    return *this;
  }
  // Every RPC, including GrantToken.
  GrantTokenCall& admin(bool on) {
    request_.set_admin(on);
    return *this;
  }

 private:
  friend PresenceClient;
  friend UnaryCall;
  static constexpr Method kMethod{&Stub::GrantToken,
                                  &Stub::async_interface::GrantToken};
  using UnaryCall::UnaryCall;
  static GrantTokenResult ToResult(const v1::GrantTokenResponse& response);

  GrantTokenCall& Add(const std::vector<std::string>& names,
                      TokenPermissions permissions,
                      void (v1::Grant::*set_name)(const std::string&)) {
    for (const std::string& name : names) {
      v1::Grant* grant = request_.add_grants();
      (grant->*set_name)(name);
      grant->set_read(permissions.read);
      grant->set_write(permissions.write);
      grant->set_manage(permissions.manage);
    }
    return *this;
  }
};

// One presence event from a watch (presence.v1.WatchEventsResponse).
struct WatchEvent {
  enum class Action {
    kUnspecified,
    kJoin,
    kLeave,
    kTimeout,
    kStateChange,
    kInterval,
    kActive,
    kInactive
  };
  std::string channel;
  Action action = Action::kUnspecified;
  std::string user_id;     // Join, leave, timeout and state change.
  uint32_t occupancy = 0;  // After the event.
  absl::Time time;
  std::optional<Json> state;  // Joins with state and state changes.
  // Interval events: who joined, left and timed out since the last one, or
  // here_now_refresh when the lists were too large (re-read with here_now).
  std::vector<std::string> join;
  std::vector<std::string> leave;
  std::vector<std::string> timeout;
  bool here_now_refresh = false;
  // Strictly increasing per channel; the low 32 bits count an epoch's events
  // from 1, so a gap means missed events.
  uint64_t sequence = 0;
};

// Returns "join", "leave", "timeout", "state-change", "interval", "active",
// "inactive" or "unspecified".
const char* ActionName(WatchEvent::Action action);

// A live WatchEvents stream, from WatchCall::open(). Every event the server
// emits for the watched channels after open() returned arrives, in order per
// channel, while the reader keeps up; a reader that falls too far behind
// sees the stream end with RESOURCE_EXHAUSTED and should re-read with
// here_now() and watch again (as after any error).
//
//   auto stream = pubnub.watch().channels({"lobby"}).open();
//   WatchEvent event;
//   while ((*stream)->Next(&event)) { ... }
//   absl::Status why = (*stream)->Finish();
//
// Next() and Finish() are for one thread; Cancel() may be called from any.
class EventStream {
 public:
  ~EventStream();  // Cancels the stream if it is still open.
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

  // Blocks for the next event; returns false when the stream has ended.
  bool Next(WatchEvent* event);

  // Returns why the stream ended (OK never: a watch ends with an error or
  // CANCELLED). Blocks until it has ended; call after Next() returned false
  // or after Cancel().
  absl::Status Finish();

  // Ends the stream; a blocked Next() returns false.
  void Cancel();

 private:
  friend class WatchCall;
  EventStream() = default;

  std::shared_ptr<const internal::Connection> connection_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderInterface<v1::WatchEventsResponse>> reader_;
  bool finished_ = false;
  absl::Status status_;
};

// Watches presence events of channels and channel groups (a group watch
// follows the group's membership); with neither, of every channel.
class WatchCall {
 public:
  WatchCall& channels(const std::vector<std::string>& names) {
    request_.mutable_channels()->Assign(names.begin(), names.end());
    return *this;
  }
  WatchCall& channel_groups(const std::vector<std::string>& names) {
    request_.mutable_channel_groups()->Assign(names.begin(), names.end());
    return *this;
  }
  // Ends the stream after `timeout` (DEADLINE_EXCEEDED); by default a watch
  // lasts until cancelled.
  WatchCall& timeout(absl::Duration timeout) {
    timeout_ = timeout;
    return *this;
  }

  // Opens the stream. Returns once the server has registered the watch, so
  // every event after this point will be delivered; or the error (e.g.
  // INVALID_ARGUMENT, NOT_FOUND for a group, UNAVAILABLE).
  absl::StatusOr<std::unique_ptr<EventStream>> open() const;

 private:
  friend class PresenceClient;
  explicit WatchCall(std::shared_ptr<const internal::Connection> connection)
      : connection_(std::move(connection)) {}

  std::shared_ptr<const internal::Connection> connection_;
  v1::WatchEventsRequest request_;
  std::optional<absl::Duration> timeout_;
};

// The entry point: makes calls that share one gRPC channel.
class PresenceClient {
 public:
  // Meant for designated initializers: `{.target = ..., .user_id = ...}`.
  // Every member has an initializer so that omitting one draws no
  // -Wmissing-field-initializers warning.
  struct Options {
    // The server's address, e.g. "127.0.0.1:50051" or "dns:///host:443".
    std::string target = {};
    // The user that calls act for unless they set user_id().
    std::string user_id = {};
    // Each call's deadline, counted from when it is sent, unless the call
    // sets timeout().
    absl::Duration timeout = absl::Seconds(5);
    // The channel's credentials; null means plaintext. For TLS, see
    // TlsCredentialsFromFiles().
    std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr;
    // A token (from grant_token() or `presence_cli grant`) sent with every
    // call as "authorization: Bearer <token>" metadata; empty sends none.
    // Servers run with --auth=token need one.
    std::string auth_token = {};
  };

  // Creates a client with a new channel to `options.target`. Connecting is
  // lazy: an unreachable server shows up as calls failing with UNAVAILABLE
  // or DEADLINE_EXCEEDED.
  explicit PresenceClient(Options options);

  // Returns a client that sends its calls on `channel` (which may be shared
  // with other clients, or be an in-process channel); `options.target` and
  // `options.credentials` are ignored.
  static PresenceClient FromChannel(
      const std::shared_ptr<grpc::ChannelInterface>& channel, Options options);

  // The user that calls act for by default.
  const std::string& user_id() const { return connection_->user_id; }

  // Presence.
  HereNowCall here_now() const;
  WhereNowCall where_now() const;
  // `state` must be a JSON object; otherwise execute() returns
  // INVALID_ARGUMENT without sending anything.
  SetStateCall set_presence_state(Json state) const;
  GetStateCall get_presence_state() const;
  HeartbeatCall heartbeat() const;
  LeaveCall leave() const;
  BatchHeartbeatCall batch_heartbeat() const;
  WatchCall watch() const;

  // Channel groups.
  AddChannelsToGroupCall add_channels_to_group(std::string group) const;
  RemoveChannelsFromGroupCall remove_channels_from_group(
      std::string group) const;
  ListChannelsInGroupCall list_channels_in_group(std::string group) const;
  ListGroupsCall list_groups() const;
  DeleteGroupCall delete_group(std::string group) const;

  // Access tokens (needs an admin token; see GrantTokenCall).
  GrantTokenCall grant_token() const;

 private:
  explicit PresenceClient(std::shared_ptr<const internal::Connection> c)
      : connection_(std::move(c)) {}

  std::shared_ptr<const internal::Connection> connection_;
};

}  // namespace presence::client

#endif  // PRESENCE_CLIENT_PRESENCE_CLIENT_H_
