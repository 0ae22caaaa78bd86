// presence_server: the presence service's gRPC server.
//
//   bazel run //service:presence_server -- --listen_address=0.0.0.0:50051
//
// Flags are read here only and copied into PresenceAppOptions; PresenceApp
// (service/app) assembles and runs the service. SIGTERM or SIGINT drains:
// health NOT_SERVING, in-flight calls get --shutdown_grace, then the process
// exits 0.
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
#include "absl/time/time.h"
#include "service/app/presence_app.h"
#include "service/logging/logging.h"

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
ABSL_FLAG(int32_t, redis_pool_size, 8, "With --store=redis: connections");
ABSL_FLAG(std::string, redis_key_prefix, "presence",
          "With --store=redis: prefix of every key (several deployments may "
          "share a Redis)");
ABSL_FLAG(int32_t, redis_shards, 16,
          "With --store=redis: key-space shards (one cluster slot each); "
          "every replica must use the same value");
ABSL_FLAG(int32_t, redis_stream_max_len, 10000,
          "With --store=redis: approximate length cap of each event stream");
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
ABSL_FLAG(uint32_t, watch_buffer_events, 4096,
          "Events a WatchEvents stream may have waiting before it is ended "
          "with RESOURCE_EXHAUSTED");

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

  options.metrics_address = absl::GetFlag(FLAGS_metrics_address);
  options.expiry_interval = absl::GetFlag(FLAGS_expiry_interval);
  return options;
}

int Run() {
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

  // Block the shutdown signals in every thread (gRPC's included, which
  // inherit the mask); this thread waits for them with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const absl::Duration grace = options->grpc.shutdown_grace;
  absl::StatusOr<std::unique_ptr<PresenceApp>> app =
      PresenceApp::Start(*std::move(options));
  if (!app.ok()) {
    LogError(app.status().message());
    return app.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }

  int signal = 0;
  sigwait(&signals, &signal);
  LogInfo(absl::StrCat("received ", signal == SIGTERM ? "SIGTERM" : "SIGINT",
                       "; draining for up to ", absl::FormatDuration(grace)));
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
  return presence::Run();
}
