#include "service/http/pubnub_http_server.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "presence/base/exact_json.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "service/http/pubnub_error.h"
#include "service/http/pubnub_responses.h"
#include "service/http/timetoken.h"

namespace presence {
namespace {

constexpr absl::string_view kPresenceSuffix = "-pnpres";
// How often held polls are checked against their deadline.
constexpr absl::Duration kExpiryPeriod = absl::Milliseconds(100);
// How often idle group sinks and stale remembered timeouts are dropped, and
// how long an unused group sink lingers (polls come back at once).
constexpr absl::Duration kSweepPeriod = absl::Seconds(10);
constexpr absl::Duration kGroupSinkLinger = absl::Seconds(30);
// Most uuids whose non-default heartbeat timeout is remembered.
constexpr size_t kMaxRememberedTimeouts = 1000000;

// Splits names into presence ones ("x-pnpres" -> x) and the others.
void SplitPresence(const std::vector<std::string>& names,
                   std::vector<std::string>& presence,
                   std::vector<std::string>& plain) {
  for (const std::string& name : names) {
    absl::string_view base = name;
    if (absl::ConsumeSuffix(&base, kPresenceSuffix)) {
      presence.emplace_back(base);
    } else {
      plain.push_back(name);
    }
  }
}

// A heartbeat or leave may name "-pnpres" channels (some SDKs pass their
// whole subscription); presence of a presence channel means nothing.
std::vector<std::string> WithoutPresence(
    const std::vector<std::string>& names) {
  std::vector<std::string> presence;
  std::vector<std::string> plain;
  SplitPresence(names, presence, plain);
  return plain;
}

// The endpoints whose calls are writes for --write_rate_per_client (a
// subscribe's heartbeat is charged in Subscribe).
bool IsWrite(PubNubEndpoint endpoint) {
  switch (endpoint) {
    case PubNubEndpoint::kHeartbeat:
    case PubNubEndpoint::kLeave:
    case PubNubEndpoint::kSetState:
    case PubNubEndpoint::kAddChannels:
    case PubNubEndpoint::kRemoveChannels:
    case PubNubEndpoint::kDeleteGroup:
      return true;
    default:
      return false;
  }
}

// Retry-After is in whole seconds: rounded up, at least 1.
int64_t RetryAfterSeconds(absl::Duration wait) {
  return std::max<int64_t>(
      1, absl::ToInt64Seconds(absl::Ceil(wait, absl::Seconds(1))));
}

std::vector<std::string> Groups(const PubNubRequest& request) {
  return SplitNameList(request.Query("channel-group").value_or(""));
}

std::string Serialize(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

// The `state` of a heartbeat or subscribe: keyed by channel or group, or one
// state for all of them (see the header).
absl::StatusOr<std::vector<std::pair<std::string, std::string>>>
HeartbeatStates(const PubNubRequest& request,
                const std::vector<std::string>& channels,
                const std::vector<std::string>& groups) {
  std::vector<std::pair<std::string, std::string>> states;
  const std::optional<std::string> text = request.Query("state");
  if (!text.has_value() || text->empty()) return states;
  rapidjson::Document doc;
  const rapidjson::ParseResult parsed = ParseJsonExact(*text, &doc);
  if (parsed.IsError()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "state: not valid JSON (", ExactJsonErrorText(parsed.Code()),
        " at offset ", parsed.Offset(), ")"));
  }
  if (!doc.IsObject()) {
    return absl::InvalidArgumentError("state: must be a JSON object");
  }
  const auto named = [&](absl::string_view key) {
    return std::find(channels.begin(), channels.end(), key) != channels.end() ||
           std::find(groups.begin(), groups.end(), key) != groups.end();
  };
  bool keyed = false;
  for (const auto& member : doc.GetObject()) {
    const absl::string_view key(member.name.GetString(),
                                member.name.GetStringLength());
    if (!named(key)) continue;
    keyed = true;
    states.emplace_back(std::string(key), Serialize(member.value));
  }
  if (keyed || doc.ObjectEmpty()) return states;
  const std::string whole = Serialize(doc);
  for (const std::string& name : channels) states.emplace_back(name, whole);
  for (const std::string& name : groups) states.emplace_back(name, whole);
  return states;
}

HttpResponse PubNubHttpResponse(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.headers = {
      {"Content-Type", "text/javascript; charset=\"UTF-8\""},
      {"Access-Control-Allow-Origin", "*"},
      {"Access-Control-Allow-Methods", "OPTIONS, GET, POST"},
      {"Cache-Control", "no-cache"},
  };
  response.body = std::move(body);
  return response;
}

absl::string_view ServiceOf(PubNubEndpoint endpoint) {
  return IsChannelRegistry(endpoint) ? kChannelRegistryService
                                     : kPresenceService;
}

}  // namespace

// The sink of one channel group, registered while polls ask for the group
// (and a little longer): it follows the group's membership live.
class PubNubHttpServer::GroupSink : public EventSink {
 public:
  GroupSink(std::string group, SubscribeHub* hub)
      : group_(std::move(group)), hub_(hub) {}

