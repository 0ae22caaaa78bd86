#include "presence/store/redis/redis_pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "hiredis/read.h"

namespace presence {
namespace {

thread_local const RedisPipeline* io_thread_of = nullptr;

int64_t MonotonicNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A status of its own for each callback: a Status's message is shared by
// reference counting inside Abseil, which ThreadSanitizer cannot see in
// Debian's build, so a message shared across threads is reported as a race.
absl::Status Copy(const absl::Status& status) {
  return absl::Status(status.code(), status.message());
}

absl::Status Unavailable(absl::string_view what) {
  return absl::UnavailableError(absl::StrCat("redis: ", what));
}

// hiredis's reader builds RedisReply trees directly: an element is created
// in place in its parent's (pre-sized) vector; only the root is allocated,
// and only the root is ever freed by the reader.
RedisReply* Slot(const redisReadTask* task) {
  if (task->parent != nullptr) {
    auto* parent = static_cast<RedisReply*>(task->parent->obj);
    return &parent->elements[task->idx];
  }
  return new RedisReply();
}

void* CreateString(const redisReadTask* task, char* str, size_t len) {
  RedisReply* reply = Slot(task);
  switch (task->type) {
    case REDIS_REPLY_ERROR:
      reply->type = RedisReply::Type::kError;
      break;
    case REDIS_REPLY_STATUS:
      reply->type = RedisReply::Type::kStatus;
      break;
    default:
      reply->type = RedisReply::Type::kString;
  }
  reply->str.assign(str, len);
  return reply;
}

void* CreateArray(const redisReadTask* task, int elements) {
  RedisReply* reply = Slot(task);
  reply->type = RedisReply::Type::kArray;
  reply->elements.resize(elements);
  return reply;
}

// hiredis's callback signature fixes the type.
void* CreateInteger(const redisReadTask* task,
                    long long value) {  // NOLINT(google-runtime-int)
  RedisReply* reply = Slot(task);
  reply->type = RedisReply::Type::kInteger;
  reply->integer = value;
  return reply;
}

void* CreateNil(const redisReadTask* task) {
  RedisReply* reply = Slot(task);
  reply->type = RedisReply::Type::kNil;
  return reply;
}

void FreeReply(void* reply) { delete static_cast<RedisReply*>(reply); }

redisReplyObjectFunctions kReplyFunctions = {
    CreateString, CreateArray, CreateInteger, CreateNil, FreeReply};

struct ReaderDeleter {
  void operator()(redisReader* reader) const { redisReaderFree(reader); }
};

}  // namespace

std::string FcallCommand(const RedisLibrary& library,
                         absl::string_view function,
                         const std::vector<std::string>& args) {
  size_t bytes = 80;
  for (const std::string& arg : args) bytes += arg.size() + 16;
  std::string out;
  out.reserve(bytes);
  RespBegin(out, args.size() + 3);
  RespArg(out, "FCALL");
  RespArg(out, library.Function(function));
  RespArg(out, "0");
  for (const std::string& arg : args) RespArg(out, arg);
  return out;
}

RedisPipeline::RedisPipeline(RedisEndpoint endpoint, RedisPoolOptions options,
                             std::vector<const RedisLibrary*> libraries)
    : endpoint_(std::move(endpoint)),
      options_(options),
      libraries_(std::move(libraries)),
      timeout_ns_(absl::ToInt64Nanoseconds(options.timeout)),
      wake_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  thread_ = std::thread([this] { Run(); });
}

RedisPipeline::~RedisPipeline() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  stop_.SignalAll();
  Wake();
  thread_.join();
  close(wake_fd_);
}

bool RedisPipeline::OnIoThread() { return io_thread_of != nullptr; }

void RedisPipeline::Wake() {
  const uint64_t one = 1;
  // Fails only if the counter would overflow, i.e. a wake-up is pending.
  (void)!write(wake_fd_, &one, sizeof(one));
}

void RedisPipeline::SetStateLocked(State state) {
  state_ = state;
  public_state_.store(state, std::memory_order_release);
}

absl::Status RedisPipeline::DownError() const {
  return Unavailable(absl::StrCat(endpoint_.host, ":", endpoint_.port,
                                  " is unreachable (", last_error_,
                                  "); retrying with backoff"));
}

void RedisPipeline::Send(std::string command, const RedisLibrary* library,
                         RedisCallback done) {
  absl::Status failed;
  RedisCallback rejected;
  bool wake = false;
  {
    MutexLock lock(&mu_);
    if (stopping_ || state_ == State::kDown) {
      failed =
          stopping_ ? Unavailable("the client is shutting down") : DownError();
      rejected = std::move(done);
    } else {
      queue_.push_back(Request{std::move(command), library, std::move(done)});
      wake = io_idle_;
      io_idle_ = false;
    }
  }
  if (rejected) {
    std::move(rejected)(std::move(failed));
    return;
  }
  if (wake) Wake();
}

