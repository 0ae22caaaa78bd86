// Load benchmark of the PubNub HTTP API (service/http): held subscribe
// long-polls and event delivery, each against a baseline measured in the
// same run (the machines are shared and noisy).
//
//   bazel run -c opt //bench/pubnub:pubnub_load
//   bazel run -c opt //bench/pubnub:pubnub_load -- --polls=2000 --rounds=5
//
// 1. Memory: holds --polls concurrent subscribe long-polls on presence_server
//    and reads the server's RSS (/proc/<pid>/status) before and after; then
//    answers them all --memory_rounds times (one presence event every poll
//    is subscribed to) and holds them again, to show the memory stays flat.
//    Baseline: the same number of connections, each with one request held
//    unanswered, against a trivial Boost.Beast server (this binary with
//    --baseline_server, 2 threads), which answers them all on /trigger.
// 2. Latency: --subscribers long-polls on one channel's presence; a join
//    (an HTTP heartbeat) is sent, and the time from sending it to each
//    subscriber's complete answer is recorded, over --rounds rounds (a join
//    and a leave alternate). Baseline: the trivial server answering the same
//    number of held requests on /trigger with a body of the same size. The
//    two servers' rounds alternate, so both see the same background load.
//
// Prints a Markdown table. Raises RLIMIT_NOFILE (soft up to hard); both the
// servers and this client hold one descriptor per connection.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"

ABSL_FLAG(std::string, server, "",
          "Path of presence_server (bazel run passes it)");
ABSL_FLAG(int, polls, 10000, "Concurrent long-polls held for the memory test");
ABSL_FLAG(int, memory_rounds, 5,
          "Times every held poll is answered and held again");
ABSL_FLAG(int, subscribers, 1000, "Subscribers of the latency test");
ABSL_FLAG(int, rounds, 20, "Deliveries measured in the latency test");
ABSL_FLAG(bool, baseline_server, false,
          "Internal: run the trivial baseline server");

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// The body the baseline answers with: about the size of a one-event
// subscribe answer.
const std::string kBaselineBody =
    R"({"t":{"t":"17961686584763206","r":1},"m":[{"a":"2","f":0,"p":{"t":)"
    R"("17961686584763206","r":1},"k":"demo","c":"lat-room-pnpres","d":{)"
    R"("action":"join","uuid":"bench-mover","timestamp":1796168658,)"
    R"("occupancy":1},"b":"lat-room-pnpres"}]})";

// ---------------------------------------------------------------------------
// The baseline: a trivial Beast server that holds every request until
// GET /trigger, which answers them all; GET /count answers how many it holds.

class BaselineServer {
 public:
  explicit BaselineServer(asio::io_context& io)
      : io_(io),
        acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    acceptor_.listen(asio::socket_base::max_listen_connections);
  }
  int port() const { return acceptor_.local_endpoint().port(); }
  void Accept() {
    acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code ec,
                                                          tcp::socket socket) {
      if (!ec) std::make_shared<Session>(this, std::move(socket))->Read();
      Accept();
    });
  }

 private:
  struct Session : std::enable_shared_from_this<Session> {
    Session(BaselineServer* server, tcp::socket socket)
        : server(server), stream(std::move(socket)) {}
    void Read() {
      request = {};
      http::async_read(
          stream, buffer, request,
          [self = shared_from_this()](beast::error_code ec, size_t) {
            if (!ec) self->server->OnRequest(self);
          });
    }
    void Answer(std::string body) {
      asio::post(stream.get_executor(), [self = shared_from_this(),
                                         body = std::move(body)]() mutable {
        auto response = std::make_shared<http::response<http::string_body>>(
            http::status::ok, 11);
        response->set(http::field::content_type, "text/javascript");
        response->body() = std::move(body);
        response->prepare_payload();
        http::async_write(self->stream, *response,
                          [self, response](beast::error_code ec, size_t) {
                            if (!ec) self->Read();
                          });
      });
    }
    BaselineServer* server;
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
  };

  void OnRequest(const std::shared_ptr<Session>& session) {
    const std::string target(session->request.target());
    std::vector<std::shared_ptr<Session>> answer;
    std::string reply;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (target == "/trigger") {
        answer.swap(held_);
        reply = absl::StrCat(answer.size());
      } else if (target == "/count") {
        reply = absl::StrCat(held_.size());
      } else {
        held_.push_back(session);
        return;
      }
    }
    for (const auto& held : answer) held->Answer(kBaselineBody);
    session->Answer(reply);
  }

  asio::io_context& io_;
  tcp::acceptor acceptor_;
  std::mutex mu_;
  std::vector<std::shared_ptr<Session>> held_;
};

