#include "service/logging/protobuf_log.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "google/protobuf/stubs/logging.h"
#include "presence/base/mutex.h"
#include "service/logging/log_throttle.h"
#include "service/logging/logging.h"

namespace presence {
namespace {

struct Router {
  std::atomic<uint64_t> lines{0};
  Mutex mu;
  std::unique_ptr<LogThrottle> throttle ABSL_GUARDED_BY(mu);
};

Router& TheRouter() {
  static Router* const router = new Router();
  return *router;
}

void Handle(google::protobuf::LogLevel level, const char* filename, int line,
            const std::string& message) {
  Router& router = TheRouter();
  router.lines.fetch_add(1, std::memory_order_relaxed);
  const std::string where = absl::StrCat(filename, ":", line);
  uint64_t held_back = 0;
  {
    MutexLock lock(&router.mu);
    if (!router.throttle->Allow(where, std::chrono::steady_clock::now())) {
      router.throttle->HoldBack(where);
      return;
    }
    held_back = router.throttle->TakeHeldBack(where);
  }
  const std::string text = absl::StrCat("libprotobuf: ", message);
  std::initializer_list<LogField> fields = {
      {"source", where}, {"held_back", absl::StrCat(held_back)}};
  if (level == google::protobuf::LOGLEVEL_INFO) {
    LogInfo(text, fields);
  } else if (level == google::protobuf::LOGLEVEL_WARNING) {
    LogWarning(text, fields);
  } else {
    LogError(text, fields);
  }
}

}  // namespace

void RouteProtobufLogs(absl::Duration interval) {
  Router& router = TheRouter();
  {
    MutexLock lock(&router.mu);
    router.throttle = std::make_unique<LogThrottle>(
        std::chrono::duration_cast<LogThrottle::Duration>(
            absl::ToChronoNanoseconds(interval)));
  }
  google::protobuf::SetLogHandler(&Handle);
}

uint64_t ProtobufLogLines() {
  return TheRouter().lines.load(std::memory_order_relaxed);
}

}  // namespace presence