absl::StatusOr<std::unique_ptr<RedisConnection>> RedisPipeline::Connect() {
  absl::StatusOr<std::unique_ptr<RedisConnection>> connection =
      RedisConnection::Connect(endpoint_, options_.timeout);
  if (!connection.ok()) return connection;
  for (const RedisLibrary* library : libraries_) {
    if (absl::Status loaded = (*connection)->Load(*library); !loaded.ok()) {
      return loaded;
    }
  }
  const int fd = (*connection)->fd();
  const int flags = fcntl(fd, F_GETFL, 0);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return Unavailable(absl::StrCat("fcntl: ", strerror(errno)));
  }
  const int on = 1;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  return connection;
}

void RedisPipeline::Run() {
  io_thread_of = this;
  absl::Duration backoff = options_.initial_backoff;
  while (true) {
    {
      MutexLock lock(&mu_);
      if (stopping_) break;
    }
    absl::StatusOr<std::unique_ptr<RedisConnection>> connection = Connect();
    if (!connection.ok()) {
      std::vector<Request> failed;
      absl::Status status;
      {
        MutexLock lock(&mu_);
        last_error_ = std::string(connection.status().message());
        SetStateLocked(State::kDown);
        failed.swap(queue_);
        status = DownError();
      }
      for (Request& request : failed) std::move(request.done)(Copy(status));
      MutexLock lock(&mu_);
      stop_.WaitFor(
          &mu_,
          [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; },
          backoff);
      backoff = std::min(backoff * 2, options_.max_backoff);
      if (!stopping_) SetStateLocked(State::kConnecting);
      continue;
    }
    backoff = options_.initial_backoff;
    {
      MutexLock lock(&mu_);
      SetStateLocked(State::kConnected);
    }
    // Broken or stopping: reconnect at once (requests queue meanwhile); a
    // failed attempt puts the pipeline down.
    (void)Serve(**connection);
    MutexLock lock(&mu_);
    if (!stopping_) SetStateLocked(State::kConnecting);
  }
  std::vector<Request> failed;
  {
    MutexLock lock(&mu_);
    failed.swap(queue_);
  }
  for (Request& request : failed) {
    std::move(request.done)(Unavailable("the client is shutting down"));
  }
}

