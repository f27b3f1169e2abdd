// tokenctl's exit codes and the one mapping from a status code to them.
// Scripts depend on these numbers; every command's --help lists them.
#ifndef CLI_EXIT_CODES_H_
#define CLI_EXIT_CODES_H_

#include "absl/status/status.h"

namespace tokens::cli {

inline constexpr int kExitOk = 0;
// The verifier denied the check, the token does not exist, the caller may not
// do this, or the user did not confirm a deletion.
inline constexpr int kExitDenied = 1;
// The command line is wrong (unknown subcommand or flag, missing or bad
// value), or the server rejected an argument (INVALID_ARGUMENT).
inline constexpr int kExitUsage = 2;
// The server cannot be reached or did not answer in time, or a credential is
// missing, unreadable, malformed or rejected.
inline constexpr int kExitUnavailable = 3;

// The exit code for a failed command, by the status code it failed with.
inline int ExitCodeFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return kExitUsage;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kDeadlineExceeded:
      return kExitUnavailable;
    default:  // NOT_FOUND, PERMISSION_DENIED, and anything else the server
              // refuses.
      return kExitDenied;
  }
}

// The table printed at the end of every --help.
inline constexpr char kExitCodeHelp[] =
    "Exit codes:\n"
    "  0  success (check: the operation is allowed)\n"
    "  1  denied (check), not found, permission denied, or deletion not "
    "confirmed\n"
    "  2  usage error: unknown subcommand or flag, missing or bad value, or "
    "the\n"
    "     server rejected an argument (INVALID_ARGUMENT)\n"
    "  3  server unreachable or too slow (UNAVAILABLE, DEADLINE_EXCEEDED), or "
    "a\n"
    "     credential missing, malformed or rejected (UNAUTHENTICATED)\n";

}  // namespace tokens::cli

#endif  // CLI_EXIT_CODES_H_
