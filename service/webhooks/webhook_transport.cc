#include "service/webhooks/webhook_transport.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "service/webhooks/webhook_signature.h"

namespace presence {
namespace {

size_t DiscardBody(char* /*data*/, size_t size, size_t count, void* /*arg*/) {
  return size * count;
}

// Transport errors that no retry can fix.
bool IsPermanent(CURLcode code) {
  return code == CURLE_UNSUPPORTED_PROTOCOL || code == CURLE_URL_MALFORMAT ||
         code == CURLE_NOT_BUILT_IN;
}

}  // namespace

absl::Status CheckWebhookUrl(absl::string_view url) {
  if (absl::Status status = WebhookTransport::GlobalInit(); !status.ok()) {
    return status;
  }
  if (!absl::StartsWithIgnoreCase(url, "http://") &&
      !absl::StartsWithIgnoreCase(url, "https://")) {
    return absl::InvalidArgumentError("must start with http:// or https://");
  }
  for (char c : url) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c)) ||
        absl::ascii_iscntrl(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(
          "contains whitespace or a control character");
    }
  }
  CURLU* parsed = curl_url();
  if (parsed == nullptr) return absl::ResourceExhaustedError("curl_url()");
  const CURLUcode code =
      curl_url_set(parsed, CURLUPART_URL, std::string(url).c_str(), 0);
  char* host = nullptr;
  const bool has_host =
      code == CURLUE_OK &&
      curl_url_get(parsed, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
      host != nullptr && host[0] != '\0';
  curl_free(host);
  curl_url_cleanup(parsed);
  if (code != CURLUE_OK) {
    return absl::InvalidArgumentError(
        absl::StrCat("is not a valid URL (", curl_url_strerror(code), ")"));
  }
  if (!has_host) return absl::InvalidArgumentError("has no host");
  return absl::OkStatus();
}

