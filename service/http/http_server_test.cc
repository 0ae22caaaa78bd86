#include "service/http/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "presence/base/mutex.h"

namespace presence {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Answers "/echo" at once with the method and target, holds "/hold" until
// Release() (which answers with Send and SendLater in turn), and drops
// "/drop" without answering.
class TestHandler : public HttpHandler {
 public:
  void Handle(HttpRequest request,
              std::shared_ptr<HttpResponder> responder) override {
    if (absl::StartsWith(request.target, "/hold")) {
      responder->OnClientGone([this] { gone_.fetch_add(1); });
      MutexLock lock(&mu_);
      held_.push_back(std::move(responder));
      return;
    }
    if (absl::StartsWith(request.target, "/drop")) return;
    HttpResponse response;
    response.headers = {{"Content-Type", "text/plain"}};
    response.body =
        absl::StrCat(request.method, " ", request.target, " ",
                     request.Header("x-test"), " ", request.body.size());
    responder->Send(std::move(response));
  }

  HttpResponse ProtocolError(int status, absl::string_view message) override {
    HttpResponse response;
    response.status = status;
    response.body = absl::StrCat("refused: ", message);
    return response;
  }

  // Answers every held request (from this thread).
  size_t Release(const std::string& body) {
    std::vector<std::shared_ptr<HttpResponder>> held;
    {
      MutexLock lock(&mu_);
      held.swap(held_);
    }
    for (size_t i = 0; i < held.size(); ++i) {
      HttpResponse response;
      response.body = body;
      if (i % 2 == 0) {
        held[i]->Send(std::move(response));
      } else {
        // Built on the connection's thread; a second answer is ignored.
        held[i]->SendLater(
            [response = std::move(response)]() mutable { return response; });
        held[i]->Send(HttpResponse{500, {}, "ignored"});
      }
    }
    return held.size();
  }

  size_t held() {
    MutexLock lock(&mu_);
    return held_.size();
  }

  int gone() const { return gone_.load(); }

 private:
  Mutex mu_;
  std::vector<std::shared_ptr<HttpResponder>> held_ ABSL_GUARDED_BY(mu_);
  std::atomic<int> gone_{0};
};

// A blocking test client on one connection.
class Client {
 public:
  explicit Client(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&address),
                         sizeof(address)) == 0;
  }
  ~Client() { Close(); }

  bool connected() const { return connected_; }

  void Send(const std::string& bytes) {
    (void)send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  }

  // Reads one response (headers and a Content-Length body); "" if the
  // connection closed first or nothing came within `timeout_ms`.
  std::string ReadResponse(int timeout_ms = 5000) {
    while (true) {
      const size_t end = buffer_.find("\r\n\r\n");
      if (end != std::string::npos) {
        size_t length = 0;
        const size_t at = buffer_.find("Content-Length: ");
        if (at != std::string::npos && at < end) {
          const size_t eol = buffer_.find("\r\n", at);
          (void)absl::SimpleAtoi(buffer_.substr(at + 16, eol - at - 16),
                                 &length);
        }
        if (buffer_.size() >= end + 4 + length) {
          std::string response = buffer_.substr(0, end + 4 + length);
          buffer_.erase(0, end + 4 + length);
          return response;
        }
      }
      if (!ReadSome(timeout_ms)) return "";
    }
  }

  // Whether the server closed the connection within `timeout_ms`.
  bool ClosedByServer(int timeout_ms = 5000) {
    while (ReadSome(timeout_ms)) {
    }
    return closed_;
  }

  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  bool ReadSome(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    char chunk[4096];
    const ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    buffer_.append(chunk, n);
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
  std::string buffer_;
};

std::string Get(const std::string& target, const std::string& extra = "") {
  return absl::StrCat("GET ", target, " HTTP/1.1\r\nHost: t\r\n", extra,
                      "\r\n");
}

