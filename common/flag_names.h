// Our command lines (docs/operations.md) spell flags with dashes
// (`--data-dir`); Abseil flag names are C++ identifiers (`data_dir`).
// ParseFlagsWithDashes accepts both spellings.
#ifndef COMMON_FLAG_NAMES_H_
#define COMMON_FLAG_NAMES_H_

#include <string>
#include <vector>

namespace tokens {

// Rewrites `--some-flag[=v]` to `--some_flag[=v]` (names only, never values;
// stops at `--`), then runs absl::ParseCommandLine. Returns the positional
// arguments (argv[0] first).
std::vector<std::string> ParseFlagsWithDashes(int argc, char** argv);

}  // namespace tokens

#endif  // COMMON_FLAG_NAMES_H_
