// Minimal structured-enough logging for the server binary: one line per
// event on stderr, "2026-11-27T17:01:21.123Z INFO message".
#ifndef SERVICE_LOGGING_LOGGING_H_
#define SERVICE_LOGGING_LOGGING_H_

#include "absl/strings/string_view.h"

namespace presence {

void LogInfo(absl::string_view message);
void LogWarning(absl::string_view message);
void LogError(absl::string_view message);

}  // namespace presence

#endif  // SERVICE_LOGGING_LOGGING_H_