class HttpServerTest : public ::testing::Test {
 protected:
  void Start(HttpServerOptions options = {}) {
    options.address = "127.0.0.1:0";
    absl::StatusOr<std::unique_ptr<HttpServer>> server =
        HttpServer::Start(options, &handler_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  void TearDown() override {
    handler_.Release("bye");
    server_.reset();
  }

  TestHandler handler_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, ServesSeveralRequestsOnAKeptAliveConnection) {
  Start();
  EXPECT_THAT(server_->address(), StartsWith("127.0.0.1:"));
  Client client(server_->port());
  ASSERT_TRUE(client.connected());
  client.Send(Get("/echo?a=1", "X-Test: hello\r\n"));
  std::string response = client.ReadResponse();
  EXPECT_THAT(response, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(response, HasSubstr("Content-Type: text/plain\r\n"));
  EXPECT_THAT(response, HasSubstr("Server: presence_server\r\n"));
  EXPECT_THAT(response, HasSubstr("\r\n\r\nGET /echo?a=1 hello 0"));
  // Pipelined: the second waits for the first.
  client.Send(Get("/echo/2") + Get("/echo/3"));
  EXPECT_THAT(client.ReadResponse(), HasSubstr("GET /echo/2"));
  EXPECT_THAT(client.ReadResponse(), HasSubstr("GET /echo/3"));
  EXPECT_EQ(server_->accepted(), 1u);
  EXPECT_EQ(server_->connections(), 1u);
}

TEST_F(HttpServerTest, HonoursConnectionClose) {
  Start();
  Client client(server_->port());
  client.Send(Get("/echo", "Connection: close\r\n"));
  EXPECT_THAT(client.ReadResponse(), HasSubstr("Connection: close"));
  EXPECT_TRUE(client.ClosedByServer());
}

TEST_F(HttpServerTest, PassesTheBody) {
  Start();
  Client client(server_->port());
  client.Send(
      "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_THAT(client.ReadResponse(), HasSubstr("POST /echo  5"));
}

TEST_F(HttpServerTest, RefusesOversizedAndMalformedRequests) {
  HttpServerOptions options;
  options.max_header_bytes = 1024;
  options.max_body_bytes = 10;
  Start(options);
  {
    Client client(server_->port());
    client.Send(Get("/echo?" + std::string(2000, 'a')));
    const std::string response = client.ReadResponse();
    EXPECT_THAT(response, StartsWith("HTTP/1.1 414 "));
    EXPECT_THAT(response, HasSubstr("refused: the request line and headers "
                                    "exceed 1024 bytes"));
    EXPECT_TRUE(client.ClosedByServer());
  }
  {
    Client client(server_->port());
    client.Send(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello "
        "world");
    EXPECT_THAT(client.ReadResponse(), StartsWith("HTTP/1.1 413 "));
    EXPECT_TRUE(client.ClosedByServer());
  }
  {
    Client client(server_->port());
    client.Send("NOT HTTP AT ALL\r\n\r\n");
    const std::string response = client.ReadResponse();
    EXPECT_THAT(response, StartsWith("HTTP/1.1 400 "));
    EXPECT_THAT(response, HasSubstr("refused: malformed HTTP request"));
    EXPECT_TRUE(client.ClosedByServer());
  }
}

TEST_F(HttpServerTest, CutsOffSlowAndIdleClients) {
  HttpServerOptions options;
  options.request_timeout = absl::Milliseconds(300);
  options.idle_timeout = absl::Milliseconds(300);
  Start(options);
  Client slow(server_->port());
  slow.Send("GET /echo HTTP/1.1\r\nHost:");  // ...and nothing more.
  Client idle(server_->port());
  EXPECT_TRUE(slow.ClosedByServer());
  EXPECT_TRUE(idle.ClosedByServer());
}

TEST_F(HttpServerTest, AnswersFromAnotherThreadLater) {
  Start();
  Client a(server_->port());
  Client b(server_->port());
  a.Send(Get("/hold/a"));
  b.Send(Get("/hold/b"));
  while (handler_.held() < 2)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::thread releaser([this] { EXPECT_EQ(handler_.Release("later"), 2u); });
  releaser.join();
  EXPECT_THAT(a.ReadResponse(), HasSubstr("\r\n\r\nlater"));
  EXPECT_THAT(b.ReadResponse(), HasSubstr("\r\n\r\nlater"));
  // Kept alive after a late answer.
  a.Send(Get("/echo"));
  EXPECT_THAT(a.ReadResponse(), HasSubstr("GET /echo"));
}

TEST_F(HttpServerTest, TellsTheHandlerWhenAClientLeavesAHeldRequest) {
  Start();
  {
    Client client(server_->port());
    client.Send(Get("/hold"));
    while (handler_.held() < 1)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }  // Closed.
  for (int i = 0; i < 500 && handler_.gone() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(handler_.gone(), 1);
  // Answering afterwards is harmless, and the connection goes away.
  handler_.Release("too late");
  for (int i = 0; i < 500 && server_->connections() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(server_->connections(), 0u);
}

TEST_F(HttpServerTest, ARequestTheHandlerDropsIsAnswered500) {
  Start();
  Client client(server_->port());
  client.Send(Get("/drop"));
  const std::string response = client.ReadResponse();
  EXPECT_THAT(response, StartsWith("HTTP/1.1 500 "));
  EXPECT_THAT(response, HasSubstr("refused: the server dropped the request"));
}

TEST_F(HttpServerTest, DrainClosesIdleConnectionsAndWaitsForHeldOnes) {
  Start();
  Client idle(server_->port());
  idle.Send(Get("/echo"));
  ASSERT_THAT(idle.ReadResponse(), HasSubstr("GET /echo"));
  Client held(server_->port());
  held.Send(Get("/hold"));
  while (handler_.held() < 1)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));

  server_->BeginShutdown();
  EXPECT_TRUE(idle.ClosedByServer());
  // New connections are refused (or closed at once).
  Client late(server_->port());
  EXPECT_TRUE(!late.connected() || late.ClosedByServer());

  std::thread shutdown(
      [this] { server_->Shutdown(absl::Now() + absl::Seconds(20)); });
  handler_.Release("drained");
  const std::string response = held.ReadResponse();
  EXPECT_THAT(response, HasSubstr("Connection: close"));
  EXPECT_THAT(response, HasSubstr("\r\n\r\ndrained"));
  EXPECT_TRUE(held.ClosedByServer());
  shutdown.join();  // Promptly: every connection closed.
  EXPECT_EQ(server_->connections(), 0u);
}

TEST_F(HttpServerTest, ShutdownGivesUpOnConnectionsAtTheDeadline) {
  Start();
  Client held(server_->port());
  held.Send(Get("/hold"));
  while (handler_.held() < 1)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const absl::Time start = absl::Now();
  server_->Shutdown(absl::Now() + absl::Milliseconds(200));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  handler_.Release("after");  // Dropped: the server stopped.
}

TEST_F(HttpServerTest, RunsPeriodicTasks) {
  Start();
  std::atomic<int> runs{0};
  server_->RunEvery(absl::Milliseconds(10), [&runs] { runs.fetch_add(1); });
  for (int i = 0; i < 500 && runs.load() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(runs.load(), 3);
  server_->Shutdown(absl::Now());
}

TEST(HttpServerStartTest, RefusesBadAddresses) {
  TestHandler handler;
  HttpServerOptions options;
  options.address = "nonsense";
  EXPECT_EQ(HttpServer::Start(options, &handler).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.address = "127.0.0.1:0";
  auto first = HttpServer::Start(options, &handler);
  ASSERT_TRUE(first.ok());
  options.address = absl::StrCat("127.0.0.1:", (*first)->port());
  EXPECT_EQ(HttpServer::Start(options, &handler).status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace presence
