// A private redis-server for the Redis benchmarks: started on a free port of
// 127.0.0.1 without persistence, killed when this object goes (or when the
// benchmark dies). Exits the process if Redis does not start.
#ifndef BENCH_REDIS_REDIS_PROCESS_H_
#define BENCH_REDIS_REDIS_PROCESS_H_

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "presence/store/redis/redis_client.h"

namespace presence::bench {

class RedisProcess {
 public:
  explicit RedisProcess(const std::string& binary = "redis-server") {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    bind(fd, reinterpret_cast<sockaddr*>(&address), length);
    getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    close(fd);
    endpoint_.port = ntohs(address.sin_port);
    const std::string port = absl::StrCat(endpoint_.port);
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int null = open("/dev/null", O_WRONLY);
      dup2(null, STDOUT_FILENO);
      execlp(binary.c_str(), binary.c_str(), "--port", port.c_str(), "--bind",
             "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel",
             "warning", nullptr);
      _exit(127);
    }
    for (int i = 0; i < 500 && connection_ == nullptr; ++i) {
      auto connection = RedisConnection::Connect(endpoint_, absl::Seconds(60));
      if (connection.ok()) {
        connection_ = *std::move(connection);
      } else {
        absl::SleepFor(absl::Milliseconds(20));
      }
    }
    if (connection_ == nullptr) {
      std::fprintf(stderr, "redis-server (%s) did not start\n", binary.c_str());
      std::exit(1);
    }
  }
  ~RedisProcess() {
    connection_.reset();
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  RedisProcess(const RedisProcess&) = delete;
  RedisProcess& operator=(const RedisProcess&) = delete;

  std::string url() const {
    return absl::StrCat("redis://127.0.0.1:", endpoint_.port);
  }
  pid_t pid() const { return pid_; }

  // Runs a command on the benchmark's own connection; exits on failure.
  RedisReply Command(const std::vector<std::string>& args) {
    absl::StatusOr<RedisReply> reply = connection_->Command(args);
    if (!reply.ok()) {
      std::fprintf(stderr, "%s\n", reply.status().ToString().c_str());
      std::exit(1);
    }
    return *std::move(reply);
  }

  // The "field:value" lines of an INFO section.
  std::map<std::string, std::string> Info(const std::string& section) {
    std::map<std::string, std::string> out;
    const RedisReply info = Command({"INFO", section});
    for (absl::string_view line : absl::StrSplit(info.str, "\r\n")) {
      const size_t colon = line.find(':');
      if (colon == absl::string_view::npos) continue;
      out[std::string(line.substr(0, colon))] =
          std::string(line.substr(colon + 1));
    }
    return out;
  }

  int64_t UsedMemory() {
    int64_t bytes = 0;
    (void)absl::SimpleAtoi(Info("memory")["used_memory"], &bytes);
    return bytes;
  }

 private:
  RedisEndpoint endpoint_;
  pid_t pid_ = -1;
  std::unique_ptr<RedisConnection> connection_;
};

}  // namespace presence::bench

#endif  // BENCH_REDIS_REDIS_PROCESS_H_
