#include "service/metrics/metrics.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace presence {

namespace {

// Escapes a label value: backslash, double quote and newline.
std::string EscapeLabel(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// The shortest decimal that reads back as `value`.
std::string FormatValue(double value) {
  std::string text;
  for (int precision = 15; precision <= 17; ++precision) {
    text = absl::StrFormat("%.*g", precision, value);
    if (std::strtod(text.c_str(), nullptr) == value) break;
  }
  return text;
}

}  // namespace

void MetricsWriter::Family(absl::string_view name, absl::string_view type,
                           absl::string_view help) {
  absl::StrAppend(&text_, "# HELP ", name, " ", help, "\n# TYPE ", name, " ",
                  type, "\n");
}

void MetricsWriter::Sample(absl::string_view name, const Labels& labels,
                           double value) {
  absl::StrAppend(&text_, name);
  if (!labels.empty()) {
    text_.push_back('{');
    for (size_t i = 0; i < labels.size(); ++i) {
      absl::StrAppend(&text_, i > 0 ? "," : "", labels[i].first, "=\"",
                      EscapeLabel(labels[i].second), "\"");
    }
    text_.push_back('}');
  }
  absl::StrAppend(&text_, " ", FormatValue(value), "\n");
}

void MetricsWriter::HistogramSamples(absl::string_view family,
                                     const Labels& labels,
                                     const std::vector<double>& bounds,
                                     const Histogram::Snapshot& snapshot) {
  const std::string bucket = absl::StrCat(family, "_bucket");
  Labels with_le = labels;
  with_le.emplace_back("le", "");
  for (size_t i = 0; i <= bounds.size(); ++i) {
    with_le.back().second = i < bounds.size() ? FormatValue(bounds[i]) : "+Inf";
    Sample(bucket, with_le, static_cast<double>(snapshot.cumulative[i]));
  }
  Sample(absl::StrCat(family, "_sum"), labels, snapshot.sum);
  Sample(absl::StrCat(family, "_count"), labels,
         static_cast<double>(snapshot.count));
}

void MetricsRegistry::AddCounter(std::string name, std::string help,
                                 std::function<double()> value) {
  MutexLock lock(&mu_);
  metrics_.push_back(
      {std::move(name), std::move(help), "counter", std::move(value), {}});
}

void MetricsRegistry::AddGauge(std::string name, std::string help,
                               std::function<double()> value) {
  MutexLock lock(&mu_);
  metrics_.push_back(
      {std::move(name), std::move(help), "gauge", std::move(value), {}});
}

void MetricsRegistry::AddCollector(
    std::function<void(MetricsWriter&)> collect) {
  MutexLock lock(&mu_);
  metrics_.push_back({"", "", "", nullptr, std::move(collect)});
}

void MetricsRegistry::AddHistogram(std::string name, std::string help,
                                   const Histogram* histogram) {
  AddCollector([name = std::move(name), help = std::move(help),
                histogram](MetricsWriter& out) {
    out.Family(name, "histogram", help);
    out.HistogramSamples(name, {}, histogram->bounds(), histogram->Take());
  });
}

std::string MetricsRegistry::Render() const {
  MutexLock lock(&mu_);
  MetricsWriter out;
  std::string last_family;
  for (const Metric& metric : metrics_) {
    if (metric.collect) {
      metric.collect(out);
      last_family.clear();
      continue;
    }
    // Labelled series of one family share their HELP and TYPE lines.
    const std::string family = metric.name.substr(0, metric.name.find('{'));
    if (family != last_family) {
      out.Family(family, metric.type, metric.help);
      last_family = family;
    }
    absl::StrAppend(&out.text(), metric.name, " ", FormatValue(metric.value()),
                    "\n");
  }
  return std::move(out.text());
}

void EventCounter::OnEvent(const PresenceEvent& event) {
  counts_[static_cast<int>(event.type)].fetch_add(1, std::memory_order_relaxed);
  if (event.type == EventType::kTimeout &&
      event.deadline != absl::InfinitePast()) {
    timeout_lag_.Observe(absl::ToDoubleSeconds(event.time - event.deadline));
  }
}

void EventCounter::OnEventsInterrupted(const absl::Status& status) {
  if (absl::IsDataLoss(status)) {
    stream_gaps_.fetch_add(1, std::memory_order_relaxed);
  } else {
    interruptions_.fetch_add(1, std::memory_order_relaxed);
  }
}

void EventCounter::Register(MetricsRegistry& registry) {
  for (int type = 0; type < kTypes; ++type) {
    registry.AddCounter(
        absl::StrCat("presence_events_total{action=\"",
                     EventTypeName(static_cast<EventType>(type)), "\"}"),
        "Presence events emitted, by action.",
        [this, type] { return static_cast<double>(counts_[type].load()); });
  }
  registry.AddCounter(
      "presence_event_feed_interruptions_total",
      "Times the store's event feed broke (watches were ended).",
      [this] { return static_cast<double>(interruptions_.load()); });
  registry.AddCounter(
      "presence_event_stream_gaps_total",
      "Times this replica fell behind the store's event streams by more "
      "than their capped length and lost events (watches were ended with "
      "DATA_LOSS).",
      [this] { return static_cast<double>(stream_gaps_.load()); });
  registry.AddHistogram(
      "presence_timeout_lag_seconds",
      "Time from a timeout's deadline to its event (timeouts sent one by "
      "one: not those of channels in interval mode).",
      &timeout_lag_);
}

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& address, const MetricsRegistry* registry,
    SslServerContext* tls) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics_address: \"", address, "\" is not host:port"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[')
    host = host.substr(1, host.size() - 2);
  const std::string port = address.substr(colon + 1);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints,
                  &found) != 0 ||
      found == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics_address: cannot resolve \"", address, "\""));
  }
  const int fd = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const bool bound = fd >= 0 &&
                     bind(fd, found->ai_addr, found->ai_addrlen) == 0 &&
                     listen(fd, 16) == 0;
  freeaddrinfo(found);
  if (!bound) {
    if (fd >= 0) close(fd);
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", address, ": ", std::strerror(errno)));
  }
  sockaddr_storage local{};
  socklen_t length = sizeof(local);
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length);
  const int bound_port =
      local.ss_family == AF_INET6
          ? ntohs(reinterpret_cast<sockaddr_in6*>(&local)->sin6_port)
          : ntohs(reinterpret_cast<sockaddr_in*>(&local)->sin_port);
  return std::unique_ptr<MetricsHttpServer>(
      new MetricsHttpServer(fd, bound_port, registry, tls));
}

