// The libcurl side of webhooks. One WebhookTransport (a curl multi handle)
// runs the requests of every URL at once on one thread without blocking it;
// one WebhookEndpoint per URL (a curl easy handle, which keeps its
// connection open between requests) builds and starts the signed POSTs and
// turns each finished transfer into an AttemptOutcome.
//
//   auto transport = WebhookTransport::Create();  // StatusOr
//   auto endpoint = WebhookEndpoint::Create(transport->get(), url, secret,
//                                           absl::Seconds(5), Clock::Real());
//   (*endpoint)->Start(body);  // `body` must outlive the request.
//   while ((*endpoint)->in_flight()) {
//     (*transport)->Perform();
//     while (auto finished = (*transport)->NextFinished()) {
//       // finished->endpoint == endpoint->get();
//       // finished->outcome.delivered(), .http_status, .description...
//     }
//     (*transport)->Poll(std::chrono::milliseconds(100));
//   }
//
// Each request is
//
//   POST <url>
//   Content-Type: application/json
//   X-Presence-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>
//
//   <body>
//
// signed (webhook_signature.h) at the time Start() is called, so every
// attempt, retries included, carries a fresh timestamp.
//
// Thread-compatible: one thread (the webhook delivery thread) uses the
// transport and its endpoints, except WebhookTransport::Wakeup(), which any
// thread may call at any time.
#ifndef SERVICE_WEBHOOKS_WEBHOOK_TRANSPORT_H_
#define SERVICE_WEBHOOKS_WEBHOOK_TRANSPORT_H_

#include <curl/curl.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "presence/clock.h"
#include "service/webhooks/webhook_attempt_outcome.h"

namespace presence {

class WebhookEndpoint;

// Returns OK if a WebhookEndpoint can POST to `url`: http:// or https://
// (any case), a URL libcurl parses, with a host, and without whitespace or
// control characters. Else InvalidArgument whose message says which rule
// `url` breaks (e.g. "has no host") without quoting it (it may hold
// credentials), ResourceExhausted if libcurl is out of memory, or Internal
// if libcurl cannot be initialized.
absl::Status CheckWebhookUrl(absl::string_view url);

class WebhookTransport {
 public:
  // A request that ended; `endpoint` is no longer in flight.
  struct Finished {
    WebhookEndpoint* endpoint = nullptr;
    AttemptOutcome outcome;
  };

  // Returns OK once libcurl's process-wide state is initialized (the first
  // call does it), or Internal with libcurl's error. Thread-safe. Create()
  // and CheckWebhookUrl() call it.
  static absl::Status GlobalInit();

  // Returns a transport with no request in flight, or the error of
  // GlobalInit(), or ResourceExhausted if libcurl is out of memory.
  static absl::StatusOr<std::unique_ptr<WebhookTransport>> Create();

  // Every endpoint created on the transport must be destroyed first.
  ~WebhookTransport();

  WebhookTransport(const WebhookTransport&) = delete;
  WebhookTransport& operator=(const WebhookTransport&) = delete;

  // Moves every request in flight forward as far as it can without
  // blocking: connects, sends, reads answers.
  void Perform();

  // Returns the next request that Perform() found finished, in the order
  // they finished, or nullopt when there is none left.
  std::optional<Finished> NextFinished();

  // Waits until a request in flight can move forward, Wakeup() is called,
  // or `timeout` passed, whichever is first.
  void Poll(std::chrono::milliseconds timeout);

  // Makes the Poll() in progress, or else the next one, return at once.
  // Thread-safe and non-blocking.
  void Wakeup();

 private:
  friend class WebhookEndpoint;

  explicit WebhookTransport(CURLM* multi) : multi_(multi) {}

  CURLM* const multi_;
};

class WebhookEndpoint {
 public:
  // Returns an endpoint that POSTs to `url` (see CheckWebhookUrl(); other
  // URLs end their requests with a permanent error) through `transport`,
  // signing with `secret` at `clock`'s time and aborting a request after
  // `request_timeout` (connection included; at least 1 ms). `transport` and
  // `clock` must outlive it. Returns ResourceExhausted if libcurl is out of
  // memory.
  static absl::StatusOr<std::unique_ptr<WebhookEndpoint>> Create(
      WebhookTransport* transport, std::string url, std::string secret,
      absl::Duration request_timeout, const Clock* clock);

  // Aborts the request in flight, if any.
  ~WebhookEndpoint();

  WebhookEndpoint(const WebhookEndpoint&) = delete;
  WebhookEndpoint& operator=(const WebhookEndpoint&) = delete;

  // Starts POSTing `body`, signed now; it is sent as the transport's
  // Perform() and Poll() run, and reported by its NextFinished(). `body`
  // must stay alive and unchanged until then, or until Abort(). Requires
  // !in_flight(). Returns nullopt once the request is in flight, or the
  // outcome of a request that could not even start (a transport error:
  // libcurl is out of memory), which leaves the endpoint idle.
  std::optional<AttemptOutcome> Start(absl::string_view body);

  // Cancels the request in flight, if any, without an outcome.
  void Abort();

  // Returns whether a request started and has not finished or been
  // aborted.
  bool in_flight() const { return in_flight_; }

  const std::string& url() const { return url_; }

 private:
  friend class WebhookTransport;

  WebhookEndpoint(WebhookTransport* transport, std::string url,
                  std::string secret, absl::Duration request_timeout,
                  const Clock* clock, CURL* easy);

  // Returns the outcome of the transfer that ended with `result`, which the
  // transport already removed from its multi handle.
  AttemptOutcome Finish(CURLcode result);

  WebhookTransport* const transport_;
  const std::string url_;
  const std::string secret_;
  const Clock* const clock_;
  CURL* const easy_;
  curl_slist* headers_ = nullptr;  // Of the request in flight or last sent.
  char error_[CURL_ERROR_SIZE] = {};
  bool in_flight_ = false;
};

}  // namespace presence

#endif  // SERVICE_WEBHOOKS_WEBHOOK_TRANSPORT_H_
