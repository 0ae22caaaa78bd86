// presence_server: the presence service's gRPC server.
//
//   bazel run //service:presence_server -- --listen_address=0.0.0.0:50051
//
// Flags are read here only and copied into PresenceAppOptions; PresenceApp
// (service/app) assembles and runs the service. SIGTERM or SIGINT drains:
// health NOT_SERVING, in-flight calls get --shutdown_grace, then the process
// exits 0. SIGHUP re-reads the secret and certificate files (the server
// keeps running).
#include <csignal>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/app/presence_app.h"
#include "service/logging/logging.h"
#include "service/logging/protobuf_log.h"

ABSL_FLAG(std::string, listen_address, "127.0.0.1:50051",
          "host:port to serve gRPC on; port 0 picks a free port");
ABSL_FLAG(std::string, store, "memory",
          "Presence store: memory (embedded, one replica) or redis (shared by "
          "several replicas)");
ABSL_FLAG(std::string, redis_url, "redis://127.0.0.1:6379",
          "With --store=redis: redis://[:password@]host[:port][/db]");
ABSL_FLAG(absl::Duration, redis_timeout, absl::Seconds(1),
          "With --store=redis: connect and command timeout; RPCs fail with "
          "UNAVAILABLE after it while Redis is unreachable");
ABSL_FLAG(int32_t, redis_pool_size, 2,
          "With --store=redis: pipelined connections, each with its own I/O "
          "thread; many RPCs share each one");
ABSL_FLAG(std::string, redis_key_prefix, "presence",
          "With --store=redis: prefix of every key (several deployments may "
          "share a Redis)");
ABSL_FLAG(int32_t, redis_shards, 16,
          "With --store=redis: key-space shards (one cluster slot each); "
          "every replica must use the same value");
ABSL_FLAG(int32_t, redis_stream_max_len, 10000,
          "With --store=redis: approximate length cap of each event stream");
ABSL_FLAG(std::string, data_dir, "",
          "With --store=memory: a directory where channel groups (logged with "
          "fsync before each change is acknowledged) and snapshots of live "
          "presence survive restarts; empty keeps everything in memory only");
ABSL_FLAG(absl::Duration, snapshot_interval, absl::Seconds(10),
          "With --data_dir: how often live presence is snapshotted (also at "
          "graceful shutdown); a crash loses presence changes since the last "
          "one, never a group change");
ABSL_FLAG(bool, data_dir_recover, false,
          "With --data_dir: start even if the directory is damaged, from every "
          "record that reads intact (what the damage took is lost and logged); "
          "without it a damaged directory stops the start with an error "
          "naming the file");
ABSL_FLAG(uint32_t, default_timeout_seconds, 300,
          "Presence timeout of a heartbeat that asks for 0");
ABSL_FLAG(uint32_t, min_timeout_seconds, 20,
          "Smallest timeout a heartbeat may ask for");
ABSL_FLAG(uint32_t, max_timeout_seconds, 3600,
          "Largest timeout a heartbeat may ask for");
ABSL_FLAG(uint32_t, max_channels_per_request, 1000,
          "Channels one request may name");
ABSL_FLAG(uint32_t, max_groups_per_request, 10,
          "Channel groups one request may name");
ABSL_FLAG(uint32_t, max_channels_per_group, 2000,
          "Channels one group may hold");
ABSL_FLAG(uint32_t, max_state_bytes, 32 * 1024,
          "Largest state, as compact JSON");
ABSL_FLAG(uint32_t, max_state_depth, 16, "Deepest nesting of a state");
ABSL_FLAG(uint32_t, max_batch_entries, 10000,
          "Entries (heartbeats and leaves) one BatchHeartbeat request may "
          "carry");
ABSL_FLAG(uint32_t, max_name_chars, 92,
          "Longest user id, session id, channel or group");
ABSL_FLAG(int32_t, max_receive_message_bytes, 4 * 1024 * 1024,
          "Largest request accepted (gRPC max receive message size)");
ABSL_FLAG(absl::Duration, keepalive_time, absl::Seconds(30),
          "Interval of server keepalive pings");
ABSL_FLAG(absl::Duration, keepalive_timeout, absl::Seconds(10),
          "How long a keepalive ping may go unanswered");
ABSL_FLAG(absl::Duration, max_connection_age, absl::Minutes(5),
          "Connections are closed gracefully after this age (load balancing)");
