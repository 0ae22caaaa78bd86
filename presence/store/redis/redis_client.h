// A small synchronous Redis client over hiredis: URL parsing, a connection
// pool with timeouts that fails fast while Redis is down, and scripts run
// by SHA (EVALSHA, loading them again after a Redis restart).
//
//   auto endpoint = ParseRedisUrl("redis://:secret@10.0.0.5:6379/2");
//   RedisPool pool(*endpoint, RedisPoolOptions());
//   absl::StatusOr<RedisReply> pong = pool.Command({"PING"});
//
// Errors: a connection that cannot be made, breaks or times out gives
// UNAVAILABLE ("redis: ..."); a Redis error reply is a RedisReply of type
// kError, for the caller to interpret.
#ifndef PRESENCE_STORE_REDIS_REDIS_CLIENT_H_
#define PRESENCE_STORE_REDIS_REDIS_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "presence/base/mutex.h"

struct redisContext;

namespace presence {

struct RedisEndpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password;
  int db = 0;
};

// Parses redis://[[user]:password@]host[:port][/db]. INVALID_ARGUMENT naming
// the part that is wrong.
absl::StatusOr<RedisEndpoint> ParseRedisUrl(absl::string_view url);

// A reply, copied out of hiredis.
struct RedisReply {
  enum class Type { kNil, kInteger, kString, kStatus, kError, kArray };
  Type type = Type::kNil;
  int64_t integer = 0;
  std::string str;  // kString, kStatus, kError.
  std::vector<RedisReply> elements;

  bool is_error() const { return type == Type::kError; }
};

// One connection. Not thread-safe.
class RedisConnection {
 public:
  // Connects, authenticates and selects the database, each step within
  // `timeout`; every later command must also answer within `timeout` (plus
  // `extra_read_timeout`, for blocking commands like XREAD BLOCK).
  static absl::StatusOr<std::unique_ptr<RedisConnection>> Connect(
      const RedisEndpoint& endpoint, absl::Duration timeout,
      absl::Duration extra_read_timeout = absl::ZeroDuration());

  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Sends one command and waits for its reply. UNAVAILABLE if the
  // connection failed; it is then broken() and should be dropped.
  absl::StatusOr<RedisReply> Command(const std::vector<std::string>& args);

  // Runs `script` with `args` (no KEYS) by EVALSHA, loading it first if
  // Redis does not know it (e.g. after a restart).
  absl::StatusOr<RedisReply> Eval(const struct RedisScript& script,
                                  const std::vector<std::string>& args);

  bool broken() const { return broken_; }

 private:
  explicit RedisConnection(redisContext* context) : context_(context) {}

  redisContext* context_;
  bool broken_ = false;
};

// A Lua script, run by SHA1.
struct RedisScript {
  explicit RedisScript(std::string source);
  std::string source;
  std::string sha1;  // Lowercase hex.
};

struct RedisPoolOptions {
  // Connections kept; callers beyond that wait for a free one.
  int size = 8;
  // Connect and command timeout: how long an RPC may wait on Redis.
  absl::Duration timeout = absl::Seconds(1);
  // After a connection failure, calls fail at once (UNAVAILABLE) until a
  // reconnection is tried again; the wait doubles up to the maximum.
  absl::Duration initial_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Seconds(2);
};

// Thread-safe.
class RedisPool {
 public:
  RedisPool(RedisEndpoint endpoint, RedisPoolOptions options);
  ~RedisPool();

  // Runs one command on a pooled connection.
  absl::StatusOr<RedisReply> Command(const std::vector<std::string>& args)
      ABSL_LOCKS_EXCLUDED(mu_);

  // RedisConnection::Eval on a pooled connection.
  absl::StatusOr<RedisReply> Eval(const RedisScript& script,
                                  const std::vector<std::string>& args)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Returns whether the last attempt to reach Redis succeeded.
  bool healthy() const ABSL_LOCKS_EXCLUDED(mu_);

  const RedisEndpoint& endpoint() const { return endpoint_; }
  const RedisPoolOptions& options() const { return options_; }

 private:
  // Takes a connection (connecting if needed), or fails fast while down.
  absl::StatusOr<std::unique_ptr<RedisConnection>> Acquire()
      ABSL_LOCKS_EXCLUDED(mu_);
  void Release(std::unique_ptr<RedisConnection> connection)
      ABSL_LOCKS_EXCLUDED(mu_);
  void NoteFailure() ABSL_LOCKS_EXCLUDED(mu_);
  void NoteSuccess() ABSL_LOCKS_EXCLUDED(mu_);
  // Runs `call` on a pooled connection and records whether Redis answered.
  template <typename Call>
  absl::StatusOr<RedisReply> OnConnection(Call call);

  const RedisEndpoint endpoint_;
  const RedisPoolOptions options_;
  mutable Mutex mu_;
  CondVar available_;  // Signalled when a connection is released.
  std::vector<std::unique_ptr<RedisConnection>> idle_ ABSL_GUARDED_BY(mu_);
  // Connections handed out or idle.
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  bool down_ ABSL_GUARDED_BY(mu_) = false;
  // While down, fail fast until then (real time: it paces network attempts).
  absl::Time retry_at_ ABSL_GUARDED_BY(mu_);
  absl::Duration backoff_ ABSL_GUARDED_BY(mu_);
};

}  // namespace presence

#endif  // PRESENCE_STORE_REDIS_REDIS_CLIENT_H_
