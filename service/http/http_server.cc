#include "service/http/http_server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <optional>
#include <type_traits>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace presence {

absl::string_view HttpRequest::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return {};
}

namespace http_internal {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

// The first read of a request on an idle connection; a typical PubNub
// request (a few hundred bytes) fits.
constexpr size_t kFirstReadBytes = 1024;

std::chrono::steady_clock::duration Chrono(absl::Duration d) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      absl::ToChronoNanoseconds(d));
}

}  // namespace

// What the server's connections share with it.
class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  // Closes the connection if it waits for a request (posted to its strand).
  virtual void Drain() = 0;
};

class ServerCore {
 public:
  ServerCore(const HttpServerOptions& options, HttpHandler* handler)
      : options(options),
        handler(handler),
        io(options.threads),
        work(asio::make_work_guard(io)),
        acceptor(asio::make_strand(io)),
        accept_retry(acceptor.get_executor()) {}

  void Register(ConnectionBase* connection,
                const std::weak_ptr<ConnectionBase>& weak)
      ABSL_LOCKS_EXCLUDED(mu) {
    MutexLock lock(&mu);
    live.emplace(connection, weak);
  }

  void Unregister(ConnectionBase* connection) ABSL_LOCKS_EXCLUDED(mu) {
    MutexLock lock(&mu);
    live.erase(connection);
    if (live.empty()) changed.SignalAll();
  }

  size_t Size() const ABSL_LOCKS_EXCLUDED(mu) {
    MutexLock lock(&mu);
    return live.size();
  }

  std::vector<std::shared_ptr<ConnectionBase>> Live() const
      ABSL_LOCKS_EXCLUDED(mu) {
    std::vector<std::shared_ptr<ConnectionBase>> out;
    MutexLock lock(&mu);
    for (const auto& [raw, weak] : live) {
      if (std::shared_ptr<ConnectionBase> strong = weak.lock()) {
        out.push_back(std::move(strong));
      }
    }
    return out;
  }

  void WaitForNoConnections(absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu) {
    MutexLock lock(&mu);
    changed.WaitFor(
        &mu,
        [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return live.empty(); },
        std::max(absl::ZeroDuration(), deadline - absl::Now()));
  }

  void Accept();

  const HttpServerOptions options;
  HttpHandler* const handler;
  std::atomic<bool> draining{false};
  // Set once the io_context stopped: nothing may be posted to it then.
  std::atomic<bool> stopped{false};
  std::atomic<uint64_t> accepted{0};

