// echo_server: the baseline of the gRPC benchmarks. It serves
// presence.v1.PresenceService with canned answers of the sizes the real
// server gives for the same workload, and no presence logic at all, so that
//
//   load_generator against presence_server / load_generator against echo
//
// is the cost of presence itself on this machine, this gRPC build and this
// load generator. The load generator drives both identically.
//
// Two server APIs, chosen with --api:
//   cq        one completion queue per core, --threads_per_cq threads each,
//             --requests_per_cq calls pre-posted per method and queue (the
//             shape of gRPC's own qps_worker and grpc_bench's cpp_grpc_mt);
//   callback  the callback API (what presence_server uses).
// bench/run_all.sh measures both and divides by the faster.
//
// Canned answers (names from bench/names.h):
//   Heartbeat  the timeout asked for (0 = 300) and the interval;
//   HereNow    per channel asked (or one channel if none): occupancy
//              --here_now_occupancy, and the page of that many occupants at
//              the request's offset and limit (0 = 1000), as u-<offset+i>;
//   WhereNow   --where_now_channels channels;
//   Leave      the channels asked; SetState/GetState echo their channels;
//   BatchHeartbeat  per entry, what Heartbeat or Leave would answer;
//   WatchEvents  registers the watcher (sending the "registered" metadata);
//              every Heartbeat and Leave (and batch entry) then sends one
//              event per named channel (a join or a leave of the request's
//              user) to that channel's watchers, encoded once, written with
//              buffer hints when more are queued, like the real server.
//
// Prints "echo_server listening on <host>:<port> ..." on stderr; SIGTERM or
// SIGINT ends it (at once: it holds nothing worth draining).
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/names.h"
#include "grpcpp/grpcpp.h"
#include "presence/v1/presence.grpc.pb.h"
#include "presence/v1/watch_metadata.h"

ABSL_FLAG(std::string, listen_address, "127.0.0.1:0",
          "host:port; port 0 picks a free port (logged)");
ABSL_FLAG(std::string, api, "cq", "cq (completion queues) or callback");
ABSL_FLAG(int, cqs, 0, "--api=cq: completion queues (0: one per core)");
ABSL_FLAG(int, threads_per_cq, 2, "--api=cq: threads polling each queue");
ABSL_FLAG(int, requests_per_cq, 64,
          "--api=cq: calls pre-posted per method and queue");
ABSL_FLAG(uint32_t, here_now_occupancy, 15,
          "Occupancy HereNow reports per channel (and pages through)");
ABSL_FLAG(uint32_t, where_now_channels, 3, "Channels WhereNow returns");

namespace presence::bench {
namespace {

using v1::PresenceService;

// ---------------------------------------------------------------------------
// Canned answers, shared by both APIs.

class Canned {
 public:
  Canned(uint32_t occupancy, uint32_t where_now_channels)
      : occupancy_(occupancy) {
    for (uint32_t i = 0; i < where_now_channels; ++i)
      where_now_.push_back(Name(kChannelPrefix, i));
  }

  void Heartbeat(const v1::HeartbeatRequest& request,
                 v1::HeartbeatResponse* response) const {
    const uint32_t timeout =
        request.timeout_seconds() == 0 ? 300 : request.timeout_seconds();
    response->set_timeout_seconds(timeout);
    response->set_heartbeat_interval_seconds(timeout / 2 > 1 ? timeout / 2 - 1
                                                             : 1);
  }

  void HereNow(const v1::HereNowRequest& request,
               v1::HereNowResponse* response) const {
    const bool ids =
        !request.has_include_user_ids() || request.include_user_ids();
    const uint32_t limit = request.limit() == 0 ? 1000 : request.limit();
    const uint32_t first = request.offset();
    const uint32_t count =
        occupancy_ > first ? std::min(limit, occupancy_ - first) : 0;
    auto add = [&](const std::string& name) {
      v1::HereNowChannel* channel = response->add_channels();
      channel->set_name(name);
      channel->set_occupancy(occupancy_);
      if (!ids) return;
      channel->mutable_occupants()->Reserve(count);
      for (uint32_t i = 0; i < count; ++i)
        channel->add_occupants()->set_user_id(Name(kUserPrefix, first + i));
    };
    if (request.channels().empty()) {
      add(Name(kChannelPrefix, 0));
    } else {
      for (const std::string& name : request.channels()) add(name);
    }
    response->set_total_channels(response->channels_size());
    response->set_total_occupancy(occupancy_ * response->channels_size());
  }

