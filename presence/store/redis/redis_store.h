// The Redis-backed PresenceStore: several presence_server replicas share
// one Redis and so one truth.
//
//   RedisStoreOptions options;
//   options.url = "redis://10.0.0.5:6379/0";
//   absl::StatusOr<std::unique_ptr<PresenceStore>> store =
//       NewRedisStore(options, Clock::Real());
//
// Every RPC is one Redis function (redis_scripts.lua, loaded with FUNCTION
// LOAD: Redis 7.0 or later), so one atomic step in Redis: concurrent calls
// from any number of replicas never leave a torn state, occupancy always
// equals the number of members, and the user index always agrees with the
// channels. Semantics are the memory store's (the conformance suite and
// the differential test run on both), including the consumer events, which
// the functions derive themselves (active/inactive, interval mode,
// sequences) so that every replica sees the same events with the same
// sequence numbers.
//
// Requests: the asynchronous forms (store.h) never block their caller. A
// call formats its FCALL on the caller's thread and queues it on one of a
// few pipelined connections (RedisPoolOptions::size, redis_pipeline.h);
// each connection's I/O thread writes what is queued, reads the replies in
// order and runs the completion callbacks. So completion callbacks run on
// the store's I/O threads (or at once on the caller's thread when the call
// fails before reaching Redis, e.g. while Redis is down) and must not
// block, nor call the store's synchronous forms (which refuse, with
// FAILED_PRECONDITION, on an I/O thread). The synchronous forms are the
// asynchronous ones and a wait. A batch goes to one connection, so Redis
// runs its entries in order.
//
// Key layout (prefix "presence", N shards, default 16). A channel and its
// per-channel data live in shard hash(channel) mod N, whose keys share the
// hash tag {s<i>}, so a shard is one Redis Cluster slot:
//   {s<i>}:m:<channel>    ZSET   members, all score 0, so ranks follow user
//                                ids: a HereNow page is ZRANGE by rank
//                                (O(log n + page))
//   {s<i>}:d:<channel>    HASH   user -> sessions: the deadline (ms) alone
//                                for the default session only, else
//                                "id\3deadline" items joined by \4; then
//                                "\5<s>[:<k>]" when the wheel entry is not in
//                                slot <deadline's second>:0
//   {s<i>}:st:<channel>   HASH   user -> state (JSON), users with a state
//   {s<i>}:u:<b>          HASH   user -> the user's channels in the shard,
//                                joined by \1 (WhereNow); users spread over
//                                1024 buckets b by hash, so that each stays a
//                                listpack
//   {s<i>}:w:<second>:<k> ZSET   the deadline wheel: "<channel>\1<user>" ->
//                                deadline (ms), at most 128 entries (a
//                                listpack); an entry may be earlier than its
//                                membership's deadline (heartbeats do not
//                                move it; the sweep that finds it due files
//                                it again), never later
//   {s<i>}:wf             HASH   second -> the last slot k opened for it
//   {s<i>}:t              ZSET   timers, by time (ms): w<second>:<k> (the
//                                slot's earliest entry), i<channel> (its next
//                                interval event), e<channel> (an inactive
//                                channel's epoch, kept about a second); a
//                                shard with nothing due costs one ZRANGE
//   {s<i>}:ep / :seq      HASH   epoch / event count of each occupied
//                                channel (its sequences; HKEYS ep: the
//                                occupied channels)
//   {s<i>}:epf            STRING a second above every pruned epoch
//   {s<i>}:ivb            HASH   channel -> bytes of its pending interval
//                                lists; :ivj:<channel>, :ivl:<channel>,
//                                :ivx:<channel> LIST pending joins, leaves and
//                                timeouts of a channel in interval mode
//   {s<i>}:n              HASH   m, s: memberships and sessions (Stats)
//   {s<i>}:events         STREAM the shard's events (capped)
//   {g}:groups, :g:<name> SET    channel groups; {g}:events STREAM
//   {g}:lease, :cursor           exclusive delivery (see below)
// A membership with only the default session is a member of m, a field of
// d and u, and one wheel entry: about 230 bytes of Redis memory in all
// (bench/redis/redis_memory). Timeouts: every replica periodically runs the
// expire function, which takes what is due from each shard's timers
// atomically, so each timeout happens (and is emitted, with the deadline it
// passed) exactly once, whichever replica runs it.
//
// Events: every replica reads every stream (XREAD) on its event-reader
// thread, which is the thread that calls the listeners of AddListener; per
// channel they come in order (the rules of event.h). Only AddListener's
// replay of the groups runs on its caller's thread, with dispatching held
// off until the listener is registered. Sequences follow the
// epoch rule of PresenceEvent::sequence, applied by the functions with each
// caller's clock. Exclusive listeners (webhooks) are called from the
// delivery thread of the one replica that holds the lease ({g}:lease: an
// owner and an expiry in ms of the holder's clock, renewed before every
// delivery round); the holder numbers the events it offers
// (PresenceEvent::delivery_position) and moves the shared cursor
// ({g}:cursor) only past what every exclusive listener is done with
// (EventListener::DoneThrough: for webhooks, acknowledged by the receivers),
// so a new holder resumes where the last one was done: around a handover an
// event may be delivered twice, never skipped (as long as the cursor is
// within the streams' capped length). A replica without exclusive listeners
// takes no lease. The event reader and the lease holder have connections of
// their own (blocking reads).
//
// Faults: a connection on which Redis answers nothing for the pool timeout
// while requests are in flight is given up, and its requests fail with
// UNAVAILABLE; while Redis is down calls fail at once and Healthy() is
// false; connections are retried with backoff in the background and
// service resumes when Redis is back (the functions are loaded again if
// Redis lost them). When the event feed breaks, listeners get
// OnEventsInterrupted (watch streams end with UNAVAILABLE) and group state
// is re-sent afterwards. A reader that falls behind a stream by more than
// stream_max_len entries finds the gap (it counts the entries it read
// against the stream's entries-added and length): it resumes at the
// streams' current ends and then tells listeners OnEventsInterrupted with
// DATA_LOSS (watch streams end with DATA_LOSS). The check follows each read,
// so a reader within one read of the cap may be told so too: conservative,
// never a silent loss.
//
// Thread-safe. Deadlines, the lease's expiry and every wait of the store's
// threads (lease attempts, the event reader's reconnection backoff) come
// from the injected clock of each replica, so replicas' clocks must agree
// (NTP): skew shifts timeouts by as much. Only network timeouts and the
// request connections' reconnection backoff (RedisPoolOptions) and
// SyncEvents are in real time.
#ifndef PRESENCE_STORE_REDIS_REDIS_STORE_H_
#define PRESENCE_STORE_REDIS_REDIS_STORE_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
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
  // The store itself enforces max_channels_per_group, max_sessions_per_user
  // and max_channels_per_user.
  Limits limits;
  // Interval mode, applied by the scripts.
  EventOptions events;
  // Prefix of every key, so several deployments can share a Redis.
  std::string key_prefix = "presence";
  // Shards of the key space. Every replica must use the same number.
  int shards = 16;
  // The request connections (pipelined, each with an I/O thread), their
  // timeout and reconnection backoff.
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
  // Optional; called on a Redis I/O thread after each function call
  // (`function` is one of the store's fixed function names, e.g.
  // "heartbeat"): the time from queueing the call to its reply, and whether
  // Redis failed it (unreachable, timed out, or an error reply other than a
  // request's own refusal such as a missing group). For metrics: must be
  // cheap and thread-safe.
  std::function<void(absl::string_view function, absl::Duration round_trip,
                     bool failed)>
      on_round_trip;
};

// Returns a store on Redis; fails only on a malformed URL (an unreachable
// Redis is retried in the background).
absl::StatusOr<std::unique_ptr<PresenceStore>> NewRedisStore(
    const RedisStoreOptions& options, Clock* clock);

}  // namespace presence

#endif  // PRESENCE_STORE_REDIS_REDIS_STORE_H_