  // Declared before `io`: connections destroyed with the io_context's
  // pending handlers unregister here.
  mutable Mutex mu;
  mutable CondVar changed;
  absl::flat_hash_map<ConnectionBase*, std::weak_ptr<ConnectionBase>> live
      ABSL_GUARDED_BY(mu);

  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  // Used on the acceptor's strand only.
  tcp::acceptor acceptor;
  asio::steady_timer accept_retry;
  std::vector<std::unique_ptr<asio::steady_timer>> timers;  // RunEvery.
};

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One HTTP/1.1 connection over `Stream` (beast::tcp_stream, or TlsStream
// over it). Every member is used on the stream's strand only.
template <class Stream>
class Connection : public ConnectionBase,
                   public std::enable_shared_from_this<Connection<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  Connection(ServerCore* core, Stream stream)
      : core_(core), stream_(std::move(stream)) {}
  ~Connection() override { core_->Unregister(this); }

  void Start() {
    core_->Register(this, this->shared_from_this());
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (kTls) {
        self->Handshake();
      } else {
        self->ReadRequest();
      }
    });
  }

  void Drain() override {
    Post([](Connection& c) {
      if (c.state_ == State::kReading && !c.parsing_) c.Close();
    });
  }

  // For the responder (any thread).
  void PostResponse(HttpResponse response) {
    Post([response = std::move(response)](Connection& c) mutable {
      c.WriteResponse(std::move(response));
    });
  }
  void PostResponseLater(absl::AnyInvocable<HttpResponse()> make) {
    Post([make = std::move(make)](Connection& c) mutable {
      if (c.state_ != State::kHandling) return;
      c.WriteResponse(make());
    });
  }
  void PostAbandon() {
    Post([](Connection& c) {
      if (c.state_ != State::kHandling) return;
      if (c.client_gone_) {
        c.Close();
      } else {
        c.WriteResponse(c.core_->handler->ProtocolError(
            500, "the server dropped the request"));
      }
    });
  }
  void PostClientGone(absl::AnyInvocable<void()> callback) {
    Post([callback = std::move(callback)](Connection& c) mutable {
      if (c.state_ != State::kHandling) return;  // Answered already.
      if (c.client_gone_) {
        callback();
      } else {
        c.gone_callback_ = std::move(callback);
      }
    });
  }

 private:
  enum class State { kReading, kHandling, kWriting, kClosed };

  template <typename F>
  void Post(F f) {
    if (core_->stopped.load()) return;
    asio::post(stream_.get_executor(),
               [self = this->shared_from_this(), f = std::move(f)]() mutable {
                 f(*self);
               });
  }

  tcp::socket& socket() { return beast::get_lowest_layer(stream_).socket(); }

  // TLS: the handshake, under the request timeout, before the first read.
  void Handshake() {
    beast::get_lowest_layer(stream_).expires_after(
        Chrono(core_->options.request_timeout));
    stream_.async_handshake(asio::ssl::stream_base::server,
                            [self = this->shared_from_this()](error_code ec) {
                              if (ec) return self->Close();
                              self->ReadRequest();
                            });
  }

  void ReadRequest() {
    if (core_->draining.load() || state_ == State::kClosed) return Close();
    state_ = State::kReading;
    if (buffer_.size() > 0) return ParseRequest();  // Pipelined.
    // Waiting for a request: the idle timeout, and no parser yet.
    parsing_ = false;
    beast::get_lowest_layer(stream_).expires_after(
        Chrono(core_->options.idle_timeout));
    stream_.async_read_some(
        buffer_.prepare(kFirstReadBytes),
        [self = this->shared_from_this()](error_code ec, size_t n) {
          if (ec) return self->Close();
          self->buffer_.commit(n);
          self->ParseRequest();
        });
  }

  void ParseRequest() {
    parsing_ = true;
    parser_.emplace();
    parser_->header_limit(
        static_cast<std::uint32_t>(core_->options.max_header_bytes));
    parser_->body_limit(core_->options.max_body_bytes);
    beast::get_lowest_layer(stream_).expires_after(
        Chrono(core_->options.request_timeout));
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = this->shared_from_this()](error_code ec, size_t) {
                        self->OnRequest(ec);
                      });
  }

  void OnRequest(error_code ec) {
    if (ec == bhttp::error::header_limit) {
      return Refuse(414,
                    absl::StrCat("the request line and headers exceed ",
                                 core_->options.max_header_bytes, " bytes"));
    }
    if (ec == bhttp::error::body_limit) {
      return Refuse(413, absl::StrCat("the request body exceeds ",
                                      core_->options.max_body_bytes, " bytes"));
    }
    if (ec &&
        ec.category() ==
            bhttp::make_error_code(bhttp::error::bad_target).category() &&
        ec != bhttp::error::end_of_stream &&
        ec != bhttp::error::partial_message) {
      return Refuse(400,
                    absl::StrCat("malformed HTTP request: ", ec.message()));
    }
    if (ec) return Close();  // Closed, reset, or too slow.

    bhttp::request<bhttp::string_body> message = parser_->release();
    parser_.reset();
    // A held long-poll keeps no read buffer.
    if (buffer_.size() == 0) buffer_.shrink_to_fit();
    HttpRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    for (const auto& field : message) {
      const auto name = field.name_string();
      request.headers.emplace_back(
          absl::AsciiStrToLower(absl::string_view(name.data(), name.size())),
          std::string(field.value()));
    }
    request.body = std::move(message.body());
    {
      error_code ignored;
      const tcp::endpoint remote = socket().remote_endpoint(ignored);
      if (!ignored) request.peer = remote.address().to_string();
    }
    keep_alive_ = message.keep_alive();

    state_ = State::kHandling;
    client_gone_ = false;
    beast::get_lowest_layer(stream_).expires_never();
    WatchForClose();
    core_->handler->Handle(
        std::move(request),
        std::make_shared<ConnectionResponder>(this->shared_from_this()));
  }

  // Answers a request the server refuses, then closes.
  void Refuse(int status, absl::string_view message) {
    keep_alive_ = false;
    state_ = State::kHandling;
    WriteResponse(core_->handler->ProtocolError(status, message));
  }

  // Notices a client that closes the connection while its request is
  // handled (a long-poll whose client went away).
  void WatchForClose() {
    socket().async_wait(tcp::socket::wait_read,
                        [self = this->shared_from_this()](error_code ec) {
                          self->OnReadableWhileHandling(ec);
                        });
  }

  void OnReadableWhileHandling(error_code ec) {
    if (state_ != State::kHandling || ec == asio::error::operation_aborted) {
      return;
    }
    if (!ec) {
      // Readiness can be stale (the reactor is edge-triggered and the
      // request's bytes made the socket readable before): peek to learn
      // what is there. Nothing yet: watch again. Data: a pipelined request,
      // read after this response.
      char byte;
      error_code peek;
      socket().non_blocking(true, peek);
      const size_t n = socket().receive(asio::buffer(&byte, 1),
                                        tcp::socket::message_peek, peek);
      if (peek == asio::error::would_block) return WatchForClose();
      if (!peek && n > 0) return;
    }
    // End of stream, or an error: the client closed (or half-closed) its
    // side. The answer, if any, is still attempted, then the connection
    // closes.
    client_gone_ = true;
    keep_alive_ = false;
    if (gone_callback_) {
      absl::AnyInvocable<void()> callback = std::move(gone_callback_);
      gone_callback_ = nullptr;
      callback();
    }
  }

  void WriteResponse(HttpResponse response) {
    if (state_ != State::kHandling) return;
    state_ = State::kWriting;
    gone_callback_ = nullptr;
    error_code ignored;
    socket().cancel(ignored);  // Ends WatchForClose.

    response_.emplace();
    response_->result(static_cast<unsigned>(response.status));
    response_->version(11);
    for (auto& [name, value] : response.headers) {
      response_->insert(name, value);
    }
    response_->set(bhttp::field::server, "presence_server");
    response_->body() = std::move(response.body);
    response_->keep_alive(keep_alive_ && !core_->draining.load());
    response_->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(
        Chrono(core_->options.write_timeout));
    bhttp::async_write(
        stream_, *response_,
        [self = this->shared_from_this()](error_code ec, size_t) {
          const bool keep = self->response_->keep_alive();
          self->response_.reset();
          if (ec || !keep) return self->Close();
          self->ReadRequest();
        });
  }

  void Close() {
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    gone_callback_ = nullptr;
    error_code ignored;
    socket().shutdown(tcp::socket::shutdown_send, ignored);
    socket().close(ignored);
  }

  // The HttpResponder of one request.
  class ConnectionResponder : public HttpResponder {
   public:
    explicit ConnectionResponder(std::shared_ptr<Connection> connection)
        : connection_(std::move(connection)) {}
    ~ConnectionResponder() override {
      if (!sent_.exchange(true)) connection_->PostAbandon();
    }
    void Send(HttpResponse response) override {
      if (sent_.exchange(true)) return;
      connection_->PostResponse(std::move(response));
    }
    void SendLater(absl::AnyInvocable<HttpResponse()> make) override {
      if (sent_.exchange(true)) return;
      connection_->PostResponseLater(std::move(make));
    }
    void OnClientGone(absl::AnyInvocable<void()> callback) override {
      connection_->PostClientGone(std::move(callback));
    }

   private:
    const std::shared_ptr<Connection> connection_;
    std::atomic<bool> sent_{false};
  };

  ServerCore* const core_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::string_body>> response_;
  State state_ = State::kReading;
  bool parsing_ = false;      // A request started arriving.
  bool keep_alive_ = true;    // The current request allows another.
  bool client_gone_ = false;  // The client closed during kHandling.
  absl::AnyInvocable<void()> gone_callback_;
};