  void Deliver(const std::shared_ptr<const EncodedEvent>& event) override {
    hub_->OnGroupEvent(
        group_, std::static_pointer_cast<const PubNubEncodedEvent>(event));
  }
  void Close(const absl::Status& status) override {}

  const std::string& group() const { return group_; }

  // Polls holding the sink; changed under groups_mu_ when taken, atomically
  // when released (from any thread, possibly while the fan-out delivers).
  std::atomic<int> refs{0};
  std::atomic<int64_t> idle_since_ms{0};

  // Serialises the sink's registration with the fan-out.
  Mutex registration_mu;
  bool registered ABSL_GUARDED_BY(registration_mu) = false;

 private:
  const std::string group_;
  SubscribeHub* const hub_;
};

// A held subscribe long-poll.
class PubNubHttpServer::PollWaiter
    : public SubscribeHub::Waiter,
      public std::enable_shared_from_this<PollWaiter> {
 public:
  // The poll holds `slot` (its place in the watcher limits) until it is
  // answered or dropped.
  PollWaiter(PubNubHttpServer* server, std::shared_ptr<HttpResponder> responder,
             std::string sub_key,
             std::vector<std::shared_ptr<GroupSink>> groups, WatchSlot slot)
      : server_(server),
        responder_(std::move(responder)),
        sub_key_(std::move(sub_key)),
        groups_(std::move(groups)),
        slot_(std::move(slot)) {}

  ~PollWaiter() override {
    const int64_t now = absl::ToUnixMillis(absl::Now());
    for (const auto& group : groups_) {
      group->idle_since_ms.store(now);
      group->refs.fetch_sub(1);
    }
  }

  // May run on a thread that delivers an event to thousands of polls: each
  // answer is built on its connection's thread.
  void Wake(std::vector<SubscribeHub::Delivery> deliveries,
            uint64_t cursor) override {
    responder_->SendLater(
        [self = shared_from_this(), deliveries = std::move(deliveries),
         cursor] { return self->Answer(deliveries, cursor); });
  }

 private:
  HttpResponse Answer(const std::vector<SubscribeHub::Delivery>& deliveries,
                      uint64_t cursor) {
    // Answered: no longer a watcher (called once, on the connection's
    // thread; the destructor releases a slot never answered).
    slot_.Release();
    std::vector<SubscribeMessage> messages;
    messages.reserve(deliveries.size());
    for (const SubscribeHub::Delivery& delivery : deliveries) {
      messages.push_back(
          SubscribeMessage{delivery.timetoken, delivery.event->channel(),
                           delivery.event->payload(), delivery.subscription});
    }
    server_->delivered_events_.fetch_add(messages.size());
    server_->Count(PubNubEndpoint::kSubscribe, 200);
    return PubNubHttpResponse(
        200,
        SubscribeBody(cursor, server_->options_.region, sub_key_, messages));
  }

  PubNubHttpServer* const server_;
  const std::shared_ptr<HttpResponder> responder_;
  const std::string sub_key_;
  const std::vector<std::shared_ptr<GroupSink>> groups_;
  WatchSlot slot_;
};

void PubNubHttpServer::FirehoseSink::Deliver(
    const std::shared_ptr<const EncodedEvent>& event) {
  hub_->OnEvent(std::static_pointer_cast<const PubNubEncodedEvent>(event));
}

void PubNubHttpServer::FirehoseSink::Close(const absl::Status& status) {
  // The store's feed broke (events may be missing), or the fan-out closes
  // everything: either way the history may have a hole from here.
  hub_->OnEventsLost();
}

PubNubHttpServer::PubNubHttpServer(const PubNubHttpOptions& options,
                                   Presence* presence, EventFanout* fanout)
    : options_(options),
      presence_(presence),
      fanout_(fanout),
      limits_(options.limits != nullptr ? options.limits
                                        : ClientLimits::Unlimited()),
      hub_([&options] {
        SubscribeHub::Options hub;
        hub.max_events = options.history_events;
        hub.retention = options.history_retention;
        return hub;
      }()),
      firehose_(&hub_),
      workers_(std::make_unique<boost::asio::thread_pool>(
          std::max(1, options.worker_threads))) {}

absl::StatusOr<std::unique_ptr<PubNubHttpServer>> PubNubHttpServer::Start(
    const PubNubHttpOptions& options, Presence* presence, EventFanout* fanout) {
  if (options.long_poll_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--pubnub_long_poll_timeout: must be positive");
  }
  if (options.history_events == 0) {
    return absl::InvalidArgumentError(
        "--pubnub_history_events: must be positive");
  }
  if (options.region == 0) {
    return absl::InvalidArgumentError("region: must not be 0");
  }
  std::unique_ptr<PubNubHttpServer> server(
      new PubNubHttpServer(options, presence, fanout));
  absl::Status status =
      fanout->Add(&server->firehose_, &server->encoder_, {}, {});
  if (!status.ok()) return status;
  server->firehose_registered_ = true;
  absl::StatusOr<std::unique_ptr<HttpServer>> http =
      HttpServer::Start(options.http, server.get());
  if (!http.ok()) return http.status();
  server->http_ = *std::move(http);
  SubscribeHub* hub = &server->hub_;
  server->http_->RunEvery(kExpiryPeriod,
                          [hub] { hub->ExpireWaiters(absl::Now()); });
  PubNubHttpServer* raw = server.get();
  server->http_->RunEvery(kSweepPeriod, [raw] { raw->SweepIdle(); });
  return server;
}