int RunBaselineServer() {
  asio::io_context io(2);
  BaselineServer server(io);
  server.Accept();
  std::fprintf(stderr, "baseline listening on 127.0.0.1:%d\n", server.port());
  std::thread other([&io] { io.run(); });
  io.run();
  other.join();
  return 0;
}

// ---------------------------------------------------------------------------
// Child processes.

struct Child {
  pid_t pid = -1;
  std::string log;
};

// The children still running, stopped if this process exits early.
std::vector<pid_t>& Children() {
  static std::vector<pid_t> children;
  return children;
}

void KillChildren() {
  for (pid_t pid : Children()) kill(pid, SIGKILL);
}

// Starts `argv`, reads its stderr until every regex has matched, and returns
// the first group of each.
Child Spawn(const std::vector<std::string>& argv,
            const std::vector<std::regex>& wanted, std::vector<int>& ports) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) std::abort();
  Child child;
  child.pid = fork();
  if (child.pid == 0) {
    dup2(pipe_fds[1], 2);
    close(pipe_fds[0]);
    std::vector<char*> args;
    for (const std::string& arg : argv)
      args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  Children().push_back(child.pid);
  ports.assign(wanted.size(), 0);
  size_t found = 0;
  char chunk[4096];
  while (found < wanted.size()) {
    const ssize_t n = read(pipe_fds[0], chunk, sizeof(chunk));
    if (n <= 0) {
      std::fprintf(stderr, "%s exited:\n%s\n", argv[0].c_str(),
                   child.log.c_str());
      std::exit(1);
    }
    child.log.append(chunk, n);
    found = 0;
    for (size_t i = 0; i < wanted.size(); ++i) {
      std::smatch match;
      if (std::regex_search(child.log, match, wanted[i])) {
        ports[i] = std::stoi(match[1]);
        ++found;
      }
    }
  }
  // Keep draining its stderr so that it never blocks on a full pipe.
  std::thread([fd = pipe_fds[0]] {
    char sink[4096];
    while (read(fd, sink, sizeof(sink)) > 0) {
    }
    close(fd);
  }).detach();
  return child;
}

void Stop(const Child& child) {
  kill(child.pid, SIGTERM);
  int status = 0;
  waitpid(child.pid, &status, 0);
  auto& children = Children();
  children.erase(std::remove(children.begin(), children.end(), child.pid),
                 children.end());
}

// Resident memory of a process, in KiB.
int64_t RssKib(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, "VmRSS:")) {
      int64_t kib = -1;
      (void)absl::SimpleAtoi(
          absl::StripSuffix(absl::StripAsciiWhitespace(rest), " kB"), &kib);
      return kib;
    }
  }
  return -1;
}

// A blocking GET; returns the body.
std::string Get(int port, const std::string& target) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  http::request<http::empty_body> request(http::verb::get, target, 11);
  request.set(http::field::host, "127.0.0.1");
  request.set(http::field::connection, "close");
  http::write(stream, request);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response);
  return response.body();
}

double MetricValue(const std::string& metrics, const std::string& name) {
  const size_t at = metrics.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  double value = 0;
  const size_t start = at + name.size() + 2;
  (void)absl::SimpleAtod(
      metrics.substr(start, metrics.find('\n', start) - start), &value);
  return value;
}

