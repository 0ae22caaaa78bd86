#include "client/cli/args.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace presence::cli {
namespace {

using client::Json;

// The placeholder for a flag's value in help text.
const char* ValueName(FlagType type) {
  switch (type) {
    case FlagType::kString:
      return "STRING";
    case FlagType::kBool:
      return "true|false";
    case FlagType::kList:
      return "A,B,...";
    case FlagType::kUint32:
      return "N";
    case FlagType::kDuration:
      return "DURATION";
    case FlagType::kJsonObject:
      return "JSON";
  }
  return "VALUE";
}

// The value of a flag that has neither a value nor a default.
ParsedFlags::Value EmptyValue(FlagType type) {
  switch (type) {
    case FlagType::kString:
      return std::string();
    case FlagType::kBool:
      return false;
    case FlagType::kList:
      return std::vector<std::string>();
    case FlagType::kUint32:
      return uint32_t{0};
    case FlagType::kDuration:
      return absl::ZeroDuration();
    case FlagType::kJsonObject:
      return Json(Json::Object());
  }
  return std::string();
}

// Returns `text` parsed as the value of `spec`, or INVALID_ARGUMENT naming
// the flag.
absl::StatusOr<ParsedFlags::Value> ParseValue(const FlagSpec& spec,
                                              absl::string_view text) {
  auto error = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", spec.name, "=", text, ": ", why));
  };
  switch (spec.type) {
    case FlagType::kString:
      return std::string(text);
    case FlagType::kBool:
      if (text == "true") return true;
      if (text == "false") return false;
      return error("expected true or false");
    case FlagType::kList:
      if (text.empty()) return std::vector<std::string>();
      // Empty items are kept, so "a,,b" reaches the server and is rejected
      // there by name instead of silently becoming "a,b".
      return std::vector<std::string>(absl::StrSplit(text, ','));
    case FlagType::kUint32: {
      uint32_t value = 0;
      // SimpleAtoi accepts a leading '+', -0 and surrounding whitespace;
      // insist on plain digits.
      if (text.empty() ||
          text.find_first_not_of("0123456789") != absl::string_view::npos ||
          !absl::SimpleAtoi(text, &value)) {
        return error("expected a number from 0 to 4294967295");
      }
      return value;
    }
    case FlagType::kDuration: {
      absl::Duration value;
      if (!absl::ParseDuration(text, &value)) {
        return error("expected a duration such as 500ms, 10s or 1m30s");
      }
      if (value <= absl::ZeroDuration()) return error("must be positive");
      return value;
    }
    case FlagType::kJsonObject: {
      absl::StatusOr<Json> value = Json::Parse(text);
      if (!value.ok()) {
        return error(absl::StrCat("invalid JSON: ", value.status().message()));
      }
      if (!value->is_object()) return error("expected a JSON object");
      return *std::move(value);
    }
  }
  return error("unknown flag type");
}

}  // namespace

bool ParsedFlags::Has(const std::string& name) const {
  auto it = given_.find(name);
  return it != given_.end() && it->second;
}

template <typename T>
const T& ParsedFlags::Get(const std::string& name) const {
  auto it = values_.find(name);
  const T* value = it == values_.end() ? nullptr : std::get_if<T>(&it->second);
  if (value == nullptr) {
    // Only reached when the code asks for a flag its table lacks.
    std::fprintf(stderr, "presence_cli: no flag --%s of the requested type\n",
                 name.c_str());
    std::abort();
  }
  return *value;
}

const std::string& ParsedFlags::GetString(const std::string& name) const {
  return Get<std::string>(name);
}

bool ParsedFlags::GetBool(const std::string& name) const {
  return Get<bool>(name);
}

const std::vector<std::string>& ParsedFlags::GetList(
    const std::string& name) const {
  return Get<std::vector<std::string>>(name);
}

uint32_t ParsedFlags::GetUint32(const std::string& name) const {
  return Get<uint32_t>(name);
}

absl::Duration ParsedFlags::GetDuration(const std::string& name) const {
  return Get<absl::Duration>(name);
}

const Json& ParsedFlags::GetJson(const std::string& name) const {
  return Get<Json>(name);
}

