// The pipelined client against a real redis-server (and a silent one):
// replies in order, many requests in flight, timeouts, functions Redis
// forgot (the NOSCRIPT of functions), a restart in the middle of traffic,
// failing fast while Redis is down, and shutdown.
#include "presence/store/redis/redis_pipeline.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "presence/base/mutex.h"
#include "presence/store/redis/redis_client.h"
#include "presence/testing/redis_server.h"

namespace presence {
namespace {

RedisEndpoint EndpointOf(const RedisServer& server) {
  RedisEndpoint endpoint;
  endpoint.port = server.port();
  return endpoint;
}

RedisPoolOptions FastOptions(int size = 1) {
  RedisPoolOptions options;
  options.size = size;
  options.timeout = absl::Seconds(5);
  options.initial_backoff = absl::Milliseconds(10);
  options.max_backoff = absl::Milliseconds(50);
  return options;
}

// Collects replies (as text) in the order their callbacks ran.
class Replies {
 public:
  RedisCallback Add() {
    return [this](absl::StatusOr<RedisReply> reply) {
      MutexLock lock(&mu_);
      if (!reply.ok()) {
        seen_.push_back(
            std::string(absl::StatusCodeToString(reply.status().code())));
      } else if (reply->type == RedisReply::Type::kInteger) {
        seen_.push_back(absl::StrCat(reply->integer));
      } else {
        seen_.push_back(reply->str);
      }
      changed_.SignalAll();
    };
  }

  // Waits until `n` replies came; returns them.
  std::vector<std::string> WaitFor(size_t n) {
    MutexLock lock(&mu_);
    changed_.WaitFor(
        &mu_,
        [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return seen_.size() >= n; },
        absl::Seconds(30));
    return seen_;
  }