absl::Status RedisPipeline::Serve(RedisConnection& connection) {
  const int fd = connection.fd();
  std::unique_ptr<redisReader, ReaderDeleter> reader(
      redisReaderCreateWithFunctions(&kReplyFunctions));
  // Unused reader buffer space above this is given back.
  reader->maxbuf = 1 << 20;
  constexpr size_t kReadSize = size_t{64} * 1024;
  std::unique_ptr<char[]> buffer(new char[kReadSize]);
  // Sent, in the order Redis answers them.
  std::deque<Request> in_flight;
  // When Redis last answered (or, with nothing in flight before, when a
  // request was sent): a connection with requests in flight that answers
  // nothing for a whole timeout is given up. Time a request spends queued
  // behind others that Redis is answering does not count.
  int64_t progress_ns = MonotonicNanos();
  std::vector<Request> taken;
  std::string out;
  size_t written = 0;
  absl::Status error;
  while (error.ok()) {
    {
      MutexLock lock(&mu_);
      if (stopping_) {
        error = Unavailable("the client is shutting down");
        break;
      }
      taken.swap(queue_);
      io_idle_ = false;
    }
    if (!taken.empty() && in_flight.empty()) progress_ns = MonotonicNanos();
    for (Request& request : taken) {
      out.append(request.command);
      // Only a function call may be needed again (not found).
      if (request.library == nullptr || request.retried) {
        std::string().swap(request.command);
      }
      in_flight.push_back(std::move(request));
    }
    taken.clear();
    while (written < out.size()) {
      const ssize_t n =
          send(fd, out.data() + written, out.size() - written, MSG_NOSIGNAL);
      if (n > 0) {
        written += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        break;
      } else {
        error = Unavailable(absl::StrCat("write: ", strerror(errno)));
        break;
      }
    }
    if (!error.ok()) break;
    if (written == out.size()) {
      out.clear();
      written = 0;
    }

    const int64_t now = MonotonicNanos();
    int timeout_ms = -1;
    if (!in_flight.empty()) {
      const int64_t left = progress_ns + timeout_ns_ - now;
      if (left <= 0) {
        error = Unavailable(absl::StrCat(
            "no reply within ", absl::FormatDuration(options_.timeout)));
        break;
      }
      timeout_ms = static_cast<int>((left + 999'999) / 1'000'000);
    }
    {
      MutexLock lock(&mu_);
      if (!queue_.empty() || stopping_) {
        // New requests wait for the replies in flight (Redis would not
        // run them sooner), then go out together.
        if (stopping_ || in_flight.empty()) timeout_ms = 0;
      } else {
        io_idle_ = in_flight.empty();
      }
    }
    pollfd fds[2] = {
        {fd,
         static_cast<int16_t>(POLLIN | (written < out.size() ? POLLOUT : 0)),
         0},
        {wake_fd_, POLLIN, 0}};
    const int ready = poll(fds, 2, timeout_ms);
    if (ready < 0 && errno != EINTR) {
      error = Unavailable(absl::StrCat("poll: ", strerror(errno)));
      break;
    }
    if (ready <= 0) continue;
    if (fds[1].revents != 0) {
      uint64_t count;
      (void)!read(wake_fd_, &count, sizeof(count));
    }
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    while (true) {
      const ssize_t n = recv(fd, buffer.get(), kReadSize, 0);
      if (n > 0) {
        if (redisReaderFeed(reader.get(), buffer.get(), n) != REDIS_OK) {
          error = Unavailable("out of memory reading a reply");
          break;
        }
        if (static_cast<size_t>(n) < kReadSize) break;
      } else if (n == 0) {
        error = Unavailable("the connection was closed");
        break;
      } else if (errno == EINTR) {
        continue;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        break;
      } else {
        error = Unavailable(absl::StrCat("read: ", strerror(errno)));
        break;
      }
    }
    // Replies that arrived complete are good even if the connection broke
    // right after them.
    while (true) {
      void* parsed = nullptr;
      if (redisReaderGetReply(reader.get(), &parsed) != REDIS_OK) {
        error = Unavailable(absl::StrCat("protocol error: ", reader->errstr));
        break;
      }
      if (parsed == nullptr) break;
      std::unique_ptr<RedisReply> reply(static_cast<RedisReply*>(parsed));
      if (in_flight.empty()) {
        error = Unavailable("a reply to no request");
        break;
      }
      progress_ns = MonotonicNanos();
      Request request = std::move(in_flight.front());
      in_flight.pop_front();
      if (request.library != nullptr && !request.retried &&
          IsFunctionNotFound(*reply)) {
        // Load the library (an error there shows in the retried call) and
        // call again.
        out.append(FormatCommand(
            {"FUNCTION", "LOAD", "REPLACE", request.library->source}));
        in_flight.push_back(
            Request{"", nullptr, [](const absl::StatusOr<RedisReply>&) {}});
        out.append(request.command);
        std::string().swap(request.command);
        request.retried = true;
        in_flight.push_back(std::move(request));
        continue;
      }
      std::move(request.done)(std::move(*reply));
    }
  }
  for (Request& request : in_flight) std::move(request.done)(Copy(error));
  return error;
}

RedisClient::RedisClient(RedisEndpoint endpoint, RedisPoolOptions options,
                         const std::vector<const RedisLibrary*>& libraries)
    : endpoint_(std::move(endpoint)), options_(options) {
  const int size = std::max(1, options.size);
  for (int i = 0; i < size; ++i) {
    pipelines_.push_back(
        std::make_unique<RedisPipeline>(endpoint_, options_, libraries));
  }
}

RedisPipeline& RedisClient::Pick() {
  const size_t n = pipelines_.size();
  const size_t start = next_.fetch_add(1, std::memory_order_relaxed) % n;
  RedisPipeline* connecting = nullptr;
  for (size_t i = 0; i < n; ++i) {
    RedisPipeline& pipeline = *pipelines_[(start + i) % n];
    const RedisPipeline::State state = pipeline.state();
    if (state == RedisPipeline::State::kConnected) return pipeline;
    if (state == RedisPipeline::State::kConnecting && connecting == nullptr) {
      connecting = &pipeline;
    }
  }
  return connecting != nullptr ? *connecting : *pipelines_[start];
}

absl::StatusOr<RedisReply> RedisClient::SendAndWait(
    std::string command, const RedisLibrary* library) {
  if (RedisPipeline::OnIoThread()) {
    return absl::FailedPreconditionError(
        "redis: a blocking call on the client's I/O thread would deadlock");
  }
  Mutex mu;
  CondVar done;
  std::optional<absl::StatusOr<RedisReply>> result;
  Send(std::move(command), library, [&](absl::StatusOr<RedisReply> reply) {
    MutexLock lock(&mu);
    result = std::move(reply);
    done.SignalAll();
  });
  MutexLock lock(&mu);
  while (!result.has_value()) done.Wait(&mu);
  return *std::move(result);
}

bool RedisClient::healthy() const {
  for (const auto& pipeline : pipelines_) {
    if (pipeline->state() == RedisPipeline::State::kDown) return false;
  }
  return true;
}

}  // namespace presence
