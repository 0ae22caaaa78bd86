// The parts of the Redis client shared by its blocking and pipelined forms:
// URL parsing, replies, function libraries, the wire format, and one
// blocking connection over hiredis (for blocking reads like XREAD BLOCK, and
// for tests and tools). Requests of the store go through the pipelined
// client (redis_pipeline.h).
//
//   auto endpoint = ParseRedisUrl("redis://:secret@10.0.0.5:6379/2");
//   auto connection = RedisConnection::Connect(*endpoint, absl::Seconds(1));
//   absl::StatusOr<RedisReply> pong = (*connection)->Command({"PING"});
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

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

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

// A reply of Redis, as parsed by hiredis.
struct RedisReply {
  enum class Type { kNil, kInteger, kString, kStatus, kError, kArray };
  Type type = Type::kNil;
  int64_t integer = 0;
  std::string str;  // kString, kStatus, kError.
  std::vector<RedisReply> elements;

  bool is_error() const { return type == Type::kError; }
};

// A library of Redis functions (FUNCTION LOAD, FCALL; Redis 7.0 or later).
// Its code names the library __LIBRARY__ and ends each function's name
// with _<version> (version: "__VERSION__"); both become a hash of the code,
// so that processes running different code can share a Redis, each calling
// its own functions.
struct RedisLibrary {
  // `prefix` starts the library's name.
  RedisLibrary(absl::string_view prefix, absl::string_view code);

  // The name Redis knows `function` of this library by.
  std::string Function(absl::string_view function) const;

  std::string version;  // 12 hex digits of the code's SHA-1.
  std::string name;     // <prefix>_<version>
  std::string source;   // The code, named.
};

// Whether `reply` says the function called is unknown.
bool IsFunctionNotFound(const RedisReply& reply);

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

  // Calls `function` of `library` with `args` (no keys) by FCALL, loading
  // the library first if Redis does not know it (e.g. after a restart).
  absl::StatusOr<RedisReply> Call(const RedisLibrary& library,
                                  absl::string_view function,
                                  const std::vector<std::string>& args);

  // Loads `library` unless Redis has it.
  absl::Status Load(const RedisLibrary& library);

  bool broken() const { return broken_; }

  // The socket, for a caller that takes over the I/O (the pipelined
  // client); it stays owned (and is closed) by this object.
  int fd() const;

 private:
  explicit RedisConnection(redisContext* context) : context_(context) {}

  redisContext* context_;
  bool broken_ = false;
};

// Options of the pipelined client (redis_pipeline.h).
struct RedisPoolOptions {
  // Connections, each with its own I/O thread; every connection carries
  // many requests at once (pipelining), so a few are enough.
  int size = 2;
  // Connect timeout, and how long a request may wait for its reply: how
  // long an RPC may wait on Redis.
  absl::Duration timeout = absl::Seconds(1);
  // After a connection failure, calls fail at once (UNAVAILABLE) until a
  // reconnection is tried again; the wait doubles up to the maximum.
  absl::Duration initial_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Seconds(2);
};

// Appends Redis's wire form (RESP) of a command to `out`: call Begin with
// the number of arguments, then Arg once per argument.
//
//   std::string wire;
//   RespBegin(wire, 2);
//   RespArg(wire, "GET");
//   RespArg(wire, "key");
void RespBegin(std::string& out, size_t arguments);
void RespArg(std::string& out, absl::string_view argument);

// The wire form of a whole command.
std::string FormatCommand(const std::vector<std::string>& args);

}  // namespace presence

#endif  // PRESENCE_STORE_REDIS_REDIS_CLIENT_H_
