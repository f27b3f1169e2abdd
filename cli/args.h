// A small command-line parser for tokenctl's subcommands. Each subcommand
// declares its flags in a CommandSpec; ParseArgs accepts exactly those (as
// `--name value`, `--name=value`, or `-x value` for a short alias), collects
// positional arguments, and reports anything else as InvalidArgument so the
// caller can exit 2. HelpText renders the same spec as `--help`.
//
// Hand-written rather than absl flags because absl flags are process-global,
// while each subcommand has its own flag set and its own --help. Thread-safe
// (no state).
#ifndef CLI_ARGS_H_
#define CLI_ARGS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tokens::cli {

struct FlagSpec {
  std::string name;        // long name without dashes: "deployment"
  std::string short_name;  // single letter without dash ("o"), or empty
  std::string value_name;  // "ID", "N"...; empty = a boolean switch
  std::string help;
  bool required = false;
};

struct CommandSpec {
  std::string path;        // "token create"
  std::string positional;  // usage text of positional arguments: "ID"
  size_t min_positional = 0;
  size_t max_positional = 0;
  std::string summary;  // one line
  std::string details;  // optional paragraphs after the usage line
  std::vector<FlagSpec> flags;
};

class ParsedArgs {
 public:
  // The value of a flag that was given (the last one wins), else nullopt.
  std::optional<std::string> Get(const std::string& name) const;
  // True when a switch or valued flag was given.
  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  const std::vector<std::string>& positional() const { return positional_; }
  bool help() const { return help_; }

 private:
  friend absl::StatusOr<ParsedArgs> ParseArgs(
      const CommandSpec& spec, const std::vector<std::string>& args);
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
  bool help_ = false;
};

// Parses `args` (the words after the subcommand). `-h`/`--help` anywhere sets
// help() and skips the checks for required flags and positional counts.
// InvalidArgument (naming the flag) for an unknown flag, a flag without its
// value, a value given to a switch, a missing required flag, or the wrong
// number of positional arguments. `--` ends the flags.
absl::StatusOr<ParsedArgs> ParseArgs(const CommandSpec& spec,
                                     const std::vector<std::string>& args);

// `--help` text: summary, usage, details, flags and the exit-code table.
std::string HelpText(const CommandSpec& spec);

// A duration such as "1h", "90m", "30s" or "1h30m" (absl syntax), or a bare
// whole number of seconds. InvalidArgument naming `flag` when it is not one,
// is negative, or is not a whole number of seconds.
absl::StatusOr<int64_t> ParseSeconds(const std::string& flag,
                                     const std::string& text);

// ParseSeconds's syntax plus whole days ("7d", "30d"), for spans of days
// such as --expiring-within.
absl::StatusOr<int64_t> ParseSpanSeconds(const std::string& flag,
                                         const std::string& text);

// A whole number in [min, max]. InvalidArgument naming `flag` otherwise.
absl::StatusOr<int> ParseInt(const std::string& flag, const std::string& text,
                             int min, int max);

}  // namespace tokens::cli

#endif  // CLI_ARGS_H_
