// Command-line flags for presence_cli: a declarative table of flags, a parser
// that checks a command line against it, and the help text it implies.
//
//   const FlagSpec kFlags[] = {
//       {"user-id", FlagType::kString, "", "the user", /*required=*/true},
//       {"channels", FlagType::kList, "", "channels, comma-separated"},
//       {"include-state", FlagType::kBool, "false", "include state"},
//   };
//   absl::StatusOr<ParsedFlags> flags = ParseFlags(kFlags, args);
//   if (!flags.ok()) return Usage(flags.status().message());
//   std::vector<std::string> channels = flags->GetList("channels");
//
// Syntax: `--name=value` or `--name value`; a boolean flag is bare
// (`--include-state`, meaning true) or `--name=true|false`. A list flag is
// comma-separated and may repeat (the values accumulate); any other flag may
// be given once. There are no positional arguments.
//
// Thread safety: ParsedFlags is an immutable value once returned.

#ifndef PRESENCE_CLIENT_CLI_ARGS_H_
#define PRESENCE_CLIENT_CLI_ARGS_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "client/json.h"

namespace presence::cli {

// How a flag's text is parsed and checked.
enum class FlagType {
  kString,
  kBool,        // true|false; bare means true.
  kList,        // Comma-separated; "" is the empty list; repeats accumulate.
  kUint32,      // A decimal number in [0, 2^32).
  kDuration,    // absl duration syntax ("500ms", "10s", "1m30s"); positive.
  kJsonObject,  // JSON text that must denote an object.
};

struct FlagSpec {
  std::string name;  // Without the leading "--".
  FlagType type = FlagType::kString;
  // The value when the flag is not given, as flag text. Empty means no value
  // (except for kString and kList, where it is the empty value); the help
  // shows it as "none".
  std::string default_value;
  std::string help;
  // A required flag must be on the command line.
  bool required = false;
};

// The flags of one command line: every flag of the table, with the value
// given or its default.
class ParsedFlags {
 public:
  // A flag's value: one alternative per FlagType, in its order.
  using Value = std::variant<std::string, bool, std::vector<std::string>,
                             uint32_t, absl::Duration, client::Json>;

  // Whether the flag was on the command line.
  bool Has(const std::string& name) const;

  // Each getter requires a flag of that name and type in the table; anything
  // else is a programming error and aborts. A flag with neither a value nor
  // a default gives "", false, {}, 0, absl::ZeroDuration() or an empty
  // object.
  const std::string& GetString(const std::string& name) const;
  bool GetBool(const std::string& name) const;
  const std::vector<std::string>& GetList(const std::string& name) const;
  uint32_t GetUint32(const std::string& name) const;
  absl::Duration GetDuration(const std::string& name) const;
  const client::Json& GetJson(const std::string& name) const;

 private:
  friend absl::StatusOr<ParsedFlags> ParseFlags(
      absl::Span<const FlagSpec> specs, absl::Span<const std::string> args);

  template <typename T>
  const T& Get(const std::string& name) const;

  std::map<std::string, Value> values_;
  std::map<std::string, bool> given_;
};

// Returns the flags of `args` (the arguments after the command name) checked
// against `specs`, or INVALID_ARGUMENT with a message for the user: an
// unknown flag, a positional argument, a missing or malformed value, a
// repeated non-list flag, or a missing required flag.
absl::StatusOr<ParsedFlags> ParseFlags(absl::Span<const FlagSpec> specs,
                                       absl::Span<const std::string> args);

// Returns the help lines of `specs`, one flag per line:
//   "  --deadline=DURATION     the RPC's deadline (default: 10s)\n"
// Lines are wrapped at kHelpWidth columns.
std::string FormatFlagHelp(absl::Span<const FlagSpec> specs);

// The width of help text.
inline constexpr size_t kHelpWidth = 80;

// Returns `text` (words separated by spaces) for printing from column
// `indent`: breaks lines between words before kHelpWidth columns and starts
// each new line with `indent` spaces. A word longer than a line stays whole.
std::string WrapText(absl::string_view text, size_t indent);

}  // namespace presence::cli

#endif  // PRESENCE_CLIENT_CLI_ARGS_H_