 private:
  Mutex mu_;
  CondVar changed_;
  std::vector<std::string> seen_ ABSL_GUARDED_BY(mu_);
};

std::unique_ptr<RedisServer> StartRedis() {
  absl::StatusOr<std::unique_ptr<RedisServer>> server = RedisServer::Start();
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

TEST(RedisPipelineTest, RepliesComeInTheOrderOfTheRequests) {
  std::unique_ptr<RedisServer> redis = StartRedis();
  ASSERT_NE(redis, nullptr);
  RedisPipeline pipeline(EndpointOf(*redis), FastOptions(), {});
  Replies replies;
  // Many requests in flight at once, written before the first reply.
  constexpr int kRequests = 5000;
  for (int i = 0; i < kRequests; ++i) {
    pipeline.Send(FormatCommand({"INCR", "counter"}), nullptr, replies.Add());
  }
  std::vector<std::string> seen = replies.WaitFor(kRequests);
  ASSERT_EQ(seen.size(), static_cast<size_t>(kRequests));
  for (int i = 0; i < kRequests; ++i) EXPECT_EQ(seen[i], absl::StrCat(i + 1));
}

TEST(RedisPipelineTest, ConcurrentSendersEachSeeTheirOwnOrder) {
  std::unique_ptr<RedisServer> redis = StartRedis();
  ASSERT_NE(redis, nullptr);
  RedisClient client(EndpointOf(*redis), FastOptions(2), {});
  constexpr int kThreads = 4;
  constexpr int kRequests = 2000;
  std::vector<std::thread> threads;
  Replies replies[kThreads];
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // One pipeline per sender: its requests run in order.
      RedisPipeline& pipeline = client.Pick();
      for (int i = 0; i < kRequests; ++i) {
        pipeline.Send(FormatCommand({"INCR", absl::StrCat("counter", t)}),
                      nullptr, replies[t].Add());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) {
    std::vector<std::string> seen = replies[t].WaitFor(kRequests);
    ASSERT_EQ(seen.size(), static_cast<size_t>(kRequests));
    for (int i = 0; i < kRequests; ++i) {
      ASSERT_EQ(seen[i], absl::StrCat(i + 1)) << "sender " << t;
    }
  }
  EXPECT_TRUE(client.healthy());
}

TEST(RedisPipelineTest, RepliesLargerThanOneReadArriveWhole) {
  std::unique_ptr<RedisServer> redis = StartRedis();
  ASSERT_NE(redis, nullptr);
  RedisClient client(EndpointOf(*redis), FastOptions(), {});
  const std::string big(1 << 20, 'x');
  ASSERT_TRUE(
      client.SendAndWait(FormatCommand({"SET", "big", big}), nullptr).ok());
  std::vector<std::string> members;
  for (int i = 0; i < 20000; ++i) members.push_back(absl::StrCat("m", i));
  std::vector<std::string> sadd = {"RPUSH", "list"};
  sadd.insert(sadd.end(), members.begin(), members.end());
  ASSERT_TRUE(client.SendAndWait(FormatCommand(sadd), nullptr).ok());

  absl::StatusOr<RedisReply> got =
      client.SendAndWait(FormatCommand({"GET", "big"}), nullptr);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->str, big);
  absl::StatusOr<RedisReply> list =
      client.SendAndWait(FormatCommand({"LRANGE", "list", "0", "-1"}), nullptr);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->elements.size(), members.size());
  EXPECT_EQ(list->elements[12345].str, "m12345");
}

// A library of one function, hello_<version>.
const RedisLibrary& HelloLibrary() {
  static const RedisLibrary* const library =
      new RedisLibrary("test", R"lua(#!lua name=__LIBRARY__
redis.register_function('hello___VERSION__', function(keys, args)
  return 'hello ' .. args[1]
end)
redis.register_function('incr___VERSION__', function(keys, args)
  return redis.call('INCR', 'n')
end)
redis.register_function('spin___VERSION__', function(keys, args)
  local function now()
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000000 + tonumber(t[2])
  end
  local start = now()
  repeat until now() - start >= tonumber(args[1])
  return 'done'
end))lua");
  return *library;
}

TEST(RedisPipelineTest, LibrariesAreLoadedOnConnect) {
  std::unique_ptr<RedisServer> redis = StartRedis();
  ASSERT_NE(redis, nullptr);
  const RedisLibrary& library = HelloLibrary();
  RedisClient client(EndpointOf(*redis), FastOptions(), {&library});
  absl::StatusOr<RedisReply> first =
      client.SendAndWait(FcallCommand(library, "hello", {"one"}), &library);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->str, "hello one");
}

TEST(RedisPipelineTest, AFunctionRedisForgotIsLoadedAgain) {
  std::unique_ptr<RedisServer> redis = StartRedis();
  ASSERT_NE(redis, nullptr);
  const RedisLibrary& library = HelloLibrary();
  RedisClient client(EndpointOf(*redis), FastOptions(), {&library});
  ASSERT_TRUE(
      client.SendAndWait(FcallCommand(library, "hello", {"one"}), &library)
          .ok());

  // Redis forgets the library while the connection stays up.
  auto admin = RedisConnection::Connect(EndpointOf(*redis), absl::Seconds(2));
  ASSERT_TRUE(admin.ok());
  ASSERT_TRUE((*admin)->Command({"FUNCTION", "FLUSH"}).ok());
  Replies replies;
  for (int i = 0; i < 10; ++i) {
    client.Send(FcallCommand(library, "hello", {absl::StrCat(i)}), &library,
                replies.Add());
  }
  std::vector<std::string> seen = replies.WaitFor(10);
  ASSERT_EQ(seen.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(seen[i], absl::StrCat("hello ", i));
  }
  // A call without the library named is not retried.
  ASSERT_TRUE((*admin)->Command({"FUNCTION", "FLUSH"}).ok());
  absl::StatusOr<RedisReply> plain =
      client.SendAndWait(FcallCommand(library, "hello", {"x"}), nullptr);
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(IsFunctionNotFound(*plain)) << plain->str;
}