absl::StatusOr<ParsedFlags> ParseFlags(absl::Span<const FlagSpec> specs,
                                       absl::Span<const std::string> args) {
  ParsedFlags flags;
  std::map<std::string, const FlagSpec*> by_name;
  for (const FlagSpec& spec : specs) {
    by_name[spec.name] = &spec;
    flags.given_[spec.name] = false;
    if (spec.default_value.empty()) {
      flags.values_[spec.name] = EmptyValue(spec.type);
      continue;
    }
    absl::StatusOr<ParsedFlags::Value> value =
        ParseValue(spec, spec.default_value);
    if (!value.ok()) {
      return absl::InternalError(
          absl::StrCat("bad default: ", value.status().message()));
    }
    flags.values_[spec.name] = *std::move(value);
  }

  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    if (!absl::ConsumePrefix(&arg, "--") || arg.empty()) {
      std::string hint;
      if (i > 0 && absl::StartsWith(args[i - 1], "--") &&
          !absl::StrContains(args[i - 1], '=')) {
        hint = absl::StrCat(" (a boolean flag takes its value as ", args[i - 1],
                            "=VALUE)");
      }
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument \"", args[i], "\"", hint));
    }
    std::pair<absl::string_view, absl::string_view> name_value =
        absl::StrSplit(arg, absl::MaxSplits('=', 1));
    const std::string name(name_value.first);
    auto spec_it = by_name.find(name);
    if (spec_it == by_name.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
    const FlagSpec& spec = *spec_it->second;
    std::string text;
    if (absl::StrContains(arg, '=')) {
      text = std::string(name_value.second);
    } else if (spec.type == FlagType::kBool) {
      text = "true";
    } else if (i + 1 < args.size() && !absl::StartsWith(args[i + 1], "--")) {
      text = args[++i];
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("flag --", name, " needs a value"));
    }
    absl::StatusOr<ParsedFlags::Value> value = ParseValue(spec, text);
    if (!value.ok()) return value.status();

    bool& given = flags.given_[name];
    ParsedFlags::Value& slot = flags.values_[name];
    if (spec.type == FlagType::kList) {
      auto& list = std::get<std::vector<std::string>>(*value);
      auto& values = std::get<std::vector<std::string>>(slot);
      if (!given) values.clear();  // Drops the default.
      values.insert(values.end(), list.begin(), list.end());
    } else if (given) {
      return absl::InvalidArgumentError(
          absl::StrCat("flag --", name, " is given more than once"));
    } else {
      slot = *std::move(value);
    }
    given = true;
  }

  for (const FlagSpec& spec : specs) {
    if (spec.required && !flags.given_[spec.name]) {
      return absl::InvalidArgumentError(
          absl::StrCat("missing required flag --", spec.name));
    }
  }
  return flags;
}

std::string FormatFlagHelp(absl::Span<const FlagSpec> specs) {
  // Help text starts in this column, or on the next line after a long flag.
  constexpr size_t kHelpColumn = 30;
  std::string out;
  for (const FlagSpec& spec : specs) {
    std::string line = absl::StrCat("  --", spec.name);
    if (spec.type == FlagType::kBool) {
      absl::StrAppend(&line, "[=true|false]");
    } else {
      absl::StrAppend(&line, "=", ValueName(spec.type));
    }
    if (line.size() + 2 > kHelpColumn) {
      absl::StrAppend(&line, "\n");
      line.append(kHelpColumn, ' ');
    } else {
      line.resize(kHelpColumn, ' ');
    }
    std::string help = WrapText(spec.help, kHelpColumn);
    // The suffix is not broken, so a default stays next to its label.
    const std::string suffix =
        spec.required
            ? "(required)"
            : absl::StrCat(
                  "(default: ",
                  spec.default_value.empty() ? "none" : spec.default_value,
                  ")");
    const size_t last_break = help.rfind('\n');
    const size_t column = last_break == std::string::npos
                              ? kHelpColumn + help.size()
                              : help.size() - last_break - 1;
    if (column + 1 + suffix.size() > kHelpWidth) {
      absl::StrAppend(&help, "\n", std::string(kHelpColumn, ' '), suffix);
    } else {
      absl::StrAppend(&help, " ", suffix);
    }
    absl::StrAppend(&out, line, help, "\n");
  }
  return out;
}

std::string WrapText(absl::string_view text, size_t indent) {
  std::string out;
  size_t column = indent;
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    if (column > indent) {
      if (column + 1 + word.size() > kHelpWidth) {
        absl::StrAppend(&out, "\n");
        out.append(indent, ' ');
        column = indent;
      } else {
        out.push_back(' ');
        ++column;
      }
    }
    absl::StrAppend(&out, word);
    column += word.size();
  }
  return out;
}

}  // namespace presence::cli