ABSL_FLAG(absl::Duration, max_connection_age_grace, absl::Seconds(30),
          "Time in-flight calls get when a connection ages out");
ABSL_FLAG(absl::Duration, max_connection_idle, absl::Minutes(10),
          "Idle connections are closed after this long");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "On SIGTERM, how long in-flight calls get before they are cancelled");
ABSL_FLAG(absl::Duration, expiry_interval, absl::Milliseconds(10),
          "How often timed-out sessions are swept");
ABSL_FLAG(uint32_t, announce_max, 20,
          "Above this many occupants, a channel's joins, leaves and timeouts "
          "are replaced by periodic interval events");
ABSL_FLAG(absl::Duration, presence_interval, absl::Seconds(10),
          "Period of interval events");
ABSL_FLAG(uint32_t, interval_lists_max_bytes, 30 * 1024,
          "Largest join/leave/timeout lists of an interval event; beyond, "
          "here_now_refresh is sent instead");
ABSL_FLAG(std::vector<std::string>, webhook_url, {},
          "POST every event to this URL; repeat the flag (or separate with "
          "commas) for several receivers");
ABSL_FLAG(std::string, webhook_secret, "",
          "HMAC-SHA256 key of the X-Presence-Signature header (default: the "
          "PRESENCE_WEBHOOK_SECRET environment variable)");
ABSL_FLAG(std::string, webhook_actions, "",
          "Comma-separated actions to send (join, leave, timeout, "
          "state-change, interval, active, inactive); empty sends all");
ABSL_FLAG(uint32_t, webhook_batch_events, 100, "Most events in one POST");
ABSL_FLAG(absl::Duration, webhook_batch_delay, absl::Milliseconds(200),
          "Longest an event waits for its batch to fill");
ABSL_FLAG(uint32_t, webhook_queue_events, 100000,
          "Events queued per URL; beyond, the oldest are dropped and counted");
ABSL_FLAG(absl::Duration, webhook_timeout, absl::Seconds(5),
          "Timeout of one POST");
ABSL_FLAG(int32_t, webhook_max_attempts, 10,
          "Attempts per batch (connection errors, timeouts, 5xx and 429 are "
          "retried with exponential backoff)");
ABSL_FLAG(std::string, metrics_address, "",
          "host:port serving Prometheus metrics at /metrics (empty: off; "
          "port 0 picks a free port, logged)");
ABSL_FLAG(std::string, log_format, "text",
          "Log lines on stderr as text or json (one JSON object per line, "
          "with time, level, msg and fields)");
ABSL_FLAG(uint32_t, watch_buffer_events, 4096,
          "Events a WatchEvents stream may have waiting before it is ended "
          "with RESOURCE_EXHAUSTED");
ABSL_FLAG(std::string, http_address, "",
          "host:port serving PubNub's REST presence API over HTTP/1.1, for "
          "apps using PubNub's SDKs (empty: off; port 0 picks a free port, "
          "logged)");
ABSL_FLAG(int32_t, http_threads, 2, "Threads of the HTTP server");
ABSL_FLAG(int32_t, http_worker_threads, 4,
          "Threads running the HTTP API's presence calls (which may wait on "
          "Redis)");
ABSL_FLAG(absl::Duration, http_idle_timeout, absl::Seconds(60),
          "How long an HTTP connection may wait to start its next request");
ABSL_FLAG(absl::Duration, http_request_timeout, absl::Seconds(10),
          "How long an HTTP client has to send a whole request once it "
          "started (slow clients are cut off)");
ABSL_FLAG(std::vector<std::string>, pubnub_subscribe_keys, {},
          "Subscribe keys the HTTP API accepts, comma-separated (empty: any); "
          "others are answered \"Invalid Subscribe Key\"");
ABSL_FLAG(absl::Duration, pubnub_long_poll_timeout, absl::Seconds(280),
          "Longest hold of a subscribe long-poll with nothing to deliver "
          "(below the SDKs' 310 s request timeout)");
ABSL_FLAG(uint32_t, pubnub_history_events, 50000,
          "Presence events kept so that subscribe polls catch up on what "
          "happened between two polls");
ABSL_FLAG(absl::Duration, pubnub_history_retention, absl::Minutes(5),
          "How long a presence event stays in the subscribe catch-up history");
