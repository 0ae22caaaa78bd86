// The Redis-backed PresenceStore: several presence_server replicas share
// one Redis and so one truth.
//
//   RedisStoreOptions options;
//   options.url = "redis://10.0.0.5:6379/0";
//   absl::StatusOr<std::unique_ptr<PresenceStore>> store =
//       NewRedisStore(options, Clock::Real());
//
// Every RPC is one Lua script (redis_scripts.lua), so one atomic step in
// Redis: concurrent calls from any number of replicas never leave a torn
// state, occupancy always equals the number of members, and the user index
// always agrees with the channels. Semantics are the memory store's (the
// conformance suite runs on both), including the consumer events, which the
// scripts derive themselves (active/inactive, interval mode, sequences) so
// that every replica sees the same events with the same sequence numbers.
//
// Key layout (prefix "presence", N shards, default 16). A channel and its
// per-channel data live in shard hash(channel) mod N, whose keys share the
// hash tag {s<i>}, so a shard is one Redis Cluster slot:
//   presence:{s<i>}:m:<channel>    ZSET  members (score 0: user-id order)
//   presence:{s<i>}:ss:<channel>   HASH  user -> sessions and deadlines
//   presence:{s<i>}:st:<channel>   HASH  user -> state (JSON)
//   presence:{s<i>}:dl             ZSET  "<channel>\0<user>" -> deadline (ms)
//   presence:{s<i>}:u:<user>       SET   the user's channels in this shard
//   presence:{s<i>}:channels       SET   occupied channels
//   presence:{s<i>}:ep / :seq      HASH  epoch / event count of each active
//                                        channel (its sequences)
//   presence:{s<i>}:epz            ZSET  channel -> epoch, of channels that
//                                        went inactive within about a second
//   presence:{s<i>}:epf            STRING a second above every pruned epoch
//   presence:{s<i>}:ivz, :ivj ...  interval-mode channels and pending lists
//   presence:{s<i>}:events         STREAM the shard's events (capped)
//   presence:{g}:groups, :g:<name> SET   channel groups; :events STREAM
//   presence:{g}:lease, :cursor          exclusive delivery (see below)
// Timeouts: every replica periodically runs the expire script, which claims
// what is due in each shard's deadline index atomically, so each timeout
// happens (and is emitted) exactly once, whichever replica runs it.
//
// Events: every replica reads every stream (XREAD) on its event-reader
// thread, which is the thread that calls the listeners of AddListener; per
// channel they come in order (the rules of event.h). Only AddListener's
// replay of the groups runs on its caller's thread, with dispatching held
// off until the listener is registered. Sequences follow the
// epoch rule of PresenceEvent::sequence, applied by the scripts with each
// caller's clock. Exclusive listeners (webhooks) are called from the
// delivery thread of the one replica that holds the lease ({g}:lease: an
// owner and an expiry in ms of the holder's clock, renewed before every
// delivery round); a new holder resumes at the shared cursor, so around a
// handover an event may be delivered twice, never skipped.
//
// Faults: a call that cannot reach Redis within the pool timeout fails with
// UNAVAILABLE; while Redis is down calls fail at once and Healthy() is false;
// connections are retried with backoff and service resumes when Redis is
// back. When the event feed breaks, listeners get OnEventsInterrupted (watch
// streams end with UNAVAILABLE) and group state is re-sent afterwards.
//
// Thread-safe. Deadlines, the lease's expiry and every wait of the store's
// threads (lease attempts, reconnection backoff) come from the injected
// clock of each replica, so replicas' clocks must agree (NTP): skew shifts
// timeouts by as much. Only network timeouts (RedisPoolOptions, SyncEvents)
// are in real time.
#ifndef PRESENCE_STORE_REDIS_REDIS_STORE_H_
#define PRESENCE_STORE_REDIS_REDIS_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "presence/clock.h"
#include "presence/event.h"
#include "presence/limits.h"
#include "presence/store.h"
#include "presence/store/redis/redis_client.h"

namespace presence {

struct RedisStoreOptions {
  // redis://[:password@]host[:port][/db]
  std::string url = "redis://127.0.0.1:6379";
  // Only max_channels_per_group is used by the store itself.
  Limits limits;
  // Interval mode, applied by the scripts.
  EventOptions events;
  // Prefix of every key, so several deployments can share a Redis.
  std::string key_prefix = "presence";
  // Shards of the key space. Every replica must use the same number.
  int shards = 16;
  RedisPoolOptions pool;
  // Approximate length cap of each event stream (entries).
  int stream_max_len = 10000;
  // How long the event reader blocks per XREAD.
  absl::Duration read_block = absl::Milliseconds(100);
  // Exclusive delivery: how long a taken or renewed lease lasts, how long a
  // replica that does not hold it waits between attempts to take it, and
  // how long the holder's XREAD blocks per round (which must stay well
  // below `lease`).
  absl::Duration lease = absl::Seconds(3);
  absl::Duration lease_retry = absl::Milliseconds(200);
  absl::Duration exclusive_read_block = absl::Milliseconds(100);
};

// Returns a store on Redis; fails only on a malformed URL (an unreachable
// Redis is retried in the background).
absl::StatusOr<std::unique_ptr<PresenceStore>> NewRedisStore(
    const RedisStoreOptions& options, Clock* clock);

}  // namespace presence

#endif  // PRESENCE_STORE_REDIS_REDIS_STORE_H_
