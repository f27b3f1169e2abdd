// tokenctl: the command-line client for Deployment API tokens. Everything but
// the process wiring lives in cli/commands.h; see `tokenctl --help`.
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "cli/commands.h"

int main(int argc, char** argv) {
  tokens::cli::CliContext context;
  context.env = tokens::cli::ProcessEnv();
  context.stdin_is_tty = isatty(STDIN_FILENO) == 1;
  context.now = [] { return absl::Now(); };
  std::vector<std::string> args(argv + 1, argv + argc);
  const int code = tokens::cli::RunTokenctl(args, context);
  std::fflush(stdout);
  return code;
}
