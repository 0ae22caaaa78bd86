// PubNubHttpServer: PubNub's REST presence API over HTTP/1.1, so that apps
// written against PubNub's SDKs (JavaScript, Python, Go, Rust, C...) can
// point them at this service (docs/pubnub-presence.md has the wire facts).
//
// A thin adapter: every call goes through the same Presence facade as gRPC
// (the same validation; errors are mapped in one place, pubnub_error.h),
// over the same store, and subscribe long-polls are fed by the same
// EventFanout as gRPC watches. A user who joins through one surface is in
// the other's here_now, and an event caused through either reaches both.
//
//   PubNubHttpOptions options;
//   options.http.address = "0.0.0.0:8080";
//   auto server = PubNubHttpServer::Start(options, &presence, &fanout);
//   // new PubNub({origin: "host:8080", ssl: false, subscribeKey: "demo",
//   //             userId: "alice"})
//   ...
//   (*server)->Shutdown(absl::Now() + absl::Seconds(10));
//
// Endpoints (all GET; "sub-key" or "sub_key"; unknown parameters ignored):
// here_now (one channel: the flat shape; channels, groups or global: the
// payload shape), where_now, heartbeat, leave, set and get state, the
// channel registry (/v1/channel-registration), /time/0, and subscribe
// (/v2/subscribe) for presence events (the "<ch>-pnpres" channels and
// "<cg>-pnpres" groups). Anything else (publish, history, ...) answers
// PubNub's 402 "feature not turned on". Every answer carries
// `Content-Type: text/javascript; charset="UTF-8"` and CORS headers; OPTIONS
// is a CORS preflight.
//
// Mapping of semantics:
// - A PubNub uuid is a user_id. PubNub clients have no session ids: every
//   heartbeat, subscribe and leave uses the user's default session ("").
// - heartbeat=N is clamped into [--min_timeout_seconds,
//   --max_timeout_seconds]; without it (or N <= 0) the uuid's last requested
//   timeout applies, else the server default. A subscribe of non-presence
//   channels or groups is a heartbeat on them with the same rules; a
//   subscribe that heartbeats is held at most half its timeout, so that the
//   client's next poll renews its presence before it times out. A closed
//   connection is never a leave.
// - A heartbeat's `state` is keyed by channel or group
//   ({"ch1":{..},"cg1":{..}}); a state none of whose keys names a channel or
//   group of the request (what setState({withHeartbeat:true}) sends) is one
//   state for all of them.
// - Active and inactive events have no PubNub presence action and are not
//   sent to subscribers (gRPC watches and webhooks have them).
// - The channel registry treats a group with no channels as empty, not
//   missing: listing its channels answers [], removing from or deleting it
//   succeeds. Elsewhere an unknown group is 404, naming it.
// - Set state where the user is not present is 400, naming the channels.
// - Limits (service/limits, shared with gRPC): heartbeat, leave, set state
//   and the registry's changes are writes of their client: beyond
//   --write_rate_per_client they are answered 429 with Retry-After
//   (seconds). A subscribe's heartbeat is a write too, but a subscribe is
//   not refused for it: the heartbeat is deferred (skipped, and the poll
//   held no longer than the client must wait), so SDKs keep receiving
//   events. A held subscribe long-poll (tt other than 0) is a watcher:
//   beyond --max_watchers_per_client or --max_watchers it is answered 429
//   and changes nothing.
//
// Thread-safe.
#ifndef SERVICE_HTTP_PUBNUB_HTTP_SERVER_H_
#define SERVICE_HTTP_PUBNUB_HTTP_SERVER_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "presence/base/mutex.h"
#include "presence/presence.h"
#include "service/auth/authorizer.h"
#include "service/fanout/event_fanout.h"
#include "service/http/http_server.h"
#include "service/http/pubnub_event_encoder.h"
#include "service/http/pubnub_request.h"
#include "service/http/subscribe_hub.h"
#include "service/limits/client_limits.h"
#include "service/metrics/metrics.h"

namespace boost::asio {
class thread_pool;
}  // namespace boost::asio

namespace presence {

struct PubNubHttpOptions {
  // The HTTP server (--http_address, --http_threads); `http.address` empty
  // means off (the app does not start this server).
  HttpServerOptions http;
  // Accepted subscribe keys (--pubnub_subscribe_keys); empty accepts any.
  // Keys are labels, not namespaces: every key sees the same presence.
  std::vector<std::string> subscribe_keys;
  // Longest hold of a subscribe long-poll with nothing to deliver
  // (--pubnub_long_poll_timeout); below the JS SDK's 310 s request timeout.
  absl::Duration long_poll_timeout = absl::Seconds(280);
  // The catch-up history of presence events (--pubnub_history_events,
  // --pubnub_history_retention).
  size_t history_events = 50000;
  absl::Duration history_retention = absl::Minutes(5);
  // Threads that run the Presence calls (which may wait on Redis), so that
  // the HTTP threads never block (--http_worker_threads).
  int worker_threads = 4;
  // The region ("r") of timetokens; PubNub's SDKs refuse 0.
  int region = 1;
  // Who may call what (the `auth` query parameter PubNub's SDKs send is the
  // token); null lets every request through (--auth=none). Must outlive the
  // server. Set by PresenceApp.
  const auth::Authorizer* authorizer = nullptr;
  // Per-client write rates and watcher limits, shared with gRPC; null
  // applies none. Must outlive the server. Set by PresenceApp.
  ClientLimits* limits = nullptr;
};

class PubNubHttpServer : public HttpHandler {
 public:
  // Starts serving; `presence` and `fanout` must outlive the server.
  // UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<PubNubHttpServer>> Start(
      const PubNubHttpOptions& options, Presence* presence,
      EventFanout* fanout);