PubNubHttpServer::~PubNubHttpServer() { Shutdown(absl::Now()); }

const std::string& PubNubHttpServer::address() const {
  return http_->address();
}

int PubNubHttpServer::port() const { return http_->port(); }

void PubNubHttpServer::Shutdown(absl::Time deadline) {
  MutexLock lock(&shutdown_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  if (http_ != nullptr) http_->BeginShutdown();
  // Held polls are answered now; polls that arrive later are answered at
  // once. Their connections then close.
  hub_.Drain();
  if (http_ != nullptr) http_->Shutdown(deadline);
  // No new work after the HTTP threads stopped; let the queued calls end.
  workers_->join();
  if (firehose_registered_) fanout_->Remove(&firehose_);
  firehose_registered_ = false;
  std::vector<std::shared_ptr<GroupSink>> sinks;
  {
    MutexLock groups_lock(&groups_mu_);
    for (auto& [name, sink] : group_sinks_) sinks.push_back(sink);
    group_sinks_.clear();
  }
  for (const auto& sink : sinks) fanout_->Remove(sink.get());
}

void PubNubHttpServer::RegisterMetrics(MetricsRegistry& registry) {
  static constexpr const char* kClasses[] = {"2xx", "3xx", "4xx", "5xx"};
  for (int endpoint = 0; endpoint < kPubNubEndpointCount; ++endpoint) {
    for (int c = 0; c < 4; ++c) {
      registry.AddCounter(
          absl::StrCat(
              "presence_http_requests_total{endpoint=\"",
              PubNubEndpointName(static_cast<PubNubEndpoint>(endpoint)),
              "\",code=\"", kClasses[c], "\"}"),
          "PubNub HTTP requests answered, by endpoint and status class.",
          [this, endpoint, c] {
            return static_cast<double>(requests_[endpoint][c].load());
          });
    }
  }
  registry.AddGauge(
      "presence_http_connections", "Open HTTP connections.", [this] {
        return http_ == nullptr ? 0.0
                                : static_cast<double>(http_->connections());
      });
  registry.AddCounter(
      "presence_http_connections_accepted_total", "HTTP connections accepted.",
      [this] {
        return http_ == nullptr ? 0.0 : static_cast<double>(http_->accepted());
      });
  registry.AddGauge("presence_pubnub_held_polls",
                    "Subscribe long-polls waiting for an event.",
                    [this] { return static_cast<double>(hub_.waiters()); });
  registry.AddGauge("presence_pubnub_history_events",
                    "Presence events kept for subscribe catch-up.", [this] {
                      return static_cast<double>(hub_.history_events());
                    });
  registry.AddCounter(
      "presence_pubnub_history_gaps_total",
      "Subscribe polls whose timetoken was older than the catch-up history "
      "(they may have missed events).",
      [this] { return static_cast<double>(hub_.gaps()); });
  registry.AddCounter("presence_pubnub_delivered_events_total",
                      "Presence events sent in subscribe answers.", [this] {
                        return static_cast<double>(delivered_events_.load());
                      });
}

void PubNubHttpServer::Count(PubNubEndpoint endpoint, int status) {
  const int c = std::clamp(status / 100 - 2, 0, 3);
  requests_[static_cast<int>(endpoint)][c].fetch_add(1,
                                                     std::memory_order_relaxed);
}

void PubNubHttpServer::Send(PubNubEndpoint endpoint, HttpResponder& responder,
                            int status, std::string body) {
  Count(endpoint, status);
  responder.Send(PubNubHttpResponse(status, std::move(body)));
}

void PubNubHttpServer::SendError(PubNubEndpoint endpoint,
                                 HttpResponder& responder,
                                 const absl::Status& status) {
  PubNubError error = ToPubNubError(status, ServiceOf(endpoint));
  Send(endpoint, responder, error.http_status, std::move(error.body));
}

HttpResponse PubNubHttpServer::ProtocolError(int status,
                                             absl::string_view message) {
  Count(PubNubEndpoint::kUnknownPresence, status);
  PubNubError error = MakePubNubError(status, message, kPresenceService);
  return PubNubHttpResponse(error.http_status, std::move(error.body));
}

void PubNubHttpServer::Handle(HttpRequest http,
                              std::shared_ptr<HttpResponder> responder) {
  absl::StatusOr<PubNubRequest> parsed = ParsePubNubTarget(http.target);
  const PubNubEndpoint endpoint =
      parsed.ok() ? parsed->endpoint : PubNubEndpoint::kUnknownPresence;
  if (http.method == "OPTIONS") {
    // CORS preflight.
    HttpResponse response = PubNubHttpResponse(200, "");
    absl::string_view asked = http.Header("access-control-request-headers");
    response.headers.emplace_back(
        "Access-Control-Allow-Headers",
        asked.empty() ? "Origin, X-Requested-With, Content-Type, Accept"
                      : std::string(asked));
    response.headers.emplace_back("Access-Control-Max-Age", "86400");
    Count(endpoint, 200);
    responder->Send(std::move(response));
    return;
  }
  if (!parsed.ok()) return SendError(endpoint, *responder, parsed.status());
  if (endpoint == PubNubEndpoint::kOtherFeature) {
    PubNubError error =
        MakePubNubError(402, kFeatureNotEnabledMessage, kPresenceService);
    return Send(endpoint, *responder, error.http_status, std::move(error.body));
  }
  if (endpoint == PubNubEndpoint::kUnknownPresence) {
    const std::string path = http.target.substr(0, http.target.find('?'));
    PubNubError error = MakePubNubError(
        404, absl::StrCat("Not Found: no PubNub presence endpoint at ", path),
        kPresenceService);
    return Send(endpoint, *responder, error.http_status, std::move(error.body));
  }
  if (http.method != "GET") {
    PubNubError error = MakePubNubError(
        405,
        absl::StrCat("method ", http.method,
                     " is not allowed; PubNub presence calls are GET"),
        ServiceOf(endpoint));
    return Send(endpoint, *responder, error.http_status, std::move(error.body));
  }
  if (endpoint == PubNubEndpoint::kTime) {
    return Send(endpoint, *responder, 200, TimeBody(hub_.NextTimetoken()));
  }
  const std::vector<std::string>& keys = options_.subscribe_keys;
  if (!keys.empty() &&
      std::find(keys.begin(), keys.end(), parsed->sub_key) == keys.end()) {
    PubNubError error =
        MakePubNubError(400, kInvalidSubscribeKeyMessage, ServiceOf(endpoint));
    return Send(endpoint, *responder, error.http_status, std::move(error.body));
  }
  // The token travels as the `auth` query parameter (PubNub's SDKs'
  // authKey); checked before anything else of the request.
  const std::optional<std::string> token = parsed->Query("auth");
  absl::StatusOr<auth::Caller> caller =
      options_.authorizer == nullptr
          ? auth::Caller::Anyone()
          : options_.authorizer->Authenticate(
                token.has_value() ? std::optional<absl::string_view>(*token)
                                  : std::nullopt);
  if (!caller.ok()) return SendError(endpoint, *responder, caller.status());
  std::string client =
      ClientKey(*caller, token.value_or(""), PeerAddress(http.peer));
  // Writes are charged to their client here, so that refused ones never
  // take a worker.
  if (IsWrite(endpoint) && limits_->limits_writes()) {
    absl::Duration retry_after;
    const absl::Status admitted = limits_->AdmitWrite(
        client, 1, "http", PubNubEndpointName(endpoint), &retry_after);
    if (!admitted.ok()) {
      PubNubError error = ToPubNubError(admitted, ServiceOf(endpoint));
      HttpResponse response =
          PubNubHttpResponse(error.http_status, std::move(error.body));
      response.headers.emplace_back(
          "Retry-After", absl::StrCat(RetryAfterSeconds(retry_after)));
      Count(endpoint, error.http_status);
      responder->Send(std::move(response));
      return;
    }
  }
  // The Presence calls may wait on a store backend: off the HTTP threads.
  boost::asio::post(
      *workers_,
      [this, request = *std::move(parsed), caller = *std::move(caller),
       client = std::move(client), responder = std::move(responder)] {
        Dispatch(request, caller, client, responder);
      });
}

void PubNubHttpServer::Dispatch(
    const PubNubRequest& request, const auth::Caller& caller,
    const std::string& client,
    const std::shared_ptr<HttpResponder>& responder) {
  absl::StatusOr<std::string> body;
  switch (request.endpoint) {
    case PubNubEndpoint::kSubscribe:
      return Subscribe(request, caller, client, responder);
    case PubNubEndpoint::kHereNow:
    case PubNubEndpoint::kGlobalHereNow:
      body = HereNow(request, caller);
      break;
    case PubNubEndpoint::kWhereNow: {
      const WhereNowRequest where{request.path_uuid};
      if (absl::Status allowed = auth::Authorizer::CheckWhereNow(caller, where);
          !allowed.ok()) {
        body = allowed;
        break;
      }
      absl::StatusOr<WhereNowResult> result = presence_->WhereNow(where);
      body = result.ok() ? absl::StatusOr<std::string>(WhereNowBody(*result))
                         : result.status();
      break;
    }
    case PubNubEndpoint::kHeartbeat:
      body = Heartbeat(request, caller);
      break;
    case PubNubEndpoint::kLeave:
      body = Leave(request, caller);
      break;
    case PubNubEndpoint::kSetState:
      body = SetState(request, caller);
      break;
    case PubNubEndpoint::kGetState:
      body = GetState(request, caller);
      break;
    case PubNubEndpoint::kAddChannels:
    case PubNubEndpoint::kRemoveChannels:
    case PubNubEndpoint::kListChannels:
    case PubNubEndpoint::kListGroups:
    case PubNubEndpoint::kDeleteGroup:
      body = ChannelRegistry(request, caller);
      break;
    default:
      body = absl::InternalError("unrouted endpoint");
  }
  if (!body.ok()) return SendError(request.endpoint, *responder, body.status());
  Send(request.endpoint, *responder, 200, *std::move(body));
}

absl::StatusOr<std::string> PubNubHttpServer::HereNow(
    const PubNubRequest& request, const auth::Caller& caller) {
  HereNowRequest here;
  here.channels = request.channels;
  here.channel_groups = Groups(request);
  bool disable_uuids = false;
  if (std::optional<std::string> v =
          request.Query("disable_uuids", "disable-uuids")) {
    if (!v->empty()) {
      absl::StatusOr<bool> parsed = ParsePubNubBool("disable_uuids", *v);
      if (!parsed.ok()) return parsed.status();
      disable_uuids = *parsed;
    } else {
      disable_uuids = true;  // A bare flag.
    }
  }
  bool include_state = false;
  if (std::optional<std::string> v = request.Query("state")) {
    absl::StatusOr<bool> parsed = ParsePubNubBool("state", *v);
    if (!parsed.ok()) return parsed.status();
    include_state = *parsed;
  }
  bool count_only = false;
  if (std::optional<std::string> v = request.Query("limit")) {
    int64_t limit = 0;
    if (!absl::SimpleAtoi(*v, &limit) || limit < -1) {
      return absl::InvalidArgumentError(
          absl::StrCat("limit: \"", *v,
                       "\" must be -1 (no limit), 0 (occupancy only) or "
                       "a page size up to ",
                       presence_->limits().max_here_now_limit));
    }
    if (limit == 0) count_only = true;
    // -1 is the largest page, which the facade's 0 means.
    here.limit = limit <= 0 ? 0
                            : static_cast<uint32_t>(std::min<int64_t>(
                                  limit, int64_t{UINT32_MAX}));
  }
  if (std::optional<std::string> v = request.Query("offset")) {
    int64_t offset = 0;
    if (!absl::SimpleAtoi(*v, &offset) || offset < 0 || offset > UINT32_MAX) {
      return absl::InvalidArgumentError(
          absl::StrCat("offset: \"", *v, "\" must be a non-negative integer"));
    }
    here.offset = static_cast<uint32_t>(offset);
  }
  here.include_user_ids = !disable_uuids && !count_only;
  here.include_state = include_state;
  const HereNowUuids uuids = disable_uuids   ? HereNowUuids::kOmit
                             : count_only    ? HereNowUuids::kEmpty
                             : include_state ? HereNowUuids::kWithState
                                             : HereNowUuids::kIds;

  std::vector<std::string> unique = here.channels;
  std::sort(unique.begin(), unique.end());
  unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
  const bool flat = request.endpoint == PubNubEndpoint::kHereNow &&
                    unique.size() == 1 && here.channel_groups.empty();
  if (absl::Status allowed = auth::Authorizer::CheckHereNow(caller, here);
      !allowed.ok()) {
    return allowed;
  }

  absl::StatusOr<HereNowResult> result = presence_->HereNow(std::move(here));
  if (!result.ok()) return result.status();
  if (!flat) return HereNowPayloadBody(*result, uuids);
  const ChannelOccupancy* channel = nullptr;
  for (const ChannelOccupancy& c : result->channels) {
    if (c.name == unique.front()) channel = &c;
  }
  return HereNowFlatBody(channel, uuids);
}

absl::StatusOr<uint32_t> PubNubHttpServer::ResolveTimeout(
    const std::string& uuid, const PubNubRequest& request) {
  const Limits& limits = presence_->limits();
  const std::optional<std::string> text = request.Query("heartbeat");
  int64_t asked = 0;
  if (text.has_value() && !text->empty() && !absl::SimpleAtoi(*text, &asked)) {
    return absl::InvalidArgumentError(
        absl::StrCat("heartbeat: \"", *text, "\" is not a number of seconds"));
  }
  if (asked > 0) {
    return static_cast<uint32_t>(std::clamp<int64_t>(
        asked, limits.min_timeout_seconds, limits.max_timeout_seconds));
  }
  MutexLock lock(&timeouts_mu_);
  auto it = timeouts_.find(uuid);
  if (it == timeouts_.end()) return 0;
  it->second.last_seen = absl::Now();
  return it->second.seconds;
}

void PubNubHttpServer::RememberTimeout(const std::string& uuid,
                                       uint32_t timeout) {
  MutexLock lock(&timeouts_mu_);
  // The default needs no memory: it is what a uuid without one gets.
  if (timeout == 0 || timeout == presence_->limits().default_timeout_seconds) {
    timeouts_.erase(uuid);
    return;
  }
  auto it = timeouts_.find(uuid);
  if (it == timeouts_.end()) {
    if (timeouts_.size() >= kMaxRememberedTimeouts) return;
    it = timeouts_.emplace(uuid, RememberedTimeout{}).first;
  }
  it->second = RememberedTimeout{timeout, absl::Now()};
}

absl::StatusOr<std::string> PubNubHttpServer::Heartbeat(
    const PubNubRequest& request, const auth::Caller& caller) {
  HeartbeatRequest heartbeat;
  heartbeat.user_id = request.Query("uuid").value_or("");
  heartbeat.channels = WithoutPresence(request.channels);
  heartbeat.channel_groups = WithoutPresence(Groups(request));
  if (absl::Status allowed =
          auth::Authorizer::CheckHeartbeat(caller, heartbeat);
      !allowed.ok()) {
    return allowed;
  }
  absl::StatusOr<uint32_t> timeout = ResolveTimeout(heartbeat.user_id, request);
  if (!timeout.ok()) return timeout.status();
  heartbeat.timeout_seconds = *timeout;
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> states =
      HeartbeatStates(request, heartbeat.channels, heartbeat.channel_groups);
  if (!states.ok()) return states.status();
  heartbeat.states = *std::move(states);
  const std::string uuid = heartbeat.user_id;
  absl::StatusOr<HeartbeatResult> result =
      presence_->Heartbeat(std::move(heartbeat));
  if (!result.ok()) {
    limits_->CountUserLimit(result.status(), "http");
    return result.status();
  }
  RememberTimeout(uuid, *timeout == 0 ? 0 : result->timeout_seconds);
  return HeartbeatBody();
}

absl::StatusOr<std::string> PubNubHttpServer::Leave(
    const PubNubRequest& request, const auth::Caller& caller) {
  LeaveRequest leave;
  leave.user_id = request.Query("uuid").value_or("");
  leave.channels = WithoutPresence(request.channels);
  leave.channel_groups = WithoutPresence(Groups(request));
  if (absl::Status allowed = auth::Authorizer::CheckLeave(caller, leave);
      !allowed.ok()) {
    return allowed;
  }
  absl::StatusOr<LeaveResult> result = presence_->Leave(std::move(leave));
  if (!result.ok()) return result.status();
  return LeaveBody();
}

absl::StatusOr<std::string> PubNubHttpServer::SetState(
    const PubNubRequest& request, const auth::Caller& caller) {
  SetStateRequest set;
  set.user_id = request.path_uuid;
  set.channels = request.channels;
  set.channel_groups = Groups(request);
  if (absl::Status allowed = auth::Authorizer::CheckSetState(caller, set);
      !allowed.ok()) {
    return allowed;
  }
  std::optional<std::string> state = request.Query("state");
  if (!state.has_value() || state->empty()) {
    return absl::InvalidArgumentError(
        "state: is required (a JSON object, e.g. state={\"mood\":\"happy\"})");
  }
  set.state = *std::move(state);
  absl::StatusOr<SetStateResult> result = presence_->SetState(std::move(set));
  if (!result.ok()) return result.status();
  return SetStateBody(result->state);
}

absl::StatusOr<std::string> PubNubHttpServer::GetState(
    const PubNubRequest& request, const auth::Caller& caller) {
  GetStateRequest get;
  get.user_id = request.path_uuid;
  get.channels = request.channels;
  get.channel_groups = Groups(request);
  if (absl::Status allowed = auth::Authorizer::CheckGetState(caller, get);
      !allowed.ok()) {
    return allowed;
  }
  std::vector<std::string> unique = get.channels;
  std::sort(unique.begin(), unique.end());
  unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
  const bool single = unique.size() == 1 && get.channel_groups.empty();
  absl::StatusOr<GetStateResult> result = presence_->GetState(std::move(get));
  if (!result.ok()) return result.status();
  if (!single) return GetStateMultiBody(request.path_uuid, result->states);
  std::string state;
  for (const ChannelState& s : result->states) {
    if (s.channel == unique.front()) state = s.state;
  }
  return GetStateSingleBody(request.path_uuid, unique.front(), state);
}

absl::StatusOr<std::string> PubNubHttpServer::ChannelRegistry(
    const PubNubRequest& request, const auth::Caller& caller) {
  const auto empty_if_missing = [](const absl::Status& status) {
    // A group with no channels does not exist in the store; PubNub's
    // registry has no such difference.
    return status.code() == absl::StatusCode::kNotFound ? absl::OkStatus()
                                                        : status;
  };
  switch (request.endpoint) {
    case PubNubEndpoint::kAddChannels: {
      if (request.Query("remove").has_value()) {
        return absl::InvalidArgumentError(
            "add, remove: give one of them per call");
      }
      std::vector<std::string> channels = SplitNameList(*request.Query("add"));
      absl::Status status =
          auth::Authorizer::CheckAddChannels(caller, request.group, channels);
      if (status.ok()) {
        status = presence_->AddChannelsToGroup(request.group, channels);
      }
      if (!status.ok()) return status;
      return ChannelRegistryOkBody();
    }
    case PubNubEndpoint::kRemoveChannels: {
      absl::Status status =
          auth::Authorizer::CheckRemoveChannels(caller, request.group);
      if (!status.ok()) return status;
      // Validated first: a bad request must not pass as "already empty".
      status = empty_if_missing(presence_->RemoveChannelsFromGroup(
          request.group, SplitNameList(*request.Query("remove"))));
      if (!status.ok()) return status;
      return ChannelRegistryOkBody();
    }
    case PubNubEndpoint::kListChannels: {
      if (absl::Status allowed =
              auth::Authorizer::CheckListChannels(caller, request.group);
          !allowed.ok()) {
        return allowed;
      }
      absl::StatusOr<std::vector<std::string>> channels =
          presence_->ListChannelsInGroup(request.group);
      if (!channels.ok() &&
          channels.status().code() == absl::StatusCode::kNotFound) {
        channels = std::vector<std::string>();
      }
      if (!channels.ok()) return channels.status();
      return ListChannelsBody(request.group, *channels);
    }
    case PubNubEndpoint::kListGroups: {
      if (absl::Status allowed = auth::Authorizer::CheckListGroups(caller);
          !allowed.ok()) {
        return allowed;
      }
      absl::StatusOr<std::vector<std::string>> groups = presence_->ListGroups();
      if (!groups.ok()) return groups.status();
      return ListGroupsBody(request.sub_key, *groups);
    }
    case PubNubEndpoint::kDeleteGroup: {
      absl::Status status =
          auth::Authorizer::CheckDeleteGroup(caller, request.group);
      if (!status.ok()) return status;
      status = empty_if_missing(presence_->DeleteGroup(request.group));
      if (!status.ok()) return status;
      return ChannelRegistryOkBody();
    }
    default:
      return absl::InternalError("not a channel registry endpoint");
  }
}

absl::StatusOr<std::shared_ptr<PubNubHttpServer::GroupSink>>
PubNubHttpServer::AcquireGroup(const std::string& group) {
  std::shared_ptr<GroupSink> sink;
  {
    MutexLock lock(&groups_mu_);
    std::shared_ptr<GroupSink>& slot = group_sinks_[group];
    if (slot == nullptr) slot = std::make_shared<GroupSink>(group, &hub_);
    sink = slot;
    sink->refs.fetch_add(1);
  }
  // Registered outside groups_mu_: the fan-out's lock is taken here, and a
  // delivering thread holds it when a waiter lets go of a sink.
  MutexLock lock(&sink->registration_mu);
  if (!sink->registered) {
    absl::Status status = fanout_->Add(sink.get(), &encoder_, {}, {group});
    if (status.code() == absl::StatusCode::kNotFound &&
        presence_->store()->SyncEvents().ok()) {
      // A store that delivers events asynchronously (Redis) may not have
      // told the fan-out about a group created a moment ago.
      status = fanout_->Add(sink.get(), &encoder_, {}, {group});
    }
    if (!status.ok()) {
      sink->refs.fetch_sub(1);
      return status;
    }
    sink->registered = true;
  }
  return sink;
}

void PubNubHttpServer::SweepIdle() {
  const int64_t now = absl::ToUnixMillis(absl::Now());
  std::vector<std::shared_ptr<GroupSink>> idle;
  {
    MutexLock lock(&groups_mu_);
    for (auto it = group_sinks_.begin(); it != group_sinks_.end();) {
      GroupSink& sink = *it->second;
      if (sink.refs.load() == 0 &&
          absl::Milliseconds(now - sink.idle_since_ms.load()) >
              kGroupSinkLinger) {
        idle.push_back(it->second);
        group_sinks_.erase(it++);
      } else {
        ++it;
      }
    }
  }
  for (const auto& sink : idle) fanout_->Remove(sink.get());

  const absl::Time forget_before =
      absl::Now() - absl::Seconds(presence_->limits().max_timeout_seconds);
  MutexLock lock(&timeouts_mu_);
  absl::erase_if(timeouts_, [forget_before](const auto& entry) {
    return entry.second.last_seen < forget_before;
  });
}

void PubNubHttpServer::Subscribe(
    const PubNubRequest& request, const auth::Caller& caller,
    const std::string& client,
    const std::shared_ptr<HttpResponder>& responder) {
  const auto fail = [&](const absl::Status& status) {
    SendError(PubNubEndpoint::kSubscribe, *responder, status);
  };
  std::vector<std::string> watch_channels;
  std::vector<std::string> heartbeat_channels;
  std::vector<std::string> watch_groups;
  std::vector<std::string> heartbeat_groups;
  SplitPresence(request.channels, watch_channels, heartbeat_channels);
  SplitPresence(Groups(request), watch_groups, heartbeat_groups);
  if (watch_channels.empty() && heartbeat_channels.empty() &&
      watch_groups.empty() && heartbeat_groups.empty()) {
    return fail(absl::InvalidArgumentError(
        "channels, channel-group: at least one channel or channel group is "
        "required"));
  }
  // Subscribing to "<ch>-pnpres" reads ch's events (read on ch); to ch
  // itself, is a heartbeat (write on ch).
  if (!watch_channels.empty() || !watch_groups.empty()) {
    if (absl::Status allowed =
            auth::Authorizer::CheckWatch(caller, watch_channels, watch_groups);
        !allowed.ok()) {
      return fail(allowed);
    }
  }
  if (!heartbeat_channels.empty() || !heartbeat_groups.empty()) {
    HeartbeatRequest beat;
    beat.user_id = request.Query("uuid").value_or("");
    beat.channels = heartbeat_channels;
    beat.channel_groups = heartbeat_groups;
    if (absl::Status allowed = auth::Authorizer::CheckHeartbeat(caller, beat);
        !allowed.ok()) {
      return fail(allowed);
    }
  }
  if (absl::Status status =
          presence_->NormalizeWatch(watch_channels, watch_groups);
      !status.ok()) {
    return fail(status);
  }
  const std::optional<uint64_t> after =
      ParseTimetoken(request.Query("tt").value_or(""));
  if (!after.has_value()) {
    return fail(absl::InvalidArgumentError(absl::StrCat(
        "tt: \"", request.Query("tt").value_or(""), "\" is not a timetoken")));
  }

  // A poll that will be held is a watcher; refused before it changes
  // anything. A handshake (tt=0) is answered at once and is none.
  WatchSlot slot;
  if (*after != 0) {
    absl::StatusOr<WatchSlot> acquired = limits_->AcquireWatch(client, "http");
    if (!acquired.ok()) return fail(acquired.status());
    slot = *std::move(acquired);
  }

  // A subscribe is a heartbeat on its non-presence channels and groups,
  // charged to the client's write rate; beyond it, the heartbeat waits for
  // a later poll (held no longer than the client must wait).
  absl::Duration hold = options_.long_poll_timeout;
  bool heartbeat_now = !heartbeat_channels.empty() || !heartbeat_groups.empty();
  if (heartbeat_now && limits_->limits_writes()) {
    absl::Duration retry_after;
    if (!limits_
             ->AdmitWrite(client, 1, "http",
                          PubNubEndpointName(PubNubEndpoint::kSubscribe),
                          &retry_after)
             .ok()) {
      heartbeat_now = false;
      hold = std::min(hold, std::max(absl::Seconds(1), retry_after));
    }
  }
  if (heartbeat_now) {
    HeartbeatRequest heartbeat;
    heartbeat.user_id = request.Query("uuid").value_or("");
    heartbeat.channels = std::move(heartbeat_channels);
    heartbeat.channel_groups = std::move(heartbeat_groups);
    absl::StatusOr<uint32_t> timeout =
        ResolveTimeout(heartbeat.user_id, request);
    if (!timeout.ok()) return fail(timeout.status());
    heartbeat.timeout_seconds = *timeout;
    absl::StatusOr<std::vector<std::pair<std::string, std::string>>> states =
        HeartbeatStates(request, heartbeat.channels, heartbeat.channel_groups);
    if (!states.ok()) return fail(states.status());
    heartbeat.states = *std::move(states);
    const std::string uuid = heartbeat.user_id;
    absl::StatusOr<HeartbeatResult> result =
        presence_->Heartbeat(std::move(heartbeat));
    if (!result.ok()) {
      limits_->CountUserLimit(result.status(), "http");
      return fail(result.status());
    }
    if (*timeout != 0) RememberTimeout(uuid, result->timeout_seconds);
    // The next poll renews the presence before it times out.
    hold = std::min(hold, std::max(absl::Seconds(1),
                                   absl::Seconds(result->timeout_seconds) / 2));
  }

  std::vector<std::shared_ptr<GroupSink>> sinks;
  SubscribeHub::Query query;
  query.channels = std::move(watch_channels);
  query.after = *after;
  for (const std::string& group : watch_groups) {
    absl::StatusOr<std::shared_ptr<GroupSink>> sink = AcquireGroup(group);
    if (!sink.ok()) {
      // The waiter never existed: let go of the groups taken so far.
      for (const auto& taken : sinks) taken->refs.fetch_sub(1);
      return fail(sink.status());
    }
    sinks.push_back(*std::move(sink));
    // Read after the sink is registered: what changes later arrives live.
    query.groups.push_back({group, fanout_->ChannelsOfGroup(group)});
  }
  auto waiter = std::make_shared<PollWaiter>(this, responder, request.sub_key,
                                             std::move(sinks), std::move(slot));
  if (*after == 0) {
    // A handshake: where the client's cursor starts, at once.
    waiter->Wake({}, hub_.NextTimetoken());
    return;
  }
  SubscribeHub::PollResult result =
      hub_.Poll(query, waiter, absl::Now() + hold);
  if (result.ready) {
    waiter->Wake(std::move(result.deliveries), result.cursor);
    return;
  }
  SubscribeHub* hub = &hub_;
  responder->OnClientGone([hub, weak = std::weak_ptr<PollWaiter>(waiter)] {
    if (std::shared_ptr<PollWaiter> gone = weak.lock()) hub->Cancel(gone.get());
  });
}

}  // namespace presence
