#include "service/testing/http_receiver.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace presence {

struct HttpReceiver::Connection {
  explicit Connection(int fd) : fd(fd) {}
  ~Connection() { close(fd); }

  const int fd;
  std::string in;  // Received and not parsed yet.
  // Whether "100 Continue" was sent for the request being received.
  bool sent_continue = false;
  // Answers not sent yet, in request order: (status, close afterwards).
  std::deque<std::pair<int, bool>> pending;
};

namespace {

// A request head larger than this is a bug in the client; close on it.
constexpr size_t kMaxHeadBytes = 1 << 20;

absl::string_view Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

bool SendAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t sent = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) return false;
    data.remove_prefix(static_cast<size_t>(sent));
  }
  return true;
}

}  // namespace

std::string HttpReceiver::Request::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return "";
}

absl::StatusOr<std::unique_ptr<HttpReceiver>> HttpReceiver::Start() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket");
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      listen(fd, 64) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const absl::Status status = absl::ErrnoToStatus(errno, "bind/listen");
    close(fd);
    return status;
  }
  int wake[2];
  if (pipe2(wake, O_NONBLOCK | O_CLOEXEC) != 0) {
    const absl::Status status = absl::ErrnoToStatus(errno, "pipe2");
    close(fd);
    return status;
  }
  std::unique_ptr<HttpReceiver> receiver(
      new HttpReceiver(fd, ntohs(address.sin_port), wake[0], wake[1]));
  receiver->thread_ = std::thread([r = receiver.get()] { r->Run(); });
  return receiver;
}

HttpReceiver::HttpReceiver(int listen_fd, int port, int wake_read_fd,
                           int wake_write_fd)
    : listen_fd_(listen_fd),
      port_(port),
      wake_read_fd_(wake_read_fd),
      wake_write_fd_(wake_write_fd) {}

HttpReceiver::~HttpReceiver() {
  Stop();
  close(wake_read_fd_);
  close(wake_write_fd_);
}

std::string HttpReceiver::url(absl::string_view path) const {
  return absl::StrCat("http://127.0.0.1:", port_, path);
}

void HttpReceiver::ScriptResponses(const std::vector<int>& statuses) {
  std::lock_guard<std::mutex> lock(mu_);
  script_.insert(script_.end(), statuses.begin(), statuses.end());
}

void HttpReceiver::Pause() {
  std::lock_guard<std::mutex> lock(mu_);
  paused_ = true;
}

void HttpReceiver::Resume() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    paused_ = false;
  }
  WakeThread();
}

bool HttpReceiver::WaitForRequests(size_t n, absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return requests_changed_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                                    [&] { return requests_.size() >= n; });
}

std::vector<HttpReceiver::Request> HttpReceiver::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

void HttpReceiver::Stop() {
  std::lock_guard<std::mutex> lock(stop_mu_);
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  WakeThread();
  thread_.join();
  close(listen_fd_);
}

void HttpReceiver::WakeThread() {
  const char byte = 0;
  // A full pipe already wakes the thread, so a failed write is fine.
  [[maybe_unused]] ssize_t written = write(wake_write_fd_, &byte, 1);
}