TEST(RedisPipelineTest, ARestartMidFlightFailsOrAnswersEveryRequestOnce) {
  std::unique_ptr<RedisServer> redis = StartRedis();
  ASSERT_NE(redis, nullptr);
  const RedisLibrary& library = HelloLibrary();
  RedisClient client(EndpointOf(*redis), FastOptions(2), {&library});
  std::atomic<int> ok{0}, unavailable{0}, other{0}, calls{0};
  std::atomic<bool> sending{true};
  std::thread sender([&] {
    while (sending.load()) {
      for (int i = 0; i < 100; ++i) {
        calls.fetch_add(1);
        client.Send(FcallCommand(library, "incr", {}), &library,
                    [&](absl::StatusOr<RedisReply> reply) {
                      if (reply.ok() && !reply->is_error()) {
                        ok.fetch_add(1);
                      } else if (reply.status().code() ==
                                 absl::StatusCode::kUnavailable) {
                        unavailable.fetch_add(1);
                      } else {
                        other.fetch_add(1);
                      }
                    });
      }
      absl::SleepFor(absl::Milliseconds(1));
    }
  });
  absl::SleepFor(absl::Milliseconds(100));
  redis->Kill();
  absl::SleepFor(absl::Milliseconds(100));
  ASSERT_TRUE(redis->Restart().ok());
  // The restarted Redis has no functions: the new connections load them.
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  int ok_after_restart = ok.load();
  while (absl::Now() < deadline && ok.load() < ok_after_restart + 1000) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  sending = false;
  sender.join();
  // Every callback ran exactly once.
  const absl::Time settle = absl::Now() + absl::Seconds(20);
  while (ok + unavailable + other < calls && absl::Now() < settle) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(ok + unavailable + other, calls.load());
  EXPECT_EQ(other.load(), 0);
  EXPECT_GT(unavailable.load(), 0);
  EXPECT_GE(ok.load(), ok_after_restart + 1000);
  EXPECT_TRUE(client.healthy());
}

TEST(RedisPipelineTest, FailsAtOnceWhileRedisIsDown) {
  std::unique_ptr<RedisServer> redis = StartRedis();
  ASSERT_NE(redis, nullptr);
  RedisPoolOptions options = FastOptions();
  options.initial_backoff = absl::Hours(1);  // Stays down once down.
  options.max_backoff = absl::Hours(1);
  RedisClient client(EndpointOf(*redis), options, {});
  ASSERT_TRUE(client.SendAndWait(FormatCommand({"PING"}), nullptr).ok());
  redis->Kill();
  absl::StatusOr<RedisReply> failed =
      client.SendAndWait(FormatCommand({"PING"}), nullptr);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  // The reconnection fails, and from then on requests fail on the caller's
  // thread, before Send returns.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (client.Pick().state() != RedisPipeline::State::kDown &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_FALSE(client.healthy());
  bool answered = false;
  absl::Status status;
  client.Send(FormatCommand({"PING"}), nullptr,
              [&](absl::StatusOr<RedisReply> reply) {
                answered = true;
                status = reply.status();
              });
  EXPECT_TRUE(answered);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
}

// A server that accepts connections and never answers.
class SilentServer {
 public:
  SilentServer() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&address), length), 0);
    EXPECT_EQ(listen(fd_, 16), 0);
    EXPECT_EQ(getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length),
              0);
    port_ = ntohs(address.sin_port);
  }
  ~SilentServer() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(RedisPipelineTest, ARequestWithoutAReplyTimesOut) {
  SilentServer silent;  // The kernel completes connections in its backlog.
  RedisEndpoint endpoint;
  endpoint.port = silent.port();
  RedisPoolOptions options = FastOptions();
  options.timeout = absl::Milliseconds(200);
  RedisClient client(endpoint, options, {});
  Replies replies;
  for (int i = 0; i < 3; ++i) {
    client.Send(FormatCommand({"PING"}), nullptr, replies.Add());
  }
  std::vector<std::string> seen = replies.WaitFor(3);
  ASSERT_EQ(seen.size(), 3u);
  for (const std::string& code : seen) EXPECT_EQ(code, "UNAVAILABLE");
}

