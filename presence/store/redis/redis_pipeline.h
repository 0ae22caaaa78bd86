// The Redis store's pipelined client: a few connections, each with its own
// I/O thread, each carrying many requests at once. Callers never wait on
// the network: they hand a request over and get the reply in a callback.
//
//   RedisClient client(endpoint, RedisPoolOptions(), {&library});
//   client.Send(FormatCommand({"PING"}), nullptr,
//               [](absl::StatusOr<RedisReply> reply) { ... });
//
// Why pipelining of our own rather than hiredis's asynchronous API: Debian's
// hiredis (0.14) has no timeouts in its asynchronous API and needs an event
// library adapter, and its contexts are not thread-safe, so every request
// would still have to hop to the loop's thread. Here callers format their
// command themselves (on their own thread), append it to a queue under a
// short lock, and the I/O thread writes everything queued with one send(),
// parses replies with hiredis's reader and completes the requests in FIFO
// order, which is the order Redis answers them on one connection.
//
// Timeouts: a connection that breaks, or on which Redis answers nothing
// for `timeout` while requests are in flight, is closed, and every request
// in flight on it fails with UNAVAILABLE (its command may or may not have
// run). Time a request spends queued behind others that Redis is answering
// does not count (a batch of thousands of requests is not an outage), as
// with a blocking client whose socket times out. Requests not yet written
// stay queued for the next connection. A connection that cannot be made puts
// its pipeline down: until the next attempt (backoff doubling from
// initial_backoff to max_backoff) requests fail at once; the next attempt
// is made in the background.
//
// Functions: the client loads the function libraries it was given on every
// new connection unless Redis has them (so FCALL finds them after a Redis
// restart), and a request that calls a function of one of them that Redis
// does not know ("Function not found", e.g. after FUNCTION FLUSH) is sent
// again after FUNCTION LOAD, once. (Such a retried request then runs after
// requests sent behind it on the same connection.)
//
// Threads: callbacks run on a pipeline's I/O thread (or, when the request
// fails at once, on the caller's thread before Send returns). They must not
// block: a callback that waited for another request would wait for its own
// thread. SendAndWait() refuses to run on an I/O thread for that reason.
//
// A connection takes the requests queued while replies are outstanding in
// one batch when those replies arrive (Redis could not run them sooner on
// that connection anyway), so under load one write and one read carry many
// requests, and a caller wakes the I/O thread only when it was idle.
#ifndef PRESENCE_STORE_REDIS_REDIS_PIPELINE_H_
#define PRESENCE_STORE_REDIS_REDIS_PIPELINE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "presence/base/mutex.h"
#include "presence/store/redis/redis_client.h"

namespace presence {

using RedisCallback = absl::AnyInvocable<void(absl::StatusOr<RedisReply>) &&>;

// Returns the wire form of FCALL of `function` of `library` with no keys
// and `args`.
std::string FcallCommand(const RedisLibrary& library,
                         absl::string_view function,
                         const std::vector<std::string>& args);

// One connection and its I/O thread. Thread-safe.
class RedisPipeline {
 public:
  enum class State {
    kConnecting,  // Requests queue for the connection being made.
    kConnected,
    kDown,  // Requests fail at once until the next attempt.
  };

  // Starts connecting in the background.
  RedisPipeline(RedisEndpoint endpoint, RedisPoolOptions options,
                std::vector<const RedisLibrary*> libraries);
  // Fails what is still pending with UNAVAILABLE and joins the thread.
  ~RedisPipeline() ABSL_LOCKS_EXCLUDED(mu_);
  RedisPipeline(const RedisPipeline&) = delete;
  RedisPipeline& operator=(const RedisPipeline&) = delete;

  // Sends `command` (wire form, e.g. FormatCommand) and calls `done` with
  // its reply. With `library`, the command calls a function of it (see the
  // file comment).
  void Send(std::string command, const RedisLibrary* library,
            RedisCallback done) ABSL_LOCKS_EXCLUDED(mu_);

  State state() const { return public_state_.load(std::memory_order_acquire); }

  // Whether the calling thread is the I/O thread of some pipeline.
  static bool OnIoThread();

 private:
  struct Request {
    std::string command;
    const RedisLibrary* library;
    RedisCallback done;
    bool retried = false;
  };

  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  // Connects, authenticates, selects the database and loads the libraries.
  absl::StatusOr<std::unique_ptr<RedisConnection>> Connect();
  // Carries requests over `connection` until it breaks or the pipeline
  // stops; fails what is in flight then, and returns why.
  absl::Status Serve(RedisConnection& connection) ABSL_LOCKS_EXCLUDED(mu_);
  void SetStateLocked(State state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Wake();
  absl::Status DownError() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RedisEndpoint endpoint_;
  const RedisPoolOptions options_;
  const std::vector<const RedisLibrary*> libraries_;
  const int64_t timeout_ns_;
  const int wake_fd_;  // An eventfd: new requests, or stopping.

  mutable Mutex mu_;
  CondVar stop_;  // Signalled when stopping_ is set.
  std::vector<Request> queue_ ABSL_GUARDED_BY(mu_);
  State state_ ABSL_GUARDED_BY(mu_) = State::kConnecting;
  // Why the last connection attempt failed (for fail-fast errors).
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  // Set while the I/O thread is (about to be) in poll() with nothing queued
  // and nothing in flight: only then does Send write to wake_fd_. With
  // requests in flight it wakes for their replies anyway, and takes what
  // was queued meanwhile in one batch (Redis would not run it sooner).
  bool io_idle_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<State> public_state_{State::kConnecting};

  std::thread thread_;
};

// Several pipelines to one Redis. Thread-safe.
class RedisClient {
 public:
  RedisClient(RedisEndpoint endpoint, RedisPoolOptions options,
              const std::vector<const RedisLibrary*>& libraries);

  // A pipeline for the next request: a connected one (round robin), else
  // one that is connecting, else any (which fails requests at once). Send
  // a sequence that must run in order to one pipeline.
  RedisPipeline& Pick();

  // Pick().Send(...).
  void Send(std::string command, const RedisLibrary* library,
            RedisCallback done) {
    Pick().Send(std::move(command), library, std::move(done));
  }

  // Sends and waits for the reply. FAILED_PRECONDITION on an I/O thread
  // (where waiting would deadlock).
  absl::StatusOr<RedisReply> SendAndWait(std::string command,
                                         const RedisLibrary* library);

  // Whether no connection is down (failed to connect, and waits for its
  // next attempt); connections being made count as healthy.
  bool healthy() const;

  const RedisEndpoint& endpoint() const { return endpoint_; }
  const RedisPoolOptions& options() const { return options_; }

 private:
  const RedisEndpoint endpoint_;
  const RedisPoolOptions options_;
  std::vector<std::unique_ptr<RedisPipeline>> pipelines_;
  std::atomic<size_t> next_{0};
};

}  // namespace presence

#endif  // PRESENCE_STORE_REDIS_REDIS_PIPELINE_H_