absl::Status WebhookTransport::GlobalInit() {
  // Thread-safe since curl 7.84; once is enough for the process.
  static const CURLcode global_init = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (global_init != CURLE_OK) {
    return absl::InternalError(
        absl::StrCat("curl_global_init: ", curl_easy_strerror(global_init)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<WebhookTransport>> WebhookTransport::Create() {
  if (absl::Status status = GlobalInit(); !status.ok()) return status;
  CURLM* multi = curl_multi_init();
  if (multi == nullptr) return absl::ResourceExhaustedError("curl_multi_init");
  return std::unique_ptr<WebhookTransport>(new WebhookTransport(multi));
}

WebhookTransport::~WebhookTransport() { curl_multi_cleanup(multi_); }

void WebhookTransport::Perform() {
  int running = 0;
  curl_multi_perform(multi_, &running);
}

std::optional<WebhookTransport::Finished> WebhookTransport::NextFinished() {
  int left = 0;
  while (CURLMsg* message = curl_multi_info_read(multi_, &left)) {
    if (message->msg != CURLMSG_DONE) continue;
    CURL* easy = message->easy_handle;
    const CURLcode result = message->data.result;
    char* endpoint = nullptr;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &endpoint);
    // `message` is invalid from here on.
    curl_multi_remove_handle(multi_, easy);
    Finished finished;
    finished.endpoint = reinterpret_cast<WebhookEndpoint*>(endpoint);
    finished.outcome = finished.endpoint->Finish(result);
    return finished;
  }
  return std::nullopt;
}

void WebhookTransport::Poll(std::chrono::milliseconds timeout) {
  curl_multi_poll(multi_, nullptr, 0,
                  static_cast<int>(std::max<int64_t>(timeout.count(), 0)),
                  nullptr);
}

void WebhookTransport::Wakeup() {
  // A non-blocking write to a socketpair that curl_multi_poll() watches.
  curl_multi_wakeup(multi_);
}

absl::StatusOr<std::unique_ptr<WebhookEndpoint>> WebhookEndpoint::Create(
    WebhookTransport* transport, std::string url, std::string secret,
    absl::Duration request_timeout, const Clock* clock) {
  CURL* easy = curl_easy_init();
  if (easy == nullptr) return absl::ResourceExhaustedError("curl_easy_init");
  return std::unique_ptr<WebhookEndpoint>(
      new WebhookEndpoint(transport, std::move(url), std::move(secret),
                          request_timeout, clock, easy));
}

// Configures the easy handle that every request to this URL reuses (which
// also reuses its connection).
WebhookEndpoint::WebhookEndpoint(WebhookTransport* transport, std::string url,
                                 std::string secret,
                                 absl::Duration request_timeout,
                                 const Clock* clock, CURL* easy)
    : transport_(transport),
      url_(std::move(url)),
      secret_(std::move(secret)),
      clock_(clock),
      easy_(easy) {
  curl_easy_setopt(easy_, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(easy_, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy_, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(
                       std::max(request_timeout, absl::Milliseconds(1)))));
  curl_easy_setopt(easy_, CURLOPT_USERAGENT, "presence-webhook/1");
  curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &DiscardBody);
  curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, error_);
  curl_easy_setopt(easy_, CURLOPT_PRIVATE, this);
}

WebhookEndpoint::~WebhookEndpoint() {
  Abort();
  curl_easy_cleanup(easy_);
  curl_slist_free_all(headers_);
}

std::optional<AttemptOutcome> WebhookEndpoint::Start(absl::string_view body) {
  curl_slist_free_all(headers_);
  headers_ = nullptr;
  const int64_t unix_seconds = absl::ToUnixSeconds(clock_->Now());
  for (const std::string& header :
       {std::string("Content-Type: application/json"),
        absl::StrCat(kWebhookSignatureHeader, ": ",
                     SignWebhook(secret_, unix_seconds, body)),
        // No "Expect: 100-continue" round trip for large batches.
        std::string("Expect:")}) {
    curl_slist* appended = curl_slist_append(headers_, header.c_str());
    if (appended == nullptr) {  // Out of memory.
      curl_slist_free_all(headers_);
      headers_ = nullptr;
      break;
    }
    headers_ = appended;
  }
  curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, headers_);
  curl_easy_setopt(easy_, CURLOPT_POSTFIELDS, body.empty() ? "" : body.data());
  curl_easy_setopt(easy_, CURLOPT_POSTFIELDSIZE_LARGE,
                   static_cast<curl_off_t>(body.size()));
  error_[0] = '\0';
  if (headers_ == nullptr ||
      curl_multi_add_handle(transport_->multi_, easy_) != CURLM_OK) {
    // Out of memory: an attempt that failed, so that the caller backs off.
    return Finish(CURLE_OUT_OF_MEMORY);
  }
  in_flight_ = true;
  return std::nullopt;
}

void WebhookEndpoint::Abort() {
  if (!in_flight_) return;
  curl_multi_remove_handle(transport_->multi_, easy_);
  in_flight_ = false;
}

AttemptOutcome WebhookEndpoint::Finish(CURLcode result) {
  in_flight_ = false;
  if (result == CURLE_OK) {
    long status = 0;
    curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &status);
    curl_off_t retry_after = 0;
    const bool has_retry_after = curl_easy_getinfo(easy_, CURLINFO_RETRY_AFTER,
                                                   &retry_after) == CURLE_OK &&
                                 retry_after > 0;
    return AttemptOutcome::Response(
        static_cast<int>(status),
        has_retry_after ? absl::Seconds(retry_after) : absl::ZeroDuration());
  }
  std::string description =
      absl::StrCat(curl_easy_strerror(result),
                   error_[0] != '\0' ? absl::StrCat(": ", error_) : "");
  return IsPermanent(result)
             ? AttemptOutcome::PermanentError(std::move(description))
             : AttemptOutcome::TransportError(std::move(description));
}

}  // namespace presence
