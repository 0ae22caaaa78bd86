// HttpServer: an asynchronous HTTP/1.1 server for the service's REST
// surfaces (the PubNub-compatible API, pubnub_http_server.h). It knows no
// routes: each request goes to an HttpHandler, which answers through an
// HttpResponder now or much later (a long-poll), from any thread.
//
// Why Boost.Beast over Boost.Asio: a PubNub subscribe is a long-poll that a
// server holds for minutes, so the server must keep many thousands of idle
// connections cheaply, without a thread (or a stack) each. Asio's reactor
// holds a connection as a socket and a few hundred bytes of state, and
// Beast parses HTTP/1.1 (incremental, with header and body limits) so that
// no parser is written here. Both are header-only in Debian's libboost-dev
// (1.74), a package of the distribution the service already builds on;
// gRPC's own HTTP/2 stack does not serve plain HTTP/1.1, and libcurl is a
// client. With HttpServerOptions::tls, connections are a beast::ssl_stream
// over the same TCP stream (connections are a template on their stream
// type): the TLS handshake first, under `request_timeout`, with the context
// of the certificate files as they are at accept time.
//
//   HttpServerOptions options;
//   options.address = "127.0.0.1:0";
//   auto server = HttpServer::Start(options, &handler);
//   // handler.Handle(request, responder): responder->Send({200, {}, "ok"});
//   ...
//   (*server)->Shutdown(absl::Now() + absl::Seconds(10));
//
// Behaviour:
// - Keep-alive (HTTP/1.1 default; "Connection: close" is honoured). One
//   request at a time per connection (a pipelined request waits).
// - A connection gets `idle_timeout` to start its next request, then
//   `request_timeout` to send all of it (a slow client is cut off), and
//   `write_timeout` to take each response.
// - Request line and headers over max_header_bytes are answered 414, a body
//   over max_body_bytes 413, a malformed request 400 (then the connection is
//   closed); the handler words those answers (ProtocolError).
// - While the handler holds a request, the server notices a client that
//   closes the connection and tells the responder (OnClientGone).
// - One io_context runs on `threads` threads; each connection is a strand.
//
// Thread-safe.
#ifndef SERVICE_HTTP_HTTP_SERVER_H_
#define SERVICE_HTTP_HTTP_SERVER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "presence/base/mutex.h"
#include "service/tls/ssl_server_context.h"

namespace presence {

struct HttpServerOptions {
  // host:port; port 0 picks a free port (see HttpServer::port()).
  std::string address;
  // Threads running the io_context.
  int threads = 2;
  // Largest request line plus headers (answered 414 beyond).
  size_t max_header_bytes = 64 * 1024;
  // Largest request body (answered 413 beyond).
  size_t max_body_bytes = 64 * 1024;
  // How long a connection may wait to start a request.
  absl::Duration idle_timeout = absl::Seconds(60);
  // How long a client has to send a whole request once it started.
  absl::Duration request_timeout = absl::Seconds(10);
  // How long a client has to take a response.
  absl::Duration write_timeout = absl::Seconds(30);
  // Serve HTTPS with this context (which must outlive the server); null is
  // plain HTTP. With TLS, a long-poll whose client goes away is noticed
  // only when its hold ends (the close arrives as TLS data first).
  SslServerContext* tls = nullptr;
};

struct HttpRequest {
  std::string method;  // "GET", "OPTIONS", ...
  std::string target;  // The raw request-target: "/path?query".
  // Header names in lower case, in arrival order.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // The client's IP address ("10.0.0.7", "::1"), or "" if unknown.
  std::string peer;

  // Returns the first value of a header (name in lower case), or "".
  absl::string_view Header(absl::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  // Besides these, the server sets Content-Length, Connection and Server.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// How a handler answers one request. Thread-safe.
class HttpResponder {
 public:
  virtual ~HttpResponder() = default;

  // Sends the response; only the first call (of Send or SendLater) counts.
  // A responder destroyed without one answers 500 (through
  // HttpHandler::ProtocolError).
  virtual void Send(HttpResponse response) = 0;

  // Like Send, but `make` builds the response on the connection's server
  // thread just before it is written: a handler that answers thousands of
  // requests at once (an event for every long-poll) then neither builds
  // them all on its own thread nor holds them all in memory at once.
  virtual void SendLater(absl::AnyInvocable<HttpResponse()> make) = 0;

  // Runs `callback` once, on a server thread, if the client closes the
  // connection before the response was sent (at once if it already did).
  // Not run after Send.
  virtual void OnClientGone(absl::AnyInvocable<void()> callback) = 0;
};

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;

  // Handles one request. Runs on a server thread: must not block (hand
  // blocking work to another thread and answer from there).
  virtual void Handle(HttpRequest request,
                      std::shared_ptr<HttpResponder> responder) = 0;

  // The answer to a request the server refuses itself (400 malformed, 413,
  // 414, 500 when a handler dropped a responder without answering).
  virtual HttpResponse ProtocolError(int status, absl::string_view message) = 0;
};

namespace http_internal {
class ServerCore;
}  // namespace http_internal

class HttpServer {
 public:
  // Binds options.address and starts serving `handler`, which must outlive
  // the server. UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const HttpServerOptions& options, HttpHandler* handler);

  // Shuts down at once if Shutdown was not called.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  // The listen address with the bound port, e.g. "127.0.0.1:41235".
  const std::string& address() const { return address_; }

  // Open connections, and connections accepted since the start.
  size_t connections() const;
  uint64_t accepted() const;

  // Runs `task` on a server thread every `period` until shutdown (e.g. to
  // expire long-polls). Call before Shutdown.
  void RunEvery(absl::Duration period, absl::AnyInvocable<void()> task);

  // Stops accepting, closes connections that wait for a request, and makes
  // every later response close its connection. Idempotent.
  void BeginShutdown();

  // BeginShutdown(), then waits until every connection is closed (the
  // handler answers what it holds) or `deadline` passes, then stops the
  // threads; what is still open is closed. Idempotent.
  void Shutdown(absl::Time deadline) ABSL_LOCKS_EXCLUDED(shutdown_mu_);

 private:
  HttpServer(const HttpServerOptions& options, HttpHandler* handler);

  std::unique_ptr<http_internal::ServerCore> core_;
  int port_ = 0;
  std::string address_;
  std::vector<std::thread> threads_;
  Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace presence

#endif  // SERVICE_HTTP_HTTP_SERVER_H_