void HttpReceiver::Run() {
  std::vector<std::unique_ptr<Connection>> connections;
  std::vector<pollfd> fds;
  while (true) {
    bool paused;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) break;
      paused = paused_;
    }
    if (!paused) {
      for (auto& connection : connections) {
        if (connection != nullptr && !Flush(*connection)) connection.reset();
      }
    }
    connections.erase(
        std::remove(connections.begin(), connections.end(), nullptr),
        connections.end());

    fds.clear();
    fds.push_back({wake_read_fd_, POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    for (const auto& connection : connections) {
      fds.push_back({connection->fd, POLLIN, 0});
    }
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents != 0) {
      char buffer[64];
      while (read(wake_read_fd_, buffer, sizeof(buffer)) > 0) {
      }
    }
    for (size_t i = 0; i < connections.size(); ++i) {
      if (fds[i + 2].revents == 0) continue;
      Connection& connection = *connections[i];
      char buffer[64 * 1024];
      const ssize_t received = recv(connection.fd, buffer, sizeof(buffer), 0);
      if (received < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (received <= 0) {
        connections[i].reset();
        continue;
      }
      connection.in.append(buffer, static_cast<size_t>(received));
      if (!Serve(connection)) connections[i].reset();
    }
    if (fds[1].revents != 0) {
      while (true) {
        // Blocking connection sockets: the thread reads only after poll()
        // said so, and answers are small enough to fit the send buffer.
        const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) break;
        connections.push_back(std::make_unique<Connection>(fd));
      }
    }
  }
  connections.clear();
}

bool HttpReceiver::Serve(Connection& connection) {
  while (true) {
    const size_t head_end = connection.in.find("\r\n\r\n");
    if (head_end == std::string::npos) {
      return connection.in.size() <= kMaxHeadBytes;
    }
    Request request;
    bool bad = false;
    size_t content_length = 0;
    bool expect_continue = false;
    bool close_after = false;
    std::vector<absl::string_view> lines = absl::StrSplit(
        absl::string_view(connection.in).substr(0, head_end), "\r\n");
    std::vector<absl::string_view> request_line = absl::StrSplit(lines[0], ' ');
    if (request_line.size() != 3 ||
        !absl::StartsWith(request_line[2], "HTTP/1.")) {
      bad = true;
    } else {
      request.method = std::string(request_line[0]);
      request.path = std::string(request_line[1]);
      close_after = request_line[2] == "HTTP/1.0";
    }
    for (size_t i = 1; i < lines.size() && !bad; ++i) {
      const size_t colon = lines[i].find(':');
      if (colon == absl::string_view::npos) {
        bad = true;
        break;
      }
      std::string name = absl::AsciiStrToLower(lines[i].substr(0, colon));
      std::string value =
          std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
      if (name == "content-length") {
        bad = !absl::SimpleAtoi(value, &content_length);
      } else if (name == "transfer-encoding") {
        bad = true;  // Chunked bodies are not supported.
      } else if (name == "expect") {
        expect_continue = absl::EqualsIgnoreCase(value, "100-continue");
      } else if (name == "connection") {
        close_after = absl::EqualsIgnoreCase(value, "close");
      }
      request.headers.emplace_back(std::move(name), std::move(value));
    }
    if (bad) {
      connection.pending.emplace_back(400, true);
      return Flush(connection);
    }
    const size_t body_begin = head_end + 4;
    if (connection.in.size() - body_begin < content_length) {
      if (expect_continue && !connection.sent_continue) {
        connection.sent_continue = true;
        if (!SendAll(connection.fd, "HTTP/1.1 100 Continue\r\n\r\n")) {
          return false;
        }
      }
      return true;
    }
    request.body = connection.in.substr(body_begin, content_length);
    connection.in.erase(0, body_begin + content_length);
    connection.sent_continue = false;

    int status = 200;
    bool paused;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!script_.empty()) {
        status = script_.front();
        script_.pop_front();
      }
      paused = paused_;
      requests_.push_back(std::move(request));
    }
    requests_changed_.notify_all();
    connection.pending.emplace_back(status, close_after);
    if (!paused && !Flush(connection)) return false;
  }
}

bool HttpReceiver::Flush(Connection& connection) {
  while (!connection.pending.empty()) {
    const auto [status, close_after] = connection.pending.front();
    connection.pending.pop_front();
    const std::string answer = absl::StrCat(
        "HTTP/1.1 ", status, " ", Reason(status), "\r\nContent-Length: 0\r\n",
        close_after ? "Connection: close\r\n" : "", "\r\n");
    if (!SendAll(connection.fd, answer) || close_after) return false;
  }
  return true;
}

}  // namespace presence
