#include "presence/testing/redis_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "presence/store/redis/redis_client.h"

namespace presence {
namespace {

// Returns a port that was free a moment ago.
absl::StatusOr<int> FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    close(fd);
    return absl::InternalError("bind failed");
  }
  close(fd);
  return ntohs(address.sin_port);
}

std::string RedisBinary() {
  for (const char* path :
       {"/usr/bin/redis-server", "/usr/local/bin/redis-server"}) {
    if (access(path, X_OK) == 0) return path;
  }
  return "redis-server";  // From PATH.
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::Start() {
  absl::Status last = absl::UnavailableError("not started");
  for (int attempt = 0; attempt < 5; ++attempt) {
    absl::StatusOr<int> port = FreePort();
    if (!port.ok()) return port.status();
    std::unique_ptr<RedisServer> server(new RedisServer(*port));
    last = server->Launch();
    if (last.ok()) return server;
  }
  return last;
}

RedisServer::~RedisServer() { Kill(); }

std::string RedisServer::url() const {
  return absl::StrCat("redis://127.0.0.1:", port_);
}

absl::Status RedisServer::Launch() {
  const std::string binary = RedisBinary();
  const std::string port = absl::StrCat(port_);
  pid_ = fork();
  if (pid_ < 0) return absl::InternalError("fork failed");
  if (pid_ == 0) {
    // A test that crashes must not leave its server behind (nor holding the
    // test's stderr open). Tied to the thread that forks, which is the test
    // binary's main thread in every test.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    // Redis prints its start-up banner on stdout; keep test logs readable.
    const int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, STDOUT_FILENO);
    std::vector<const char*> argv = {
        binary.c_str(), "--port",     port.c_str(), "--bind",
        "127.0.0.1",    "--save",     "",           "--appendonly",
        "no",           "--loglevel", "warning",    nullptr};
    execvp(argv[0], const_cast<char* const*>(argv.data()));
    _exit(127);
  }
  RedisEndpoint endpoint;
  endpoint.port = port_;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::UnavailableError(
          absl::StrCat("redis-server exited at start (port ", port_,
                       " taken, or not installed)"));
    }
    auto connection =
        RedisConnection::Connect(endpoint, absl::Milliseconds(200));
    if (connection.ok()) {
      absl::StatusOr<RedisReply> pong = (*connection)->Command({"PING"});
      if (pong.ok() && pong->str == "PONG") return absl::OkStatus();
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  Kill();
  return absl::UnavailableError("redis-server did not answer within 10 s");
}

void RedisServer::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

absl::Status RedisServer::Restart() {
  Kill();
  return Launch();
}

absl::Status RedisServer::FlushAll() {
  RedisEndpoint endpoint;
  endpoint.port = port_;
  auto connection = RedisConnection::Connect(endpoint, absl::Seconds(2));
  if (!connection.ok()) return connection.status();
  absl::StatusOr<RedisReply> reply = (*connection)->Command({"FLUSHALL"});
  if (!reply.ok()) return reply.status();
  // Scripts survive FLUSHALL; a restart would drop them, which the store
  // handles (NOSCRIPT), so nothing else to do.
  return absl::OkStatus();
}

absl::StatusOr<int64_t> RedisServer::UsedMemory() {
  RedisEndpoint endpoint;
  endpoint.port = port_;
  auto connection = RedisConnection::Connect(endpoint, absl::Seconds(2));
  if (!connection.ok()) return connection.status();
  absl::StatusOr<RedisReply> reply = (*connection)->Command({"INFO", "memory"});
  if (!reply.ok()) return reply.status();
  for (absl::string_view line : absl::StrSplit(reply->str, "\r\n")) {
    if (absl::ConsumePrefix(&line, "used_memory:")) {
      int64_t bytes = 0;
      if (absl::SimpleAtoi(line, &bytes)) return bytes;
    }
  }
  return absl::InternalError("INFO memory has no used_memory");
}

}  // namespace presence