  // Shuts down at once if Shutdown was not called.
  ~PubNubHttpServer() override;
  PubNubHttpServer(const PubNubHttpServer&) = delete;
  PubNubHttpServer& operator=(const PubNubHttpServer&) = delete;

  // The listen address with the bound port, e.g. "127.0.0.1:41236".
  const std::string& address() const;
  int port() const;

  // Exports presence_http_* and presence_pubnub_* metrics.
  void RegisterMetrics(MetricsRegistry& registry);

  // Drains: stops accepting, answers every held long-poll at once (an
  // empty answer with a fresh timetoken; later polls are answered at once
  // too), lets in-flight calls finish until `deadline`, then stops.
  // Idempotent.
  void Shutdown(absl::Time deadline) ABSL_LOCKS_EXCLUDED(shutdown_mu_);

  // HttpHandler.
  void Handle(HttpRequest request,
              std::shared_ptr<HttpResponder> responder) override;
  HttpResponse ProtocolError(int status, absl::string_view message) override;

 private:
  class GroupSink;
  class PollWaiter;
  struct Reply {
    int status = 200;
    std::string body;
  };

  // The HTTP transport's sink for every channel's events (the history).
  class FirehoseSink : public EventSink {
   public:
    explicit FirehoseSink(SubscribeHub* hub) : hub_(hub) {}
    void Deliver(const std::shared_ptr<const EncodedEvent>& event) override;
    void Close(const absl::Status& status) override;

   private:
    SubscribeHub* const hub_;
  };

  PubNubHttpServer(const PubNubHttpOptions& options, Presence* presence,
                   EventFanout* fanout);

  // Runs a parsed request of `caller` (whose limits are kept under
  // `client`, see ClientKey) on a worker thread. Every call checks the
  // caller's grants (auth::Authorizer) before it calls Presence.
  void Dispatch(const PubNubRequest& request, const auth::Caller& caller,
                const std::string& client,
                const std::shared_ptr<HttpResponder>& responder);
  absl::StatusOr<std::string> HereNow(const PubNubRequest& request,
                                      const auth::Caller& caller);
  absl::StatusOr<std::string> Heartbeat(const PubNubRequest& request,
                                        const auth::Caller& caller);
  absl::StatusOr<std::string> Leave(const PubNubRequest& request,
                                    const auth::Caller& caller);
  absl::StatusOr<std::string> SetState(const PubNubRequest& request,
                                       const auth::Caller& caller);
  absl::StatusOr<std::string> GetState(const PubNubRequest& request,
                                       const auth::Caller& caller);
  absl::StatusOr<std::string> ChannelRegistry(const PubNubRequest& request,
                                              const auth::Caller& caller);
  // Answers now or registers a waiter that answers later.
  void Subscribe(const PubNubRequest& request, const auth::Caller& caller,
                 const std::string& client,
                 const std::shared_ptr<HttpResponder>& responder);

  // The timeout a heartbeat applies: `heartbeat` clamped, or the uuid's last
  // one, or 0 (the server default).
  absl::StatusOr<uint32_t> ResolveTimeout(const std::string& uuid,
                                          const PubNubRequest& request)
      ABSL_LOCKS_EXCLUDED(timeouts_mu_);
  void RememberTimeout(const std::string& uuid, uint32_t timeout)
      ABSL_LOCKS_EXCLUDED(timeouts_mu_);

  absl::StatusOr<std::shared_ptr<GroupSink>> AcquireGroup(
      const std::string& group) ABSL_LOCKS_EXCLUDED(groups_mu_);
  // Unregisters group sinks no poll used for a while; forgets timeouts of
  // uuids not seen for longer than the longest timeout.
  void SweepIdle() ABSL_LOCKS_EXCLUDED(groups_mu_, timeouts_mu_);

  // Sends an answer and counts it.
  void Send(PubNubEndpoint endpoint, HttpResponder& responder, int status,
            std::string body);
  void SendError(PubNubEndpoint endpoint, HttpResponder& responder,
                 const absl::Status& status);
  void Count(PubNubEndpoint endpoint, int status);

  const PubNubHttpOptions options_;
  Presence* const presence_;
  EventFanout* const fanout_;
  ClientLimits* const limits_;  // Never null.

  SubscribeHub hub_;
  PubNubEventEncoder encoder_;
  FirehoseSink firehose_;
  bool firehose_registered_ = false;

  Mutex groups_mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<GroupSink>> group_sinks_
      ABSL_GUARDED_BY(groups_mu_);

  struct RememberedTimeout {
    uint32_t seconds;
    absl::Time last_seen;
  };
  Mutex timeouts_mu_;
  absl::flat_hash_map<std::string, RememberedTimeout> timeouts_
      ABSL_GUARDED_BY(timeouts_mu_);

  // requests_[endpoint][class]: classes 2xx, 3xx, 4xx, 5xx.
  std::array<std::array<std::atomic<uint64_t>, 4>, kPubNubEndpointCount>
      requests_{};
  std::atomic<uint64_t> delivered_events_{0};

  // Destroyed after workers_ (whose queued tasks hold responders, which
  // hold connections of the server's io_context).
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<boost::asio::thread_pool> workers_;

  Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace presence

#endif  // SERVICE_HTTP_PUBNUB_HTTP_SERVER_H_
