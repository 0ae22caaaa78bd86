// RedisServer: a real redis-server for tests, started as a child process on
// a free port of 127.0.0.1, without persistence.
//
//   auto redis = RedisServer::Start();
//   ASSERT_TRUE(redis.ok()) << redis.status();
//   options.url = (*redis)->url();
//   (*redis)->Kill();                       // An outage...
//   ASSERT_TRUE((*redis)->Restart().ok());  // ...and back, same port.
#ifndef PRESENCE_TESTING_REDIS_SERVER_H_
#define PRESENCE_TESTING_REDIS_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace presence {

class RedisServer {
 public:
  // Starts redis-server (PATH or /usr/bin) and waits until it answers PING.
  static absl::StatusOr<std::unique_ptr<RedisServer>> Start();

  ~RedisServer();  // Kills the server.
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  std::string url() const;

  // Kills the server at once (SIGKILL); its data is gone.
  void Kill();

  // Starts it again on the same port and waits until it answers.
  absl::Status Restart();

  // Deletes every key.
  absl::Status FlushAll();

  // Returns the bytes Redis reports as used (INFO memory, used_memory).
  absl::StatusOr<int64_t> UsedMemory();

 private:
  explicit RedisServer(int port) : port_(port) {}
  absl::Status Launch();

  const int port_;
  pid_t pid_ = -1;
};

}  // namespace presence

#endif  // PRESENCE_TESTING_REDIS_SERVER_H_