ABSL_FLAG(std::string, auth, "none",
          "none: every caller may call every RPC (the embedded quick start, "
          "or behind a mesh that authenticates callers with mTLS); token: "
          "presence, group and access RPCs need \"authorization: Bearer "
          "<token>\" metadata with a token signed by --auth_secret_file");
ABSL_FLAG(std::string, auth_secret_file, "",
          "With --auth=token: file of token secrets, one per line, each at "
          "least 32 characters; during a rotation two lines (the first signs, "
          "both verify). Re-read when it changes and on SIGHUP");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain of the server (leaf first): serve gRPC and "
          "the PubNub HTTP API over TLS. Re-read when it changes (checked "
          "every --reload_interval; HTTP and metrics also on SIGHUP)");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA certificates: require every client to present a "
          "certificate one of them signed (mutual TLS)");
ABSL_FLAG(bool, metrics_tls, false,
          "Serve --metrics_address over HTTPS with the --tls_* files (and "
          "require client certificates with --tls_client_ca_file)");
ABSL_FLAG(absl::Duration, reload_interval, absl::Seconds(10),
          "How often the certificate and secret files are checked for "
          "changes (whole seconds, at least 1s)");
ABSL_FLAG(double, write_rate_per_client, 0,
          "Writes per second each client may make on average (Heartbeat, "
          "Leave, SetState, BatchHeartbeat entries, group changes; HTTP "
          "subscribes that heartbeat); a client is a token's user, an "
          "unbound token, or the peer's IP address without auth. Beyond: "
          "RESOURCE_EXHAUSTED (HTTP 429) with a retry hint; 0 is off");
ABSL_FLAG(uint32_t, write_burst_per_client, 0,
          "Most writes a client may make at once (the token bucket's size); "
          "0 is one second's worth of --write_rate_per_client");
ABSL_FLAG(uint32_t, write_rate_max_clients, 100000,
          "Most clients whose write rate is tracked at once (the least "
          "recently seen are forgotten beyond)");
ABSL_FLAG(uint32_t, max_watchers_per_client, 0,
          "Most open watches (WatchEvents streams, HTTP subscribe "
          "long-polls) per client; 0 is unlimited");
ABSL_FLAG(uint32_t, max_watchers, 0,
          "Most open watches in total; 0 is unlimited");
ABSL_FLAG(uint32_t, max_sessions_per_user, 0,
          "Most live sessions (distinct session ids) one user may have; a "
          "heartbeat with another session id is refused with "
          "RESOURCE_EXHAUSTED; 0 is unlimited");
ABSL_FLAG(uint32_t, max_channels_per_user, 0,
          "Most channels one user may be present on; a heartbeat that would "
          "add more is refused with RESOURCE_EXHAUSTED; 0 is unlimited");