  void WhereNow(const v1::WhereNowRequest&,
                v1::WhereNowResponse* response) const {
    response->mutable_channels()->Reserve(where_now_.size());
    for (const std::string& name : where_now_) response->add_channels(name);
  }

  void SetState(const v1::SetStateRequest& request,
                v1::SetStateResponse* response) const {
    *response->mutable_channels() = request.channels();
    *response->mutable_state() = request.state();
  }

  void GetState(const v1::GetStateRequest& request,
                v1::GetStateResponse* response) const {
    for (const std::string& name : request.channels())
      response->add_states()->set_channel_name(name);
  }

  void Leave(const v1::LeaveRequest& request,
             v1::LeaveResponse* response) const {
    *response->mutable_channels() = request.channels();
  }

  void BatchHeartbeat(const v1::BatchHeartbeatRequest& request,
                      v1::BatchHeartbeatResponse* response) const {
    response->mutable_results()->Reserve(request.entries_size());
    for (const v1::BatchEntry& entry : request.entries()) {
      v1::BatchEntryResult* result = response->add_results();
      if (entry.has_heartbeat()) {
        Heartbeat(entry.heartbeat(), result->mutable_heartbeat());
      } else if (entry.has_leave()) {
        Leave(entry.leave(), result->mutable_leave());
      }
    }
  }

 private:
  const uint32_t occupancy_;
  std::vector<std::string> where_now_;
};

// ---------------------------------------------------------------------------
// Watchers and the event hub.

class Watcher {
 public:
  virtual ~Watcher() = default;
  // Queues an event; called with the hub's lock held.
  virtual void Push(const std::shared_ptr<const grpc::ByteBuffer>& event) = 0;
};

// Channel -> watchers. A Heartbeat or Leave publishes one event per channel
// that has watchers; with none at all it costs one atomic load.
class EventHub {
 public:
  void Add(const std::vector<std::string>& channels, Watcher* watcher) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::string& channel : channels)
      by_channel_[channel].push_back(watcher);
    count_.fetch_add(1, std::memory_order_relaxed);
  }

  void Remove(Watcher* watcher) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [channel, list] : by_channel_) {
      for (size_t i = 0; i < list.size(); ++i) {
        if (list[i] == watcher) {
          list[i] = list.back();
          list.pop_back();
          break;
        }
      }
    }
    count_.fetch_sub(1, std::memory_order_relaxed);
  }

  template <typename Repeated>
  void Publish(const Repeated& channels, const std::string& user,
               v1::WatchEventsResponse::Action action) {
    if (count_.load(std::memory_order_relaxed) == 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::string& channel : channels) {
      auto it = by_channel_.find(channel);
      if (it == by_channel_.end() || it->second.empty()) continue;
      v1::WatchEventsResponse event;
      event.set_channel(channel);
      event.set_action(action);
      event.set_user_id(user);
      event.set_occupancy(static_cast<uint32_t>(it->second.size()));
      const int64_t micros = absl::ToUnixMicros(absl::Now());
      event.mutable_time()->set_seconds(micros / 1000000);
      event.mutable_time()->set_nanos(static_cast<int32_t>(micros % 1000000) *
                                      1000);
      event.set_sequence(++sequence_);
      const std::string bytes = event.SerializeAsString();
      grpc::Slice slice(bytes);
      auto buffer = std::make_shared<const grpc::ByteBuffer>(&slice, 1);
      for (Watcher* watcher : it->second) watcher->Push(buffer);
    }
  }

 private:
  std::atomic<int> count_{0};
  std::mutex mu_;
  std::unordered_map<std::string, std::vector<Watcher*>> by_channel_;
  uint64_t sequence_ = 0;
};

std::vector<std::string> WatchedChannels(const grpc::ByteBuffer& request) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (request.Dump(&slices).ok()) {
    for (const grpc::Slice& slice : slices)
      bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  v1::WatchEventsRequest watch;
  watch.ParseFromString(bytes);
  return {watch.channels().begin(), watch.channels().end()};
}

struct Shared {
  Canned canned;
  EventHub hub;
};

// ---------------------------------------------------------------------------
// The completion-queue API.

using AsyncService = PresenceService::WithAsyncMethod_HereNow<
    PresenceService::WithAsyncMethod_WhereNow<
        PresenceService::WithAsyncMethod_SetState<
            PresenceService::WithAsyncMethod_GetState<
                PresenceService::WithAsyncMethod_Heartbeat<
                    PresenceService::WithAsyncMethod_Leave<
                        PresenceService::WithAsyncMethod_BatchHeartbeat<
                            PresenceService::WithRawMethod_WatchEvents<
                                PresenceService::Service>>>>>>>>;

