#include "service/testing/server_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"

namespace presence {

ServerProcess::ServerProcess(std::string binary, std::vector<std::string> flags)
    : binary_(std::move(binary)), flags_(std::move(flags)) {}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) Stop(SIGKILL);
  if (reader_.joinable()) reader_.join();
}

absl::Status ServerProcess::Start(absl::Duration timeout) {
  int fds[2];
  if (pipe(fds) != 0) return absl::InternalError("pipe failed");
  std::vector<std::string> args = {binary_, "--listen_address=127.0.0.1:0"};
  args.insert(args.end(), flags_.begin(), flags_.end());
  pid_ = fork();
  if (pid_ < 0) return absl::InternalError("fork failed");
  if (pid_ == 0) {
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  reader_ = std::thread([this, fd = fds[0]] { ReadLog(fd); });

  const std::string kMarker = "listening on ";
  std::unique_lock<std::mutex> lock(mu_);
  const bool found = changed_.wait_for(
      lock, absl::ToChronoNanoseconds(timeout),
      [&] { return log_closed_ || log_.find(kMarker) != std::string::npos; });
  const size_t at = log_.find(kMarker);
  if (!found || at == std::string::npos) {
    return absl::UnavailableError(absl::StrCat("server did not start: ", log_));
  }
  const size_t begin = at + kMarker.size();
  address_ = log_.substr(begin, log_.find(' ', begin) - begin);
  return absl::OkStatus();
}

void ServerProcess::ReadLog(int fd) {
  char buffer[4096];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) {
    std::lock_guard<std::mutex> lock(mu_);
    log_.append(buffer, static_cast<size_t>(n));
    changed_.notify_all();
  }
  close(fd);
  std::lock_guard<std::mutex> lock(mu_);
  log_closed_ = true;
  changed_.notify_all();
}

int ServerProcess::Stop(int signal) {
  int status = -1;
  if (pid_ <= 0) return status;
  kill(pid_, signal);
  waitpid(pid_, &status, 0);
  pid_ = -1;
  if (reader_.joinable()) reader_.join();
  return status;
}

std::string ServerProcess::Log() {
  std::lock_guard<std::mutex> lock(mu_);
  return log_;
}

}  // namespace presence