namespace presence {
namespace {

// --webhook_url may be given several times; absl keeps only the last value of
// a flag, so the occurrences are merged into one comma-separated value first.
std::vector<char*> MergeRepeatedWebhookUrls(int argc, char** argv,
                                            std::string* merged) {
  std::vector<char*> args;
  std::vector<std::string> urls;
  for (int i = 0; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (absl::ConsumePrefix(&arg, "--webhook_url=")) {
      urls.emplace_back(arg);
    } else if (arg == "--webhook_url" && i + 1 < argc) {
      urls.emplace_back(argv[++i]);
    } else {
      args.push_back(argv[i]);
    }
  }
  if (!urls.empty()) {
    *merged = absl::StrCat("--webhook_url=", absl::StrJoin(urls, ","));
    args.push_back(merged->data());
  }
  return args;
}

// Returns the options the flags describe, or INVALID_ARGUMENT naming the
// flag that cannot be read.
absl::StatusOr<PresenceAppOptions> OptionsFromFlags() {
  PresenceAppOptions options;

  const std::string store = absl::GetFlag(FLAGS_store);
  if (store == "memory") {
    options.store = PresenceAppOptions::Store::kMemory;
  } else if (store == "redis") {
    options.store = PresenceAppOptions::Store::kRedis;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown --store=", store, "; supported: memory, redis"));
  }

  Limits& limits = options.limits;
  limits.default_timeout_seconds = absl::GetFlag(FLAGS_default_timeout_seconds);
  limits.min_timeout_seconds = absl::GetFlag(FLAGS_min_timeout_seconds);
  limits.max_timeout_seconds = absl::GetFlag(FLAGS_max_timeout_seconds);
  limits.max_channels_per_request =
      absl::GetFlag(FLAGS_max_channels_per_request);
  limits.max_groups_per_request = absl::GetFlag(FLAGS_max_groups_per_request);
  limits.max_channels_per_group = absl::GetFlag(FLAGS_max_channels_per_group);
  limits.max_state_bytes = absl::GetFlag(FLAGS_max_state_bytes);
  limits.max_state_depth = absl::GetFlag(FLAGS_max_state_depth);
  limits.max_name_chars = absl::GetFlag(FLAGS_max_name_chars);
  limits.max_batch_entries = absl::GetFlag(FLAGS_max_batch_entries);
  limits.max_sessions_per_user = absl::GetFlag(FLAGS_max_sessions_per_user);
  limits.max_channels_per_user = absl::GetFlag(FLAGS_max_channels_per_user);

  ClientLimitsOptions& client_limits = options.client_limits;
  client_limits.write_rate_per_client =
      absl::GetFlag(FLAGS_write_rate_per_client);
  client_limits.write_burst_per_client =
      absl::GetFlag(FLAGS_write_burst_per_client);
  client_limits.write_rate_max_clients =
      absl::GetFlag(FLAGS_write_rate_max_clients);
  client_limits.max_watchers_per_client =
      absl::GetFlag(FLAGS_max_watchers_per_client);
  client_limits.max_watchers = absl::GetFlag(FLAGS_max_watchers);

  EventOptions& events = options.events;
  events.announce_max = absl::GetFlag(FLAGS_announce_max);
  events.interval = absl::GetFlag(FLAGS_presence_interval);
  events.interval_lists_max_bytes =
      absl::GetFlag(FLAGS_interval_lists_max_bytes);

  RedisStoreOptions& redis = options.redis;
  redis.url = absl::GetFlag(FLAGS_redis_url);
  redis.key_prefix = absl::GetFlag(FLAGS_redis_key_prefix);
  redis.shards = absl::GetFlag(FLAGS_redis_shards);
  redis.stream_max_len = absl::GetFlag(FLAGS_redis_stream_max_len);
  redis.pool.timeout = absl::GetFlag(FLAGS_redis_timeout);
  redis.pool.size = absl::GetFlag(FLAGS_redis_pool_size);

  PresenceServerOptions& grpc = options.grpc;
  grpc.listen_address = absl::GetFlag(FLAGS_listen_address);
  grpc.max_receive_message_bytes =
      absl::GetFlag(FLAGS_max_receive_message_bytes);
  grpc.keepalive_time = absl::GetFlag(FLAGS_keepalive_time);
  grpc.keepalive_timeout = absl::GetFlag(FLAGS_keepalive_timeout);
  grpc.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
  grpc.max_connection_age_grace = absl::GetFlag(FLAGS_max_connection_age_grace);
  grpc.max_connection_idle = absl::GetFlag(FLAGS_max_connection_idle);
  grpc.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  grpc.watch_buffer_events = absl::GetFlag(FLAGS_watch_buffer_events);

  WebhookOptions& webhooks = options.webhooks;
  webhooks.urls = absl::GetFlag(FLAGS_webhook_url);
  if (!webhooks.urls.empty()) {
    webhooks.secret = absl::GetFlag(FLAGS_webhook_secret);
    if (webhooks.secret.empty()) {
      if (const char* secret = std::getenv("PRESENCE_WEBHOOK_SECRET")) {
        webhooks.secret = secret;
      }
    }
    absl::StatusOr<std::vector<EventType>> actions =
        WebhookDispatcher::ParseActions(absl::GetFlag(FLAGS_webhook_actions));
    if (!actions.ok()) return actions.status();
    webhooks.actions = *std::move(actions);
    webhooks.max_batch_events = absl::GetFlag(FLAGS_webhook_batch_events);
    webhooks.max_batch_delay = absl::GetFlag(FLAGS_webhook_batch_delay);
    webhooks.max_queue_events = absl::GetFlag(FLAGS_webhook_queue_events);
    webhooks.request_timeout = absl::GetFlag(FLAGS_webhook_timeout);
    webhooks.max_attempts = absl::GetFlag(FLAGS_webhook_max_attempts);
  }

  PubNubHttpOptions& pubnub = options.pubnub;
  pubnub.http.address = absl::GetFlag(FLAGS_http_address);
  pubnub.http.threads = absl::GetFlag(FLAGS_http_threads);
  pubnub.http.idle_timeout = absl::GetFlag(FLAGS_http_idle_timeout);
  pubnub.http.request_timeout = absl::GetFlag(FLAGS_http_request_timeout);
  pubnub.worker_threads = absl::GetFlag(FLAGS_http_worker_threads);
  pubnub.subscribe_keys = absl::GetFlag(FLAGS_pubnub_subscribe_keys);
  pubnub.long_poll_timeout = absl::GetFlag(FLAGS_pubnub_long_poll_timeout);
  pubnub.history_events = absl::GetFlag(FLAGS_pubnub_history_events);
  pubnub.history_retention = absl::GetFlag(FLAGS_pubnub_history_retention);

  const std::string auth = absl::GetFlag(FLAGS_auth);
  if (auth == "none") {
    options.auth.mode = auth::AuthMode::kNone;
  } else if (auth == "token") {
    options.auth.mode = auth::AuthMode::kToken;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown --auth=", auth, "; supported: none, token"));
  }
  options.auth.secret_file = absl::GetFlag(FLAGS_auth_secret_file);

  TlsOptions& tls = options.tls;
  tls.cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  tls.key_file = absl::GetFlag(FLAGS_tls_key_file);
  tls.client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  tls.metrics = absl::GetFlag(FLAGS_metrics_tls);
  tls.reload_interval = absl::GetFlag(FLAGS_reload_interval);

  options.metrics_address = absl::GetFlag(FLAGS_metrics_address);
  options.expiry_interval = absl::GetFlag(FLAGS_expiry_interval);
  options.durable.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.durable.snapshot_interval = absl::GetFlag(FLAGS_snapshot_interval);
  options.durable.recover = absl::GetFlag(FLAGS_data_dir_recover);
  return options;
}

int Run() {
  absl::StatusOr<LogFormat> log_format =
      ParseLogFormat(absl::GetFlag(FLAGS_log_format));
  if (!log_format.ok()) {
    LogError(log_format.status().message());
    return 2;
  }
  SetLogFormat(*log_format);
  // libprotobuf logs a line per bad string field a caller sends: route it
  // through the server's log, throttled.
  RouteProtobufLogs(absl::Seconds(10));

  absl::StatusOr<PresenceAppOptions> options = OptionsFromFlags();
  if (!options.ok()) {
    LogError(options.status().message());
    return 2;
  }
  if (absl::Status status = ValidatePresenceAppOptions(*options);
      !status.ok()) {
    LogError(status.message());
    return 2;
  }

  // Block the shutdown and reload signals in every thread (gRPC's included,
  // which inherit the mask); this thread waits for them with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const absl::Duration grace = options->grpc.shutdown_grace;
  absl::StatusOr<std::unique_ptr<PresenceApp>> app =
      PresenceApp::Start(*std::move(options));
  if (!app.ok()) {
    LogError(app.status().message());
    return app.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }

  int signal = 0;
  while (sigwait(&signals, &signal) == 0 && signal == SIGHUP) {
    LogInfo("received SIGHUP; re-reading the secret and certificate files",
            {{"signal", "SIGHUP"}});
    (*app)->Reload().IgnoreError();  // Reload() logs what happened.
  }
  const char* signal_name = signal == SIGTERM ? "SIGTERM" : "SIGINT";
  LogInfo(absl::StrCat("received ", signal_name, "; draining for up to ",
                       absl::FormatDuration(grace)),
          {{"signal", signal_name}, {"grace", absl::FormatDuration(grace)}});
  (*app)->Shutdown();
  LogInfo("presence_server stopped");
  return 0;
}

}  // namespace
}  // namespace presence

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "The presence service's gRPC server. See README.md for the API.");
  std::string merged_urls;
  std::vector<char*> args =
      presence::MergeRepeatedWebhookUrls(argc, argv, &merged_urls);
  absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex's deadlock
  // detection on: every lock gRPC takes (gRPC 1.51 locks through
  // absl::Mutex) updates a global lock graph (GraphCycles, ~4.5% of the
  // server's CPU in a profile of a mass expiry). It is a debugging aid; the
  // tests keep it, the server does not need it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return presence::Run();
}