// Everything a completion-queue tag points at.
class Tag {
 public:
  virtual void Proceed(bool ok) = 0;

 protected:
  ~Tag() = default;
};

struct CqEnv {
  AsyncService* service;
  grpc::ServerCompletionQueue* cq;
  Shared* shared;
};

// One unary call of method `M`: posted, answered, deleted. Each call that
// arrives posts its successor first, so the queue always holds the
// pre-posted number.
template <typename M>
class UnaryCall final : public Tag {
 public:
  explicit UnaryCall(const CqEnv& env) : env_(env), responder_(&context_) {
    (env_.service->*M::kRequest)(&context_, &request_, &responder_, env_.cq,
                                 env_.cq, this);
  }

  void Proceed(bool ok) override {
    if (answered_ || !ok) {
      delete this;
      return;
    }
    new UnaryCall(env_);
    M::Handle(*env_.shared, request_, &response_);
    answered_ = true;
    responder_.Finish(response_, grpc::Status::OK, this);
  }

 private:
  const CqEnv env_;
  grpc::ServerContext context_;
  typename M::Request request_;
  typename M::Response response_;
  grpc::ServerAsyncResponseWriter<typename M::Response> responder_;
  bool answered_ = false;
};

#define BENCH_UNARY_METHOD(NAME, BODY)                             \
  struct NAME##Method {                                            \
    using Request = v1::NAME##Request;                             \
    using Response = v1::NAME##Response;                           \
    static constexpr auto kRequest = &AsyncService::Request##NAME; \
    static void Handle(Shared& shared, const Request& request,     \
                       Response* response) BODY                    \
  };

BENCH_UNARY_METHOD(Heartbeat, {
  shared.canned.Heartbeat(request, response);
  shared.hub.Publish(request.channels(), request.user_id(),
                     v1::WatchEventsResponse::ACTION_JOIN);
})
BENCH_UNARY_METHOD(Leave, {
  shared.canned.Leave(request, response);
  shared.hub.Publish(request.channels(), request.user_id(),
                     v1::WatchEventsResponse::ACTION_LEAVE);
})
BENCH_UNARY_METHOD(BatchHeartbeat, {
  shared.canned.BatchHeartbeat(request, response);
  for (const v1::BatchEntry& entry : request.entries()) {
    if (entry.has_heartbeat()) {
      shared.hub.Publish(entry.heartbeat().channels(),
                         entry.heartbeat().user_id(),
                         v1::WatchEventsResponse::ACTION_JOIN);
    } else if (entry.has_leave()) {
      shared.hub.Publish(entry.leave().channels(), entry.leave().user_id(),
                         v1::WatchEventsResponse::ACTION_LEAVE);
    }
  }
})
BENCH_UNARY_METHOD(HereNow, { shared.canned.HereNow(request, response); })
BENCH_UNARY_METHOD(WhereNow, { shared.canned.WhereNow(request, response); })
BENCH_UNARY_METHOD(SetState, { shared.canned.SetState(request, response); })
BENCH_UNARY_METHOD(GetState, { shared.canned.GetState(request, response); })
#undef BENCH_UNARY_METHOD

// A WatchEvents stream on the completion-queue API. It is deleted once its
// "done" notification has come and no operation of it is in flight.
class CqWatchCall final : public Watcher {
 public:
  explicit CqWatchCall(const CqEnv& env) : env_(env), writer_(&context_) {
    context_.AsyncNotifyWhenDone(&done_tag_);
    env_.service->RequestWatchEvents(&context_, &request_, &writer_, env_.cq,
                                     env_.cq, &start_tag_);
  }

