#include "cli/args.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/exit_codes.h"

namespace tokens::cli {
namespace {

const FlagSpec* FindLong(const CommandSpec& spec, const std::string& name) {
  for (const FlagSpec& flag : spec.flags) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

const FlagSpec* FindShort(const CommandSpec& spec, const std::string& name) {
  for (const FlagSpec& flag : spec.flags) {
    if (!flag.short_name.empty() && flag.short_name == name) return &flag;
  }
  return nullptr;
}

std::string Spelling(const FlagSpec& flag) {
  std::string out = flag.short_name.empty()
                        ? std::string("    ")
                        : absl::StrCat("-", flag.short_name, ", ");
  absl::StrAppend(&out, "--", flag.name);
  if (!flag.value_name.empty()) absl::StrAppend(&out, " ", flag.value_name);
  return out;
}

}  // namespace

std::optional<std::string> ParsedArgs::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<ParsedArgs> ParseArgs(const CommandSpec& spec,
                                     const std::vector<std::string>& args) {
  ParsedArgs parsed;
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (flags_done || arg.size() < 2 || arg[0] != '-') {
      parsed.positional_.push_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      parsed.help_ = true;
      continue;
    }
    const bool is_long = arg[1] == '-';
    std::string name = arg.substr(is_long ? 2 : 1);
    std::optional<std::string> inline_value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name.resize(eq);
    }
    const FlagSpec* flag =
        is_long ? FindLong(spec, name) : FindShort(spec, name);
    const std::string shown = absl::StrCat(is_long ? "--" : "-", name);
    if (flag == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown flag ", shown, " for 'tokenctl ", spec.path, "'"));
    }
    if (flag->value_name.empty()) {
      if (inline_value.has_value()) {
        return absl::InvalidArgumentError(
            absl::StrCat("flag ", shown, " takes no value"));
      }
      parsed.values_[flag->name] = "true";
      continue;
    }
    if (!inline_value.has_value()) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "flag ", shown, " needs a value (", flag->value_name, ")"));
      }
      inline_value = args[++i];
    }
    parsed.values_[flag->name] = *inline_value;
  }
  if (parsed.help_) return parsed;
  for (const FlagSpec& flag : spec.flags) {
    if (flag.required && !parsed.Has(flag.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("missing required flag --", flag.name));
    }
  }
  const size_t n = parsed.positional_.size();
  if (n < spec.min_positional) {
    return absl::InvalidArgumentError(
        absl::StrCat("missing argument ", spec.positional));
  }
  if (n > spec.max_positional) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", parsed.positional_[n - 1], "'"));
  }
  return parsed;
}

std::string HelpText(const CommandSpec& spec) {
  std::string out =
      absl::StrCat(spec.summary, "\n\nUsage: tokenctl ", spec.path);
  for (const FlagSpec& flag : spec.flags) {
    if (flag.required) {
      absl::StrAppend(&out, " --", flag.name, " ", flag.value_name);
    }
  }
  if (!spec.positional.empty()) absl::StrAppend(&out, " ", spec.positional);
  absl::StrAppend(&out, " [flags]\n");
  if (!spec.details.empty()) absl::StrAppend(&out, "\n", spec.details);
  absl::StrAppend(&out, "\nFlags:\n");
  size_t width = 0;
  for (const FlagSpec& flag : spec.flags) {
    width = std::max(width, Spelling(flag).size());
  }
  for (const FlagSpec& flag : spec.flags) {
    absl::StrAppend(
        &out, absl::StrFormat("  %-*s  %s%s\n", width, Spelling(flag),
                              flag.help, flag.required ? " (required)" : ""));
  }
  absl::StrAppend(&out, absl::StrFormat("  %-*s  %s\n", width, "-h, --help",
                                        "show this help"));
  absl::StrAppend(&out, "\n", kExitCodeHelp);
  return out;
}

absl::StatusOr<int64_t> ParseSeconds(const std::string& flag,
                                     const std::string& text) {
  int64_t seconds = 0;
  if (absl::SimpleAtoi(text, &seconds)) {
    if (seconds < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, " must not be negative"));
    }
    return seconds;
  }
  absl::Duration duration;
  if (!absl::ParseDuration(text, &duration)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, " must be a duration such as 1h, 30m or 90s"));
  }
  if (duration < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, " must not be negative"));
  }
  if (duration != absl::Seconds(absl::ToInt64Seconds(duration))) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, " must be a whole number of seconds"));
  }
  return absl::ToInt64Seconds(duration);
}

absl::StatusOr<int64_t> ParseSpanSeconds(const std::string& flag,
                                         const std::string& text) {
  int64_t days = 0;
  if (!text.empty() && text.back() == 'd' &&
      absl::SimpleAtoi(text.substr(0, text.size() - 1), &days)) {
    if (days < 0 || days > 36500) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, " must be 0d to 36500d"));
    }
    return days * 86400;
  }
  absl::StatusOr<int64_t> seconds = ParseSeconds(flag, text);
  if (!seconds.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, " must be a duration such as 7d, 12h or 30m"));
  }
  return seconds;
}

absl::StatusOr<int> ParseInt(const std::string& flag, const std::string& text,
                             int min, int max) {
  int value = 0;
  if (!absl::SimpleAtoi(text, &value) || value < min || value > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, " must be a whole number from ", min, " to ", max));
  }
  return value;
}

}  // namespace tokens::cli