void ServerCore::Accept() {
  acceptor.async_accept(
      asio::make_strand(io), [this](error_code ec, tcp::socket socket) {
        if (!acceptor.is_open() || ec == asio::error::operation_aborted) return;
        if (ec) {
          // Out of file descriptors, most likely: try again shortly rather
          // than spin.
          accept_retry.expires_after(std::chrono::milliseconds(100));
          accept_retry.async_wait([this](error_code wait_ec) {
            if (!wait_ec) Accept();
          });
          return;
        }
        accepted.fetch_add(1);
        error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        if (options.tls != nullptr) {
          // The stream takes its own reference to the context of now; the
          // wrapper gives back the one it was lent.
          std::shared_ptr<SSL_CTX> context = options.tls->Get();
          SSL_CTX_up_ref(context.get());
          asio::ssl::context lent(context.get());
          std::make_shared<Connection<TlsStream>>(
              this, TlsStream(beast::tcp_stream(std::move(socket)), lent))
              ->Start();
        } else {
          std::make_shared<Connection<beast::tcp_stream>>(
              this, beast::tcp_stream(std::move(socket)))
              ->Start();
        }
        Accept();
      });
}

}  // namespace http_internal

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

}  // namespace

HttpServer::HttpServer(const HttpServerOptions& options, HttpHandler* handler)
    : core_(std::make_unique<http_internal::ServerCore>(options, handler)) {}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const HttpServerOptions& options, HttpHandler* handler) {
  const size_t colon = options.address.rfind(':');
  int port = -1;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(options.address.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "http_address: \"", options.address, "\" is not host:port"));
  }
  if (options.threads < 1) {
    return absl::InvalidArgumentError("http threads: must be at least 1");
  }
  std::string host = options.address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[')
    host = host.substr(1, host.size() - 2);

  std::unique_ptr<HttpServer> server(new HttpServer(options, handler));
  http_internal::ServerCore& core = *server->core_;
  boost::system::error_code ec;
  tcp::resolver resolver(core.io);
  auto endpoints =
      resolver.resolve(host, std::to_string(port), tcp::resolver::passive, ec);
  if (ec || endpoints.empty()) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve the HTTP address ", options.address, ": ",
                     ec.message()));
  }
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  core.acceptor.open(endpoint.protocol(), ec);
  if (!ec) core.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) core.acceptor.bind(endpoint, ec);
  if (!ec) core.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", options.address, " (HTTP): ", ec.message()));
  }
  server->port_ = core.acceptor.local_endpoint().port();
  server->address_ =
      absl::StrCat(options.address.substr(0, colon), ":", server->port_);
  core.Accept();
  for (int i = 0; i < options.threads; ++i) {
    server->threads_.emplace_back([&core] { core.io.run(); });
  }
  return server;
}