TEST(RedisPipelineTest, QueueingBehindAnsweredRequestsIsNotATimeout) {
  std::unique_ptr<RedisServer> redis = StartRedis();
  ASSERT_NE(redis, nullptr);
  const RedisLibrary& library = HelloLibrary();
  RedisPoolOptions options = FastOptions();
  options.timeout = absl::Seconds(1);
  RedisClient client(EndpointOf(*redis), options, {&library});
  // 3,000 calls of 0.5 ms each, sent at once: the last is answered about
  // 1.5 s after it was sent, more than the timeout, but Redis answers all
  // along, so none fails.
  constexpr int kCalls = 3000;
  Replies replies;
  for (int i = 0; i < kCalls; ++i) {
    client.Send(FcallCommand(library, "spin", {"500"}), &library,
                replies.Add());
  }
  std::vector<std::string> seen = replies.WaitFor(kCalls);
  ASSERT_EQ(seen.size(), static_cast<size_t>(kCalls));
  for (const std::string& reply : seen) ASSERT_EQ(reply, "done");
}

TEST(RedisPipelineTest, ACommandSlowerThanTheTimeoutFailsAndReconnects) {
  std::unique_ptr<RedisServer> redis = StartRedis();
  ASSERT_NE(redis, nullptr);
  RedisPoolOptions options = FastOptions();
  options.timeout = absl::Milliseconds(300);
  RedisClient client(EndpointOf(*redis), options, {});
  absl::StatusOr<RedisReply> id =
      client.SendAndWait(FormatCommand({"CLIENT", "ID"}), nullptr);
  ASSERT_TRUE(id.ok()) << id.status();
  // Redis holds every command for 1.5 s: nothing arrives within the
  // timeout, so the request fails and the connection is replaced.
  auto admin = RedisConnection::Connect(EndpointOf(*redis), absl::Seconds(2));
  ASSERT_TRUE(admin.ok());
  ASSERT_TRUE((*admin)->Command({"CLIENT", "PAUSE", "1500", "ALL"}).ok());
  absl::StatusOr<RedisReply> late =
      client.SendAndWait(FormatCommand({"PING"}), nullptr);
  EXPECT_EQ(late.status().code(), absl::StatusCode::kUnavailable)
      << late.status();
  absl::StatusOr<RedisReply> again = absl::UnavailableError("not yet");
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (!again.ok() && absl::Now() < deadline) {
    again = client.SendAndWait(FormatCommand({"CLIENT", "ID"}), nullptr);
  }
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_NE(again->integer, id->integer);
}

TEST(RedisPipelineTest, DestructionAnswersWhatIsPending) {
  SilentServer silent;
  RedisEndpoint endpoint;
  endpoint.port = silent.port();
  Replies replies;
  {
    RedisClient client(endpoint, FastOptions(), {});
    for (int i = 0; i < 5; ++i) {
      client.Send(FormatCommand({"PING"}), nullptr, replies.Add());
    }
  }
  std::vector<std::string> seen = replies.WaitFor(5);
  ASSERT_EQ(seen.size(), 5u);
  for (const std::string& code : seen) EXPECT_EQ(code, "UNAVAILABLE");
}

TEST(RedisPipelineTest, WaitingOnTheIoThreadIsRefused) {
  std::unique_ptr<RedisServer> redis = StartRedis();
  ASSERT_NE(redis, nullptr);
  RedisClient client(EndpointOf(*redis), FastOptions(), {});
  Mutex mu;
  CondVar done;
  std::optional<absl::Status> nested;
  client.Send(
      FormatCommand({"PING"}), nullptr, [&](absl::StatusOr<RedisReply>) {
        absl::Status status =
            client.SendAndWait(FormatCommand({"PING"}), nullptr).status();
        MutexLock lock(&mu);
        nested = status;
        done.SignalAll();
      });
  MutexLock lock(&mu);
  while (!nested.has_value()) done.Wait(&mu);
  EXPECT_EQ(nested->code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace presence
