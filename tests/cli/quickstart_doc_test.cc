// docs/quickstart.md stays true: every command in its ```sh / ```bash blocks
// is run, in order and exactly as written, in one bash process (set -e) from a
// directory laid out like the repository root after `make run`
// (bazel-bin/cli/tokenctl), against real servers that the environment points
// at, and the key outputs are checked.
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/file_util.h"
#include "common/token_value.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cli/cli_servers.h"

namespace tokens::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The lines of every ```sh or ```bash block, in order.
std::vector<std::string> ShellCommands(const std::string& markdown) {
  std::vector<std::string> commands;
  bool in_shell = false;
  bool in_other = false;
  for (absl::string_view line : absl::StrSplit(markdown, '\n')) {
    absl::string_view trimmed = absl::StripAsciiWhitespace(line);
    if (absl::StartsWith(trimmed, "```")) {
      if (in_shell || in_other) {
        in_shell = in_other = false;
      } else if (trimmed == "```sh" || trimmed == "```bash") {
        in_shell = true;
      } else {
        in_other = true;
      }
      continue;
    }
    if (in_shell && !trimmed.empty()) commands.emplace_back(line);
  }
  return commands;
}

size_t Count(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

TEST(QuickstartDocTest, EveryCommandRunsAsWritten) {
  auto servers = CliServers::Start();
  ASSERT_TRUE(servers.ok()) << servers.status();
  auto markdown = ReadFile(RunfilePath("docs/quickstart.md"));
  ASSERT_TRUE(markdown.ok()) << markdown.status();
  const std::vector<std::string> commands = ShellCommands(*markdown);
  ASSERT_GE(commands.size(), 10u);

  // A stand-in for the repository root: bazel-bin/cli/tokenctl, no ./var.
  const std::string root = NewTempDir("repo-root");
  ASSERT_EQ(system(absl::StrCat("mkdir -p '", root, "/bazel-bin/cli'").c_str()),
            0);
  ASSERT_EQ(symlink(TokenctlPath().c_str(),
                    absl::StrCat(root, "/bazel-bin/cli/tokenctl").c_str()),
            0);

  std::string script = absl::StrCat("set -e\ncd '", root, "'\n");
  for (const std::string& command : commands) {
    absl::StrAppend(&script, command, "\n");
  }
  CommandResult result =
      RunCommand({"/bin/bash", "-c", script}, (*servers)->Env());
  const std::string shown = absl::StrCat("script:\n", script, "\nstdout:\n",
                                         result.out, "\nstderr:\n", result.err);
  ASSERT_EQ(result.exit_code, 0) << shown;

  // tokenctl --help
  EXPECT_THAT(result.out, HasSubstr("Exit codes:")) << shown;
  // The list shows the token, never its value.
  EXPECT_THAT(result.out, HasSubstr("ci-deploy")) << shown;
  EXPECT_THAT(result.out, HasSubstr("(in 30 days)")) << shown;
  // The scan finds the value written to a file, live, by its hint.
  EXPECT_THAT(result.out, HasSubstr("leaked.yaml:1:17: dpt_")) << shown;
  EXPECT_THAT(result.out, HasSubstr(" live: token tok_")) << shown;
  EXPECT_THAT(result.out, HasSubstr("exit 1 (found, as expected)")) << shown;
  // Allowed before and after the rotation.
  EXPECT_EQ(Count(result.out, "allowed: ALLOWED"), 2u) << shown;
  // Denied where the doc says so, each with exit code 1.
  EXPECT_THAT(result.out, HasSubstr("denied: OPERATION_NOT_PERMITTED"))
      << shown;
  EXPECT_THAT(result.out, HasSubstr("denied: WRONG_DEPLOYMENT")) << shown;
  // The rotated-away value and the deleted token's value are remembered.
  EXPECT_EQ(Count(result.out, "denied: REVOKED_TOKEN"), 2u) << shown;
  EXPECT_EQ(Count(result.out, "exit 1 (denied, as expected)"), 2u) << shown;
  EXPECT_THAT(result.out, HasSubstr("exit 1 (old value denied, as expected)"))
      << shown;
  EXPECT_THAT(result.out, HasSubstr("exit 1 (deleted, as expected)")) << shown;
  EXPECT_THAT(result.out, Not(HasSubstr("exit 2"))) << shown;
  EXPECT_THAT(result.out, Not(HasSubstr("exit 3"))) << shown;
  // Rename, audit, delete, JSON.
  EXPECT_THAT(result.out, HasSubstr("ci-deploy-main")) << shown;
  // The rotated token expires within 30 days: the --expiring-within list
  // shows it (after the rename).
  EXPECT_GE(Count(result.out, "ci-deploy-main"), 2u) << shown;
  EXPECT_THAT(result.out, HasSubstr("token.rotate")) << shown;
  EXPECT_THAT(result.out, HasSubstr("Deleted token tok_")) << shown;
  EXPECT_THAT(result.out, HasSubstr("\"deployment_id\": \"my-deployment\""))
      << shown;
  // No warnings or errors on the way.
  EXPECT_THAT(result.err, Not(HasSubstr("tokenctl:"))) << shown;
  // Values are captured into variables, never printed (hints are).
  for (absl::string_view word :
       absl::StrSplit(result.out, absl::ByAnyChar(" \n\"\t"))) {
    EXPECT_FALSE(IsWellFormedTokenValue(std::string(word)))
        << "a value was printed";
  }
}

}  // namespace
}  // namespace tokens::testing