  void Push(const std::shared_ptr<const grpc::ByteBuffer>& event) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (dead_) return;
    queue_.push_back(event);
    if (started_ && !writing_) WriteNextLocked();
  }

 private:
  // A tag that calls a member function; deletes the call if it says so.
  class MemberTag final : public Tag {
   public:
    MemberTag(CqWatchCall* call, bool (CqWatchCall::*fn)(bool))
        : call_(call), fn_(fn) {}
    void Proceed(bool ok) override {
      if ((call_->*fn_)(ok)) delete call_;
    }

   private:
    CqWatchCall* const call_;
    bool (CqWatchCall::*const fn_)(bool);
  };

  // Each handler returns whether the call is to be deleted.
  bool OnStart(bool ok) {
    if (!ok) return true;  // Shutting down before a call came.
    new CqWatchCall(env_);
    env_.shared->hub.Add(WatchedChannels(request_), this);
    registered_ = true;
    context_.AddInitialMetadata(v1::kWatchRegisteredMetadataKey, "1");
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = true;
    writer_.SendInitialMetadata(&metadata_tag_);
    return false;
  }

  bool OnMetadata(bool ok) {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    started_ = true;
    if (ok && !dead_) WriteNextLocked();
    return done_ && !writing_;
  }

  bool OnWrite(bool ok) {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (!queue_.empty()) queue_.pop_front();
    if (!ok) dead_ = true;
    if (!dead_) WriteNextLocked();
    return done_ && !writing_;
  }

  bool OnDone(bool) {
    // Not under mu_: the hub calls Push with its own lock held.
    if (registered_) env_.shared->hub.Remove(this);
    std::lock_guard<std::mutex> lock(mu_);
    dead_ = true;
    done_ = true;
    return !writing_;
  }

  void WriteNextLocked() {
    if (queue_.empty()) return;
    writing_ = true;
    grpc::WriteOptions options;
    if (queue_.size() > 1) options.set_buffer_hint();
    writer_.Write(*queue_.front(), options, &write_tag_);
  }

  const CqEnv env_;
  grpc::ServerContext context_;
  grpc::ByteBuffer request_;
  grpc::ServerAsyncWriter<grpc::ByteBuffer> writer_;
  MemberTag start_tag_{this, &CqWatchCall::OnStart};
  MemberTag metadata_tag_{this, &CqWatchCall::OnMetadata};
  MemberTag write_tag_{this, &CqWatchCall::OnWrite};
  MemberTag done_tag_{this, &CqWatchCall::OnDone};

  std::mutex mu_;
  std::deque<std::shared_ptr<const grpc::ByteBuffer>> queue_;
  bool registered_ = false;  // Set before any other tag can come.
  bool started_ = false;
  bool writing_ = false;  // An operation (metadata or write) is in flight.
  bool dead_ = false;
  bool done_ = false;
};

void PostCalls(const CqEnv& env, int count) {
  for (int i = 0; i < count; ++i) {
    new UnaryCall<HeartbeatMethod>(env);
    new UnaryCall<HereNowMethod>(env);
    new UnaryCall<WhereNowMethod>(env);
    new UnaryCall<LeaveMethod>(env);
  }
  // Batches are few and large; the others are rarely called here.
  for (int i = 0; i < 8; ++i) {
    new UnaryCall<BatchHeartbeatMethod>(env);
    new UnaryCall<SetStateMethod>(env);
    new UnaryCall<GetStateMethod>(env);
    new CqWatchCall(env);
  }
}

void PollQueue(grpc::ServerCompletionQueue* cq) {
  void* tag = nullptr;
  bool ok = false;
  while (cq->Next(&tag, &ok)) static_cast<Tag*>(tag)->Proceed(ok);
}

// ---------------------------------------------------------------------------
// The callback API.

class CallbackWatcher final : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
                              public Watcher {
 public:
  CallbackWatcher(grpc::CallbackServerContext* context, EventHub* hub,
                  const std::vector<std::string>& channels)
      : hub_(hub) {
    hub_->Add(channels, this);
    context->AddInitialMetadata(v1::kWatchRegisteredMetadataKey, "1");
    std::lock_guard<std::mutex> lock(mu_);
    StartSendInitialMetadata();
    started_ = true;
    if (!queue_.empty()) WriteNextLocked();
  }

  void Push(const std::shared_ptr<const grpc::ByteBuffer>& event) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return;
    queue_.push_back(event);
    if (started_ && !writing_) WriteNextLocked();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    queue_.pop_front();
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
      return;
    }
    if (!finished_) WriteNextLocked();
  }

  void OnCancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    FinishLocked(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    hub_->Remove(this);
    delete this;
  }

 private:
  void WriteNextLocked() {
    if (queue_.empty()) return;
    writing_ = true;
    grpc::WriteOptions options;
    if (queue_.size() > 1) options.set_buffer_hint();
    StartWrite(queue_.front().get(), options);
  }

  void FinishLocked(const grpc::Status& status) {
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  EventHub* const hub_;
  std::mutex mu_;
  std::deque<std::shared_ptr<const grpc::ByteBuffer>> queue_;
  bool started_ = false;
  bool writing_ = false;
  bool finished_ = false;
};

