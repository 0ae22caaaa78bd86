// AttemptOutcome: how one webhook request ended. The transport
// (webhook_transport.h) reports it; the retry policy (webhook_retry_policy.h)
// judges it; the dispatcher logs its description.
//
//   AttemptOutcome ok = AttemptOutcome::Response(204);
//   // ok.delivered(), ok.description == "HTTP 204"
//   AttemptOutcome busy = AttemptOutcome::Response(503, absl::Seconds(2));
//   AttemptOutcome down = AttemptOutcome::TransportError(
//       "Couldn't connect to server: Failed to connect to 127.0.0.1 port 1");
//
// A plain value: thread-compatible.
#ifndef SERVICE_WEBHOOKS_WEBHOOK_ATTEMPT_OUTCOME_H_
#define SERVICE_WEBHOOKS_WEBHOOK_ATTEMPT_OUTCOME_H_

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace presence {

struct AttemptOutcome {
  enum class Kind {
    // The receiver answered with `http_status`.
    kResponse,
    // No answer: name resolution, connection refused or reset, TLS, the
    // request timeout, out of memory. Sending again may work.
    kTransportError,
    // The request cannot be made at all: an unsupported protocol, a
    // malformed URL, a feature libcurl was built without. No retry helps.
    kPermanentError,
  };

  // Returns the outcome of an answer with `status` and the value of its
  // Retry-After header (zero when there was none or it did not parse).
  static AttemptOutcome Response(
      int status, absl::Duration retry_after = absl::ZeroDuration()) {
    AttemptOutcome outcome;
    outcome.kind = Kind::kResponse;
    outcome.http_status = status;
    outcome.retry_after = retry_after;
    outcome.description = absl::StrCat("HTTP ", status);
    return outcome;
  }

  // Returns the outcome of a request that got no answer; `description`
  // says why, for log lines.
  static AttemptOutcome TransportError(std::string description) {
    AttemptOutcome outcome;
    outcome.kind = Kind::kTransportError;
    outcome.description = std::move(description);
    return outcome;
  }

  // Returns the outcome of a request that cannot be made; `description`
  // says why, for log lines.
  static AttemptOutcome PermanentError(std::string description) {
    AttemptOutcome outcome;
    outcome.kind = Kind::kPermanentError;
    outcome.description = std::move(description);
    return outcome;
  }

  // Returns whether the receiver acknowledged the request (a 2xx).
  bool delivered() const {
    return kind == Kind::kResponse && http_status >= 200 && http_status < 300;
  }

  Kind kind = Kind::kResponse;
  int http_status = 0;  // kResponse only.
  // kResponse only: the receiver's Retry-After; zero when it sent none.
  absl::Duration retry_after = absl::ZeroDuration();
  // For log lines: "HTTP <status>", or libcurl's message for an error.
  std::string description;
};

}  // namespace presence

#endif  // SERVICE_WEBHOOKS_WEBHOOK_ATTEMPT_OUTCOME_H_
