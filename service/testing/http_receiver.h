// HttpReceiver: a minimal real HTTP/1.1 server for tests of code that sends
// HTTP requests (webhooks). It listens on 127.0.0.1 on a free port, records
// every request and answers each with a scripted status code.
//
//   auto receiver = HttpReceiver::Start();
//   ASSERT_TRUE(receiver.ok()) << receiver.status();
//   (*receiver)->ScriptResponses({503});  // then 200 for the rest
//   ... point the code under test at (*receiver)->url() ...
//   ASSERT_TRUE((*receiver)->WaitForRequests(2));
//   std::vector<HttpReceiver::Request> got = (*receiver)->requests();
//
// It understands what curl sends: a request line, headers, a Content-Length
// body (no chunked encoding), keep-alive connections and
// "Expect: 100-continue". Answers have no body.
//
// Thread-safe. Requests are served on one thread owned by the receiver.
#ifndef SERVICE_TESTING_HTTP_RECEIVER_H_
#define SERVICE_TESTING_HTTP_RECEIVER_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace presence {

class HttpReceiver {
 public:
  struct Request {
    std::string method;
    std::string path;  // As sent, with any query.
    // In arrival order; names lowercased, values without surrounding spaces.
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    // Returns the value of the first header named `name` (any case), or ""
    // when there is none.
    std::string Header(absl::string_view name) const;
  };

  // Returns a receiver listening on 127.0.0.1 (port chosen by the kernel),
  // or the error of the socket call that failed.
  static absl::StatusOr<std::unique_ptr<HttpReceiver>> Start();

  // Calls Stop().
  ~HttpReceiver();

  HttpReceiver(const HttpReceiver&) = delete;
  HttpReceiver& operator=(const HttpReceiver&) = delete;

  int port() const { return port_; }

  // Returns "http://127.0.0.1:<port><path>".
  std::string url(absl::string_view path = "/hook") const;

  // Answers the next requests with `statuses`, one each, in order (after
  // any statuses still scripted); requests beyond them get 200.
  void ScriptResponses(const std::vector<int>& statuses);

  // While paused, requests are recorded but not answered; Resume() answers
  // the held ones (in order) and the receiver answers at once again.
  void Pause();
  void Resume();

  // Returns whether at least `n` requests arrived within `timeout`.
  bool WaitForRequests(size_t n, absl::Duration timeout = absl::Seconds(30));

  // Returns the requests so far, in arrival order.
  std::vector<Request> requests() const;

  // Stops listening, closes every connection and joins the thread. Requests
  // already recorded stay readable. Idempotent.
  void Stop();

 private:
  struct Connection;

  HttpReceiver(int listen_fd, int port, int wake_read_fd, int wake_write_fd);

  void Run();
  void WakeThread();
  // Parses and answers what `connection` has buffered. Returns false when
  // the connection must be closed.
  bool Serve(Connection& connection);
  // Sends the answers `connection` holds. Returns false when the connection
  // must be closed.
  bool Flush(Connection& connection);

  const int listen_fd_;
  const int port_;
  // A pipe that wakes the thread for Resume() and Stop().
  const int wake_read_fd_;
  const int wake_write_fd_;
  std::thread thread_;
  std::mutex stop_mu_;  // Serializes Stop().

  mutable std::mutex mu_;
  std::condition_variable requests_changed_;
  std::vector<Request> requests_;  // Guarded by mu_.
  std::deque<int> script_;         // Guarded by mu_.
  bool paused_ = false;            // Guarded by mu_.
  bool stopping_ = false;          // Guarded by mu_.
};

}  // namespace presence

#endif  // SERVICE_TESTING_HTTP_RECEIVER_H_