// ---------------------------------------------------------------------------
// The client: many connections on one thread, each repeating a GET whose
// target a callback chooses from the previous answer.

class Pollers {
 public:
  // Returns the next target of connection `i` after `body`, or "" to stop.
  using Next = std::function<std::string(int i, const std::string& body)>;

  Pollers(int port, Next next) : port_(port), next_(std::move(next)) {}

  asio::io_context& io() { return io_; }

  // Opens `targets.size()` connections, each sending its target, with at
  // most 500 connects in flight (the server's accept backlog).
  void Open(const std::vector<std::string>& targets) {
    const size_t first = connections_.size();
    for (size_t i = 0; i < targets.size(); ++i) {
      connections_.push_back(std::make_unique<Connection>(io_));
    }
    std::vector<std::string> pending = targets;
    size_t started = 0;
    std::atomic<size_t> connected{0};
    while (connected < targets.size()) {
      while (started < targets.size() && started - connected < 500) {
        const int index = static_cast<int>(first + started);
        Connection& c = *connections_[index];
        c.socket.async_connect(
            tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_),
            [this, index, target = pending[started],
             &connected](beast::error_code ec) {
              if (ec) {
                std::fprintf(stderr, "connect: %s\n", ec.message().c_str());
                std::exit(1);
              }
              connected.fetch_add(1);
              Send(index, target);
            });
        ++started;
      }
      io_.run_one_for(std::chrono::milliseconds(10));
    }
  }

  // Runs the client until `done()` or `seconds` pass.
  bool RunUntil(const std::function<bool()>& done, double seconds = 120) {
    const auto deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(seconds));
    while (!done()) {
      if (Clock::now() > deadline) return false;
      if (io_.stopped()) io_.restart();
      // A slice of work between checks: `done` may be a request of its own.
      io_.run_for(std::chrono::milliseconds(5));
    }
    return true;
  }

  // Answers received since the start, and when the last ones came.
  size_t answers() const { return answers_; }
  const std::vector<Clock::time_point>& answer_times() const { return times_; }
  void ClearTimes() { times_.clear(); }

  void CloseAll() {
    closing_ = true;
    for (auto& c : connections_) {
      beast::error_code ignored;
      c->socket.set_option(asio::socket_base::linger(true, 0), ignored);
      c->socket.close(ignored);
    }
    io_.poll();
    connections_.clear();
  }

 private:
  struct Connection {
    explicit Connection(asio::io_context& io) : socket(io) {}
    tcp::socket socket;
    beast::flat_buffer buffer;
    std::string request;
    std::optional<http::response_parser<http::string_body>> parser;
  };

  void Send(int index, const std::string& target) {
    Connection& c = *connections_[index];
    c.request =
        absl::StrCat("GET ", target, " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    asio::async_write(c.socket, asio::buffer(c.request),
                      [this, index](beast::error_code ec, size_t) {
                        if (ec) return Failed("write", ec);
                        Read(index);
                      });
  }

  void Read(int index) {
    Connection& c = *connections_[index];
    c.parser.emplace();
    c.parser->body_limit(1 << 20);
    http::async_read(c.socket, c.buffer, *c.parser,
                     [this, index](beast::error_code ec, size_t) {
                       if (ec) return Failed("read", ec);
                       const auto now = Clock::now();
                       ++answers_;
                       times_.push_back(now);
                       Connection& c = *connections_[index];
                       const std::string body = c.parser->get().body();
                       const std::string next = next_(index, body);
                       if (!next.empty()) Send(index, next);
                     });
  }

  void Failed(const char* what, beast::error_code ec) {
    if (closing_) return;
    std::fprintf(stderr, "port %d %s: %s\n", port_, what, ec.message().c_str());
  }

  bool closing_ = false;
  const int port_;
  const Next next_;
  asio::io_context io_{1};
  std::vector<std::unique_ptr<Connection>> connections_;
  size_t answers_ = 0;
  std::vector<Clock::time_point> times_;
};