MetricsHttpServer::MetricsHttpServer(int fd, int port,
                                     const MetricsRegistry* registry,
                                     SslServerContext* tls)
    : fd_(fd), port_(port), registry_(registry), tls_(tls), thread_([this] {
        Serve();
      }) {}

MetricsHttpServer::~MetricsHttpServer() {
  stopping_ = true;
  thread_.join();
  close(fd_);
}

void MetricsHttpServer::Serve() {
  // A client that goes away mid-answer must not kill the process: with
  // SIGPIPE blocked, OpenSSL's write() fails with EPIPE instead.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  while (!stopping_) {
    pollfd listening{fd_, POLLIN, 0};
    if (poll(&listening, 1, 100) <= 0) continue;
    const int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    Answer(client);
    close(client);
  }
}

void MetricsHttpServer::Answer(int client) {
  // One short request per connection; a client gets 1 s to send it (and to
  // finish the TLS handshake).
  timeval timeout{1, 0};
  setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  std::unique_ptr<SSL, void (*)(SSL*)> ssl(nullptr, SSL_free);
  if (tls_ != nullptr) {
    // The connection keeps its own reference to the context.
    ssl.reset(SSL_new(tls_->Get().get()));
    if (ssl == nullptr || SSL_set_fd(ssl.get(), client) != 1 ||
        SSL_accept(ssl.get()) != 1) {
      return;  // Not TLS, or a client certificate that does not verify.
    }
  }
  const auto receive = [&](char* data, size_t size) -> ssize_t {
    if (ssl != nullptr)
      return SSL_read(ssl.get(), data, static_cast<int>(size));
    return recv(client, data, size, 0);
  };
  const auto transmit = [&](const char* data, size_t size) -> ssize_t {
    if (ssl != nullptr) {
      return SSL_write(ssl.get(), data, static_cast<int>(size));
    }
    return send(client, data, size, MSG_NOSIGNAL);
  };
  std::string request;
  char buffer[2048];
  while (request.find("\r\n\r\n") == std::string::npos &&
         request.size() < 8192) {
    const ssize_t n = receive(buffer, sizeof(buffer));
    if (n <= 0) break;
    request.append(buffer, static_cast<size_t>(n));
  }
  const bool metrics = request.rfind("GET /metrics ", 0) == 0 ||
                       request.rfind("GET /metrics?", 0) == 0;
  const std::string body = metrics ? registry_->Render() : "not found\n";
  const std::string response = absl::StrCat(
      metrics ? "HTTP/1.1 200 OK\r\n" : "HTTP/1.1 404 Not Found\r\n",
      "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n",
      "Content-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
  size_t sent = 0;
  while (sent < response.size()) {
    const ssize_t n = transmit(response.data() + sent, response.size() - sent);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  if (ssl != nullptr) SSL_shutdown(ssl.get());
}

}  // namespace presence