class CallbackEcho final
    : public PresenceService::WithRawCallbackMethod_WatchEvents<
          PresenceService::CallbackService> {
 public:
  explicit CallbackEcho(Shared* shared) : shared_(shared) {}

  grpc::ServerUnaryReactor* Heartbeat(
      grpc::CallbackServerContext* context, const v1::HeartbeatRequest* request,
      v1::HeartbeatResponse* response) override {
    HeartbeatMethod::Handle(*shared_, *request, response);
    return Ok(context);
  }
  grpc::ServerUnaryReactor* Leave(grpc::CallbackServerContext* context,
                                  const v1::LeaveRequest* request,
                                  v1::LeaveResponse* response) override {
    LeaveMethod::Handle(*shared_, *request, response);
    return Ok(context);
  }
  grpc::ServerUnaryReactor* BatchHeartbeat(
      grpc::CallbackServerContext* context,
      const v1::BatchHeartbeatRequest* request,
      v1::BatchHeartbeatResponse* response) override {
    BatchHeartbeatMethod::Handle(*shared_, *request, response);
    return Ok(context);
  }
  grpc::ServerUnaryReactor* HereNow(grpc::CallbackServerContext* context,
                                    const v1::HereNowRequest* request,
                                    v1::HereNowResponse* response) override {
    shared_->canned.HereNow(*request, response);
    return Ok(context);
  }
  grpc::ServerUnaryReactor* WhereNow(grpc::CallbackServerContext* context,
                                     const v1::WhereNowRequest* request,
                                     v1::WhereNowResponse* response) override {
    shared_->canned.WhereNow(*request, response);
    return Ok(context);
  }
  grpc::ServerUnaryReactor* SetState(grpc::CallbackServerContext* context,
                                     const v1::SetStateRequest* request,
                                     v1::SetStateResponse* response) override {
    shared_->canned.SetState(*request, response);
    return Ok(context);
  }
  grpc::ServerUnaryReactor* GetState(grpc::CallbackServerContext* context,
                                     const v1::GetStateRequest* request,
                                     v1::GetStateResponse* response) override {
    shared_->canned.GetState(*request, response);
    return Ok(context);
  }
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchEvents(
      grpc::CallbackServerContext* context,
      const grpc::ByteBuffer* request) override {
    return new CallbackWatcher(context, &shared_->hub,
                               WatchedChannels(*request));
  }

 private:
  static grpc::ServerUnaryReactor* Ok(grpc::CallbackServerContext* context) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  Shared* const shared_;
};

// ---------------------------------------------------------------------------

int Run() {
  // Blocked in every thread; main waits for them with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Shared shared{Canned(absl::GetFlag(FLAGS_here_now_occupancy),
                       absl::GetFlag(FLAGS_where_now_channels)),
                {}};
  const std::string api = absl::GetFlag(FLAGS_api);
  const std::string address = absl::GetFlag(FLAGS_listen_address);
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);

  AsyncService async_service;
  CallbackEcho callback_service(&shared);
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> cqs;
  std::string shape;
  if (api == "cq") {
    builder.RegisterService(&async_service);
    int queues = absl::GetFlag(FLAGS_cqs);
    if (queues <= 0) queues = std::max(1u, std::thread::hardware_concurrency());
    for (int i = 0; i < queues; ++i)
      cqs.push_back(builder.AddCompletionQueue());
    shape = absl::StrCat(queues, " queues x ",
                         absl::GetFlag(FLAGS_threads_per_cq), " threads");
  } else if (api == "callback") {
    builder.RegisterService(&callback_service);
    shape = "gRPC's callback threads";
  } else {
    std::fprintf(stderr, "unknown --api=%s (cq or callback)\n", api.c_str());
    return 2;
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "echo_server: cannot listen on %s\n", address.c_str());
    return 1;
  }
  std::vector<std::thread> threads;
  for (auto& cq : cqs) {
    PostCalls({&async_service, cq.get(), &shared},
              absl::GetFlag(FLAGS_requests_per_cq));
    for (int t = 0; t < absl::GetFlag(FLAGS_threads_per_cq); ++t)
      threads.emplace_back(PollQueue, cq.get());
  }
  std::fprintf(stderr, "echo_server listening on %s:%d (api: %s, %s)\n",
               address.substr(0, address.rfind(':')).c_str(), port, api.c_str(),
               shape.c_str());
  int signal = 0;
  sigwait(&signals, &signal);
  // Nothing to drain: stop accepting and leave.
  server->Shutdown(std::chrono::system_clock::now());
  std::fflush(stderr);
  std::_Exit(0);
}

}  // namespace
}  // namespace presence::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return presence::bench::Run();
}
