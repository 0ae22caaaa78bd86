#include "client/presence_client.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "client/json_struct.h"
#include "grpcpp/create_channel.h"
#include "presence/v1/watch_metadata.h"

namespace presence::client {
namespace {

std::vector<std::string> ToVector(
    const google::protobuf::RepeatedPtrField<std::string>& values) {
  return {values.begin(), values.end()};
}

// Returns `state` as a Struct, or INVALID_ARGUMENT naming `field`.
absl::StatusOr<google::protobuf::Struct> StateToStruct(
    const Json& state, absl::string_view field) {
  absl::StatusOr<google::protobuf::Struct> proto = ToStruct(state);
  if (!proto.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", proto.status().message()));
  }
  return proto;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
TlsCredentialsFromFiles(const std::string& ca_file,
                        const std::string& cert_file,
                        const std::string& key_file) {
  if (cert_file.empty() != key_file.empty()) {
    return absl::InvalidArgumentError(
        "a client certificate and its key go together");
  }
  grpc::SslCredentialsOptions options;
  const struct {
    const std::string& path;
    std::string* pem;
  } kFiles[] = {{ca_file, &options.pem_root_certs},
                {cert_file, &options.pem_cert_chain},
                {key_file, &options.pem_private_key}};
  for (const auto& file : kFiles) {
    if (file.path.empty()) continue;
    std::ifstream in(file.path, std::ios::binary);
    if (!in) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot read ", file.path));
    }
    std::ostringstream text;
    text << in.rdbuf();
    *file.pem = text.str();
  }
  return grpc::SslCredentials(options);
}

namespace internal {
namespace {

// Whether this thread is running a callback for InFlightCalls::Finish().
thread_local bool t_in_callback = false;

}  // namespace

void InFlightCalls::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  ++count_;
}

void InFlightCalls::Finish(absl::FunctionRef<void()> done) {
  t_in_callback = true;
  done();
  t_in_callback = false;
  std::lock_guard<std::mutex> lock(mu_);
  if (--count_ == 0) none_.notify_all();
}

void InFlightCalls::WaitUntilNone() {
  if (t_in_callback) {
    std::fprintf(stderr,
                 "presence::client: the last copy of a PresenceClient (or of "
                 "a call object) was destroyed in an execute_async callback; "
                 "gRPC cannot destroy a channel on its own threads\n");
    std::abort();
  }
  std::unique_lock<std::mutex> lock(mu_);
  none_.wait(lock, [this] { return count_ == 0; });
}

Connection::~Connection() { in_flight->WaitUntilNone(); }

absl::Status FromGrpcStatus(const grpc::Status& status) {
  // gRPC and absl number their codes alike (absl's follow gRPC's).
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

}  // namespace internal

const char* ActionName(WatchEvent::Action action) {
  switch (action) {
    case WatchEvent::Action::kJoin:
      return "join";
    case WatchEvent::Action::kLeave:
      return "leave";
    case WatchEvent::Action::kTimeout:
      return "timeout";
    case WatchEvent::Action::kStateChange:
      return "state-change";
    case WatchEvent::Action::kInterval:
      return "interval";
    case WatchEvent::Action::kActive:
      return "active";
    case WatchEvent::Action::kInactive:
      return "inactive";
    case WatchEvent::Action::kUnspecified:
      break;
  }
  return "unspecified";
}

EventStream::~EventStream() {
  if (!finished_) {
    Cancel();
    Finish().IgnoreError();
  }
}

bool EventStream::Next(WatchEvent* event) {
  v1::WatchEventsResponse message;
  if (finished_ || !reader_->Read(&message)) return false;
  *event = WatchEvent();
  event->channel = message.channel();
  event->action = static_cast<WatchEvent::Action>(message.action());
  event->user_id = message.user_id();
  event->occupancy = message.occupancy();
  event->time = absl::FromUnixSeconds(message.time().seconds()) +
                absl::Nanoseconds(message.time().nanos());
  if (message.has_state()) event->state = FromStruct(message.state());
  event->join = ToVector(message.join());
  event->leave = ToVector(message.leave());
  event->timeout = ToVector(message.timeout());
  event->here_now_refresh = message.here_now_refresh();
  event->sequence = message.sequence();
  return true;
}

absl::Status EventStream::Finish() {
  if (!finished_) {
    // Drain what is left so Finish() does not wait on unread messages.
    v1::WatchEventsResponse ignored;
    while (reader_->Read(&ignored)) {
    }
    status_ = internal::FromGrpcStatus(reader_->Finish());
    finished_ = true;
  }
  return status_;
}

void EventStream::Cancel() { context_.TryCancel(); }

absl::StatusOr<std::unique_ptr<EventStream>> WatchCall::open() const {
  std::unique_ptr<EventStream> stream(new EventStream());
  stream->connection_ = connection_;
  if (timeout_.has_value()) {
    stream->context_.set_deadline(absl::ToChronoTime(absl::Now() + *timeout_));
  }
  connection_->Prepare(stream->context_);
  stream->reader_ =
      connection_->presence->WatchEvents(&stream->context_, request_);
  stream->reader_->WaitForInitialMetadata();
  // The server marks a registered watch; without the mark the stream failed.
  if (stream->context_.GetServerInitialMetadata().count(
          v1::kWatchRegisteredMetadataKey) == 0) {
    absl::Status status = stream->Finish();
    if (status.ok()) status = absl::InternalError("watch ended at once");
    return status;
  }
  return stream;
}

HereNowResult HereNowCall::ToResult(const v1::HereNowResponse& response) {
  HereNowResult result;
  result.total_channels = response.total_channels();
  result.total_occupancy = response.total_occupancy();
  result.channels.reserve(response.channels_size());
  for (const v1::HereNowChannel& channel : response.channels()) {
    HereNowChannel& out = result.channels.emplace_back();
    out.name = channel.name();
    out.occupancy = channel.occupancy();
    out.occupants.reserve(channel.occupants_size());
    for (const v1::HereNowUser& user : channel.occupants()) {
      HereNowUser& occupant = out.occupants.emplace_back();
      occupant.user_id = user.user_id();
      if (user.has_state()) occupant.state = FromStruct(user.state());
    }
  }
  return result;
}

WhereNowResult WhereNowCall::ToResult(const v1::WhereNowResponse& response) {
  return {ToVector(response.channels())};
}

absl::StatusOr<v1::SetStateRequest> SetStateCall::BuildRequest() const {
  absl::StatusOr<google::protobuf::Struct> state =
      StateToStruct(state_, "state");
  if (!state.ok()) return state.status();
  v1::SetStateRequest request = request_;
  *request.mutable_state() = *std::move(state);
  return request;
}

SetStateResult SetStateCall::ToResult(const v1::SetStateResponse& response) {
  return {ToVector(response.channels()), FromStruct(response.state())};
}

GetStateResult GetStateCall::ToResult(const v1::GetStateResponse& response) {
  GetStateResult result;
  result.state.reserve(response.states_size());
  for (const v1::GetStateInfo& info : response.states()) {
    result.state.push_back({info.channel_name(), FromStruct(info.state())});
  }
  return result;
}

absl::StatusOr<v1::HeartbeatRequest> HeartbeatCall::BuildRequest() const {
  v1::HeartbeatRequest request = request_;
  auto& states = *request.mutable_states();
  for (const auto& [name, state] : states_) {
    absl::StatusOr<google::protobuf::Struct> proto =
        StateToStruct(state, absl::StrCat("states[\"", name, "\"]"));
    if (!proto.ok()) return proto.status();
    states[name] = *std::move(proto);
  }
  return request;
}

HeartbeatResult HeartbeatCall::ToResult(const v1::HeartbeatResponse& response) {
  return {response.timeout_seconds(), response.heartbeat_interval_seconds()};
}

LeaveResult LeaveCall::ToResult(const v1::LeaveResponse& response) {
  return {ToVector(response.channels())};
}

BatchHeartbeatCall& BatchHeartbeatCall::heartbeat(
    std::string user_id, const std::vector<std::string>& channels,
    uint32_t timeout_seconds, std::string session_id) {
  v1::HeartbeatRequest* heartbeat = request_.add_entries()->mutable_heartbeat();
  heartbeat->set_user_id(std::move(user_id));
  for (const std::string& channel : channels) heartbeat->add_channels(channel);
  heartbeat->set_timeout_seconds(timeout_seconds);
  heartbeat->set_session_id(std::move(session_id));
  return *this;
}

BatchHeartbeatCall& BatchHeartbeatCall::leave(
    std::string user_id, const std::vector<std::string>& channels,
    std::string session_id) {
  v1::LeaveRequest* leave = request_.add_entries()->mutable_leave();
  leave->set_user_id(std::move(user_id));
  for (const std::string& channel : channels) leave->add_channels(channel);
  leave->set_session_id(std::move(session_id));
  return *this;
}

BatchHeartbeatResult BatchHeartbeatCall::ToResult(
    const v1::BatchHeartbeatResponse& response) {
  BatchHeartbeatResult result;
  result.results.reserve(response.results_size());
  for (const v1::BatchEntryResult& entry : response.results()) {
    BatchEntryResult& out = result.results.emplace_back();
    out.status = absl::Status(static_cast<absl::StatusCode>(entry.code()),
                              entry.message());
    if (entry.has_heartbeat()) {
      out.heartbeat =
          HeartbeatResult{entry.heartbeat().timeout_seconds(),
                          entry.heartbeat().heartbeat_interval_seconds()};
    } else if (entry.has_leave()) {
      out.leave = LeaveResult{ToVector(entry.leave().channels())};
    }
  }
  return result;
}

ListChannelsResult ListChannelsInGroupCall::ToResult(
    const v1::ListChannelsResponse& response) {
  return {ToVector(response.channels())};
}

GrantTokenResult GrantTokenCall::ToResult(
    const v1::GrantTokenResponse& response) {
  return {response.token(),
          absl::FromUnixSeconds(response.expire_time().seconds())};
}

ListGroupsResult ListGroupsCall::ToResult(
    const v1::ListGroupsResponse& response) {
  return {ToVector(response.groups())};
}

PresenceClient::PresenceClient(Options options) {
  std::shared_ptr<grpc::Channel> channel = grpc::CreateChannel(
      options.target, options.credentials ? options.credentials
                                          : grpc::InsecureChannelCredentials());
  *this = FromChannel(channel, std::move(options));
}

PresenceClient PresenceClient::FromChannel(
    const std::shared_ptr<grpc::ChannelInterface>& channel, Options options) {
  auto connection = std::make_shared<internal::Connection>();
  connection->presence = v1::PresenceService::NewStub(channel);
  connection->channel_groups = v1::ChannelGroupService::NewStub(channel);
  connection->access = v1::AccessService::NewStub(channel);
  if (!options.auth_token.empty()) {
    connection->authorization = absl::StrCat("Bearer ", options.auth_token);
  }
  connection->user_id = std::move(options.user_id);
  connection->timeout = options.timeout;
  return PresenceClient(std::move(connection));
}

HereNowCall PresenceClient::here_now() const {
  return HereNowCall(connection_);
}

WhereNowCall PresenceClient::where_now() const {
  return WhereNowCall(connection_).user_id(connection_->user_id);
}

SetStateCall PresenceClient::set_presence_state(Json state) const {
  return SetStateCall(connection_, std::move(state))
      .user_id(connection_->user_id);
}

GetStateCall PresenceClient::get_presence_state() const {
  return GetStateCall(connection_).user_id(connection_->user_id);
}

HeartbeatCall PresenceClient::heartbeat() const {
  return HeartbeatCall(connection_).user_id(connection_->user_id);
}

WatchCall PresenceClient::watch() const { return WatchCall(connection_); }

LeaveCall PresenceClient::leave() const {
  return LeaveCall(connection_).user_id(connection_->user_id);
}

BatchHeartbeatCall PresenceClient::batch_heartbeat() const {
  return BatchHeartbeatCall(connection_);
}

GrantTokenCall PresenceClient::grant_token() const {
  return GrantTokenCall(connection_);
}

AddChannelsToGroupCall PresenceClient::add_channels_to_group(
    std::string group) const {
  AddChannelsToGroupCall call(connection_);
  call.request_.set_group(std::move(group));
  return call;
}

RemoveChannelsFromGroupCall PresenceClient::remove_channels_from_group(
    std::string group) const {
  RemoveChannelsFromGroupCall call(connection_);
  call.request_.set_group(std::move(group));
  return call;
}

ListChannelsInGroupCall PresenceClient::list_channels_in_group(
    std::string group) const {
  ListChannelsInGroupCall call(connection_);
  call.request_.set_group(std::move(group));
  return call;
}

ListGroupsCall PresenceClient::list_groups() const {
  return ListGroupsCall(connection_);
}

DeleteGroupCall PresenceClient::delete_group(std::string group) const {
  DeleteGroupCall call(connection_);
  call.request_.set_group(std::move(group));
  return call;
}

}  // namespace presence::client