// Sends one GET on its own connection of `pollers`' io_context, now;
// returns when it was sent (the latency clock starts there).
Clock::time_point Trigger(Pollers& pollers, int port, const std::string& target,
                          std::shared_ptr<tcp::socket>& keep) {
  keep = std::make_shared<tcp::socket>(pollers.io());
  keep->connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  auto request = std::make_shared<std::string>(
      absl::StrCat("GET ", target, " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  const auto start = Clock::now();
  asio::async_write(*keep, asio::buffer(*request),
                    [request](beast::error_code, size_t) {});
  return start;
}

std::string CursorOf(const std::string& body) {
  const size_t at = body.find("\"t\":\"");
  return at == std::string::npos ? "0" : body.substr(at + 5, 17);
}

// A fresh timetoken from /time/0 ("[17961686584763206]").
std::string TimeCursor(int port) {
  const std::string body = Get(port, "/time/0");
  return body.substr(1, body.size() - 2);
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t index =
      std::min(values.size() - 1, static_cast<size_t>(p / 100 * values.size()));
  return values[index];
}

struct MemoryResult {
  int64_t before_kib = 0;
  int64_t held_kib = 0;
  // After each round of answering every poll and holding it again.
  std::vector<int64_t> rounds_kib;
};

struct LatencyResult {
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
  size_t samples = 0;
};

// What differs between the two servers under test.
struct Target {
  pid_t pid;
  int port;
  // Returns how many requests the server holds now.
  std::function<int()> held;
  // The first target of subscriber `i` and the next one after an answer.
  std::function<std::string(int i)> first;
  std::function<std::string(int i, const std::string& body)> next;
  // A request that answers every held one (or, for presence_server, makes
  // an event all of them wait for); `round` alternates join and leave.
  std::function<std::string(int round)> trigger;
};

bool WaitHeld(Pollers& pollers, const Target& target, int n) {
  int held = 0;
  const bool ok = pollers.RunUntil([&] { return (held = target.held()) >= n; });
  if (!ok) std::fprintf(stderr, "holding %d of %d\n", held, n);
  return ok;
}

MemoryResult MeasureMemory(const Target& target, int polls, int rounds) {
  MemoryResult result;
  Pollers pollers(target.port, target.next);
  result.before_kib = RssKib(target.pid);
  std::vector<std::string> firsts;
  for (int i = 0; i < polls; ++i) firsts.push_back(target.first(i));
  pollers.Open(firsts);
  if (!WaitHeld(pollers, target, polls)) {
    std::fprintf(stderr, "the server did not hold %d polls\n", polls);
    std::exit(1);
  }
  result.held_kib = RssKib(target.pid);
  std::shared_ptr<tcp::socket> trigger;
  for (int round = 0; round < rounds; ++round) {
    const size_t answered = pollers.answers();
    Trigger(pollers, target.port, target.trigger(round), trigger);
    pollers.RunUntil([&] { return pollers.answers() >= answered + polls; });
    WaitHeld(pollers, target, polls);
    result.rounds_kib.push_back(RssKib(target.pid));
  }
  pollers.CloseAll();
  return result;
}

LatencyResult Summarize(const std::vector<double>& latencies) {
  LatencyResult result;
  result.samples = latencies.size();
  result.p50_ms = Percentile(latencies, 50);
  result.p99_ms = Percentile(latencies, 99);
  result.max_ms = Percentile(latencies, 100);
  return result;
}

// Measures every target's delivery latency, their rounds interleaved so
// that each sees the same background load of a shared machine.
std::vector<LatencyResult> MeasureLatency(const std::vector<Target>& targets,
                                          int subscribers, int rounds) {
  std::vector<std::unique_ptr<Pollers>> pollers;
  for (const Target& target : targets) {
    pollers.push_back(std::make_unique<Pollers>(target.port, target.next));
    std::vector<std::string> firsts;
    for (int i = 0; i < subscribers; ++i) firsts.push_back(target.first(i));
    pollers.back()->Open(firsts);
  }
  std::vector<std::vector<double>> latencies(targets.size());
  std::shared_ptr<tcp::socket> trigger;
  for (int round = 0; round < rounds + 1; ++round) {
    for (size_t t = 0; t < targets.size(); ++t) {
      Pollers& p = *pollers[t];
      if (!WaitHeld(p, targets[t], subscribers)) {
        std::fprintf(stderr, "the server did not hold %d polls\n", subscribers);
        std::exit(1);
      }
      p.ClearTimes();
      const size_t answered = p.answers();
      const Clock::time_point start =
          Trigger(p, targets[t].port, targets[t].trigger(round), trigger);
      p.RunUntil([&] { return p.answers() >= answered + subscribers; });
      if (round == 0) continue;  // Warm-up.
      for (const Clock::time_point& time : p.answer_times()) {
        latencies[t].push_back(
            std::chrono::duration<double, std::milli>(time - start).count());
      }
    }
  }
  std::vector<LatencyResult> results;
  for (size_t t = 0; t < targets.size(); ++t) {
    pollers[t]->CloseAll();
    results.push_back(Summarize(latencies[t]));
  }
  return results;
}

void RaiseFileLimit() {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
  std::fprintf(stderr, "RLIMIT_NOFILE %llu\n",
               static_cast<unsigned long long>(limit.rlim_cur));
}

int Run() {
  const std::string binary = absl::GetFlag(FLAGS_server);
  if (binary.empty()) {
    std::fprintf(stderr, "--server=PATH_TO_PRESENCE_SERVER is required\n");
    return 2;
  }
  RaiseFileLimit();
  std::atexit(KillChildren);
  // A hang guard: the whole run takes about a minute.
  signal(SIGALRM, [](int) {
    KillChildren();
    _exit(3);
  });
  alarm(600);
  const int polls = absl::GetFlag(FLAGS_polls);
  const int memory_rounds = absl::GetFlag(FLAGS_memory_rounds);
  const int subscribers = absl::GetFlag(FLAGS_subscribers);
  const int rounds = absl::GetFlag(FLAGS_rounds);
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  self[std::max<ssize_t>(n, 0)] = '\0';

  // The baseline server.
  std::vector<int> ports;
  Child baseline = Spawn(
      {self, "--baseline_server"},
      {std::regex("baseline listening on 127\\.0\\.0\\.1:(\\d+)")}, ports);
  const int baseline_port = ports[0];
  Target base;
  base.pid = baseline.pid;
  base.port = baseline_port;
  base.held = [baseline_port] {
    return std::stoi(Get(baseline_port, "/count"));
  };
  base.first = [](int i) { return absl::StrCat("/hold/", i); };
  base.next = [](int i, const std::string&) {
    return absl::StrCat("/hold/", i);
  };
  base.trigger = [](int) { return std::string("/trigger"); };

  // presence_server with the PubNub API.
  Child server = Spawn(
      {binary, "--listen_address=127.0.0.1:0", "--http_address=127.0.0.1:0",
       "--metrics_address=127.0.0.1:0", "--pubnub_long_poll_timeout=280s"},
      {std::regex("PubNub HTTP API on http://127\\.0\\.0\\.1:(\\d+)"),
       std::regex("metrics on http://127\\.0\\.0\\.1:(\\d+)/metrics")},
      ports);
  const int http_port = ports[0];
  std::fprintf(stderr, "baseline on port %d, presence_server on port %d\n",
               baseline_port, http_port);
  const int metrics_port = ports[1];
  const std::string cursor = TimeCursor(http_port);
  Target ours;
  ours.pid = server.pid;
  ours.port = http_port;
  ours.held = [metrics_port] {
    return static_cast<int>(MetricValue(Get(metrics_port, "/metrics"),
                                        "presence_pubnub_held_polls"));
  };
  // Memory: every poll on its own channel's presence and a shared one.
  ours.first = [cursor](int i) {
    return absl::StrCat("/v2/subscribe/demo/mem-", i % 100,
                        "-pnpres,mem-all-pnpres/0?uuid=w", i, "&tt=", cursor,
                        "&tr=1");
  };
  ours.next = [](int i, const std::string& body) {
    return absl::StrCat("/v2/subscribe/demo/mem-", i % 100,
                        "-pnpres,mem-all-pnpres/0?uuid=w", i,
                        "&tt=", CursorOf(body), "&tr=1");
  };
  ours.trigger = [](int round) {
    return round % 2 == 0 ? std::string(
                                "/v2/presence/sub-key/demo/channel/mem-all/"
                                "heartbeat?uuid=bench-mover&heartbeat=300")
                          : std::string(
                                "/v2/presence/sub-key/demo/channel/mem-all/"
                                "leave?uuid=bench-mover");
  };

  const MemoryResult base_memory = MeasureMemory(base, polls, memory_rounds);
  const MemoryResult our_memory = MeasureMemory(ours, polls, memory_rounds);

  // Latency: every subscriber on one channel's presence.
  const std::string latency_cursor = TimeCursor(http_port);
  ours.first = [latency_cursor](int i) {
    return absl::StrCat("/v2/subscribe/demo/lat-room-pnpres/0?uuid=s", i,
                        "&tt=", latency_cursor, "&tr=1");
  };
  ours.next = [](int i, const std::string& body) {
    return absl::StrCat("/v2/subscribe/demo/lat-room-pnpres/0?uuid=s", i,
                        "&tt=", CursorOf(body), "&tr=1");
  };
  ours.trigger = [](int round) {
    return round % 2 == 0 ? std::string(
                                "/v2/presence/sub-key/demo/channel/lat-room/"
                                "heartbeat?uuid=bench-mover&heartbeat=300")
                          : std::string(
                                "/v2/presence/sub-key/demo/channel/lat-room/"
                                "leave?uuid=bench-mover");
  };
  const std::vector<LatencyResult> latency =
      MeasureLatency({ours, base}, subscribers, rounds);
  const LatencyResult& our_latency = latency[0];
  const LatencyResult& base_latency = latency[1];

  Stop(server);
  Stop(baseline);

  const auto mib = [](int64_t kib) {
    return absl::StrFormat("%.1f", kib / 1024.0);
  };
  const auto per = [polls](const MemoryResult& m) {
    return absl::StrFormat(
        "%.2f", static_cast<double>(m.held_kib - m.before_kib) / polls);
  };
  std::printf(
      "\n| %d held long-polls | presence_server (PubNub API) | baseline "
      "(trivial Beast server) |\n",
      polls);
  std::printf("|---|---|---|\n");
  std::printf("| RSS before (MiB) | %s | %s |\n",
              mib(our_memory.before_kib).c_str(),
              mib(base_memory.before_kib).c_str());
  std::printf("| RSS holding them (MiB) | %s | %s |\n",
              mib(our_memory.held_kib).c_str(),
              mib(base_memory.held_kib).c_str());
  std::printf("| KiB per held poll | %s | %s |\n", per(our_memory).c_str(),
              per(base_memory).c_str());
  for (int round = 0; round < memory_rounds; ++round) {
    std::printf(
        "| RSS after answering all and holding them again, round %d (MiB) | %s "
        "| %s |\n",
        round + 1, mib(our_memory.rounds_kib[round]).c_str(),
        mib(base_memory.rounds_kib[round]).c_str());
  }
  std::printf(
      "\n| Delivery to %d subscribers of one channel, %zu samples | "
      "presence_server (PubNub API) | baseline (trivial Beast server) |\n",
      subscribers, our_latency.samples);
  std::printf("|---|---|---|\n");
  std::printf("| p50 (ms) | %.2f | %.2f |\n", our_latency.p50_ms,
              base_latency.p50_ms);
  std::printf("| p99 (ms) | %.2f | %.2f |\n", our_latency.p99_ms,
              base_latency.p99_ms);
  std::printf("| max (ms) | %.2f | %.2f |\n", our_latency.max_ms,
              base_latency.max_ms);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  if (absl::GetFlag(FLAGS_baseline_server)) return RunBaselineServer();
  return Run();
}