HttpServer::~HttpServer() {
  Shutdown(absl::Now());
  // Destroying the core destroys the io_context, and with it the pending
  // handlers and the connections they hold.
  core_.reset();
}

size_t HttpServer::connections() const { return core_->Size(); }

uint64_t HttpServer::accepted() const { return core_->accepted.load(); }

void HttpServer::RunEvery(absl::Duration period,
                          absl::AnyInvocable<void()> task) {
  auto timer = std::make_unique<asio::steady_timer>(core_->io);
  asio::steady_timer* raw = timer.get();
  core_->timers.push_back(std::move(timer));
  struct Loop {
    asio::steady_timer* timer;
    std::chrono::steady_clock::duration period;
    std::shared_ptr<absl::AnyInvocable<void()>> task;
    void operator()(boost::system::error_code ec) const {
      if (ec) return;
      (*task)();
      timer->expires_after(period);
      timer->async_wait(*this);
    }
  };
  const auto chrono_period = http_internal::Chrono(period);
  raw->expires_after(chrono_period);
  raw->async_wait(
      Loop{raw, chrono_period,
           std::make_shared<absl::AnyInvocable<void()>>(std::move(task))});
}

void HttpServer::BeginShutdown() {
  http_internal::ServerCore& core = *core_;
  if (core.draining.exchange(true)) return;
  asio::post(core.acceptor.get_executor(), [&core] {
    boost::system::error_code ignored;
    core.acceptor.close(ignored);
    core.accept_retry.cancel();
  });
  for (const auto& connection : core.Live()) connection->Drain();
}

void HttpServer::Shutdown(absl::Time deadline) {
  MutexLock lock(&shutdown_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  BeginShutdown();
  core_->WaitForNoConnections(deadline);
  core_->stopped.store(true);
  core_->work.reset();
  core_->io.stop();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
}

}  // namespace presence
