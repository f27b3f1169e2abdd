// tokenctl end to end: the built binary as a subprocess against a real
// TokenService and verifier sidecar.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/token_value.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cli/cli_servers.h"

namespace tokens::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class TokenctlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto started = CliServers::Start();
    ASSERT_TRUE(started.ok()) << started.status();
    servers_ = started->release();
  }
  static void TearDownTestSuite() {
    delete servers_;
    servers_ = nullptr;
  }

  void SetUp() override { ASSERT_NE(servers_, nullptr); }

  CommandResult Run(const std::vector<std::string>& args,
                    const std::vector<std::string>& extra_env = {},
                    const std::string& stdin_text = "") {
    return servers_->Tokenctl(args, extra_env, stdin_text);
  }

  // Polls `tokenctl check` until its exit code is `exit_code`; returns the
  // last result. The verifier learns of changes through the feed, within
  // 100 ms.
  CommandResult CheckUntil(int exit_code, const std::string& value,
                           const std::string& deployment,
                           const std::string& operation) {
    CommandResult result;
    WaitFor(
        [&] {
          result = servers_->Check(value, deployment, operation);
          return result.exit_code == exit_code;
        },
        absl::Seconds(10));
    return result;
  }

  static size_t Lines(const std::string& text) {
    return std::count(text.begin(), text.end(), '\n');
  }

  static CliServers* servers_;
};

CliServers* TokenctlTest::servers_ = nullptr;

TEST_F(TokenctlTest, EveryCommandHasHelpWithExitCodes) {
  const std::vector<std::vector<std::string>> commands = {
      {"--help"},
      {"token", "--help"},
      {"token", "create", "--help"},
      {"token", "list", "--help"},
      {"token", "get", "--help"},
      {"token", "update", "--help"},
      {"token", "rotate", "--help"},
      {"token", "delete", "--help"},
      {"check", "--help"},
      {"audit", "-h"}};
  for (const auto& command : commands) {
    CommandResult result = Run(command);
    EXPECT_EQ(result.exit_code, 0) << absl::StrJoin(command, " ");
    EXPECT_THAT(result.out, HasSubstr("Exit codes:"))
        << absl::StrJoin(command, " ");
    EXPECT_THAT(result.out, HasSubstr("  3  ")) << absl::StrJoin(command, " ");
  }
  EXPECT_THAT(Run({"token", "rotate", "--help"}).out,
              HasSubstr("--grace-period DURATION"));
  EXPECT_THAT(Run({"token", "delete", "--help"}).out, HasSubstr("--yes"));
}

TEST_F(TokenctlTest, UnknownCommandOrFlagIsAUsageErrorExitTwo) {
  CommandResult none = Run({});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.err, HasSubstr("Usage: tokenctl"));

  CommandResult command = Run({"token", "frobnicate"});
  EXPECT_EQ(command.exit_code, 2);
  EXPECT_THAT(command.err, HasSubstr("unknown command 'token frobnicate'"));
  EXPECT_THAT(command.err, HasSubstr("--help"));

  CommandResult top = Run({"tokens"});
  EXPECT_EQ(top.exit_code, 2);

  CommandResult flag =
      Run({"token", "list", "--deployment", "d", "--colour", "red"});
  EXPECT_EQ(flag.exit_code, 2);
  EXPECT_THAT(flag.err, HasSubstr("unknown flag --colour"));

  CommandResult output = Run({"token", "list", "--deployment", "d", "-o", "x"});
  EXPECT_EQ(output.exit_code, 2);
  EXPECT_THAT(output.err, HasSubstr("-o must be one of"));
}

TEST_F(TokenctlTest, MissingRequiredFlagIsNamed) {
  CommandResult result = Run({"token", "create", "--name", "ci"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("missing required flag --deployment"));

  CommandResult check = Run({"check", "--deployment", "d"});
  EXPECT_EQ(check.exit_code, 2);
  EXPECT_THAT(check.err, HasSubstr("missing required flag --operation"));

  CommandResult get = Run({"token", "get"});
  EXPECT_EQ(get.exit_code, 2);
  EXPECT_THAT(get.err, HasSubstr("missing argument ID"));
}

TEST_F(TokenctlTest, UnreachableServerIsOneLineNamingTheAddressExitThree) {
  CommandResult service = Run({"token", "list", "--deployment", "d"},
                              {"TOKENS_SERVICE_ADDR=127.0.0.1:1"});
  EXPECT_EQ(service.exit_code, 3);
  EXPECT_THAT(service.err, HasSubstr("127.0.0.1:1"));
  EXPECT_EQ(Lines(service.err), 1u) << service.err;

  CommandResult verifier =
      Run({"check", "--deployment", "d", "--operation", "deployment.get",
           "--verifier", "127.0.0.1:1"},
          {absl::StrCat("ASTRO_API_TOKEN=", *GenerateTokenValue())});
  EXPECT_EQ(verifier.exit_code, 3);
  EXPECT_THAT(verifier.err, HasSubstr("127.0.0.1:1"));
  EXPECT_EQ(Lines(verifier.err), 1u) << verifier.err;
}

TEST_F(TokenctlTest, UnknownTokenIdIsNotFoundExitOne) {
  CommandResult get = Run({"token", "get", "tok_doesnotexist"});
  EXPECT_EQ(get.exit_code, 1);
  EXPECT_THAT(get.err, HasSubstr("not found"));
  EXPECT_EQ(Lines(get.err), 1u);
  EXPECT_EQ(Run({"token", "rotate", "tok_doesnotexist"}).exit_code, 1);
  EXPECT_EQ(Run({"token", "delete", "tok_doesnotexist", "--yes"}).exit_code, 1);
  EXPECT_EQ(
      Run({"token", "update", "tok_doesnotexist", "--name", "x"}).exit_code, 1);
}

TEST_F(TokenctlTest, ServerRejectedArgumentExitsTwoNamingTheField) {
  CommandResult result =
      Run({"token", "create", "--deployment", "Not_Valid", "--name", "ci"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("deployment_id"));
  EXPECT_EQ(Lines(result.err), 1u);

  CommandResult days = Run({"token", "create", "--deployment", "d", "--name",
                            "ci", "--expiration-days", "400"});
  EXPECT_EQ(days.exit_code, 2);
  EXPECT_THAT(days.err, HasSubstr("--expiration-days"));

  CommandResult grace =
      Run({"token", "rotate", "tok_x", "--grace-period", "soon"});
  EXPECT_EQ(grace.exit_code, 2);
  EXPECT_THAT(grace.err, HasSubstr("--grace-period"));
}

TEST_F(TokenctlTest, BadAdminKeyIsUnauthenticatedExitThree) {
  const std::string key_file = NewTempDir("wrong-key") + "/admin.key";
  FILE* f = fopen(key_file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs("not-the-admin-key\n", f);
  fclose(f);
  CommandResult wrong =
      Run({"token", "list", "--deployment", "d", "--admin-key-file", key_file});
  EXPECT_EQ(wrong.exit_code, 3);
  EXPECT_THAT(wrong.err, Not(HasSubstr("not-the-admin-key")));

  CommandResult missing = Run({"token", "list", "--deployment", "d"},
                              {"TOKENS_ADMIN_KEY_FILE=/nonexistent/admin.key"});
  EXPECT_EQ(missing.exit_code, 3);
  EXPECT_THAT(missing.err, HasSubstr("/nonexistent/admin.key"));
}

TEST_F(TokenctlTest, MalformedAstroApiTokenIsNamedButNeverPrinted) {
  std::string value = *GenerateTokenValue();
  value.back() = value.back() == 'A' ? 'B' : 'A';  // breaks the checksum
  CommandResult result =
      Run({"check", "--deployment", "d", "--operation", "deployment.get"},
          {absl::StrCat("ASTRO_API_TOKEN=", value)});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_THAT(result.err, HasSubstr("ASTRO_API_TOKEN is malformed"));
  EXPECT_THAT(result.err + result.out, Not(HasSubstr(value)));
  EXPECT_THAT(result.err + result.out, Not(HasSubstr(value.substr(4, 20))));

  CommandResult none =
      Run({"check", "--deployment", "d", "--operation", "deployment.get"});
  EXPECT_EQ(none.exit_code, 3);
  EXPECT_THAT(none.err, HasSubstr("set ASTRO_API_TOKEN"));
}

TEST_F(TokenctlTest, QuickstartWalk) {
  const std::string deployment = "walk";
  // Create: the value is shown once, clearly marked, with the id.
  CommandResult created =
      Run({"token", "create", "--deployment", deployment, "--name", "ci-deploy",
           "--description", "Deploys from CI", "--expiration-days", "30"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_THAT(created.out, HasSubstr("shown only now"));
  EXPECT_THAT(created.out, HasSubstr("Created token tok_"));
  EXPECT_THAT(created.out, HasSubstr("(in 30 days)"));

  auto [id, value] = servers_->CreateToken(deployment, "second");
  ASSERT_TRUE(IsWellFormedTokenValue(value)) << "-o value printed more";
  ASSERT_TRUE(absl::StartsWith(id, "tok_")) << id;

  CommandResult list = Run({"token", "list", "--deployment", deployment});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_THAT(list.out, HasSubstr("ci-deploy"));
  EXPECT_THAT(list.out, HasSubstr(id));
  EXPECT_THAT(list.out, Not(HasSubstr(value)));

  CommandResult json =
      Run({"token", "list", "--deployment", deployment, "-o", "json"});
  EXPECT_EQ(json.exit_code, 0);
  EXPECT_THAT(json.out, HasSubstr("\"deployment_id\": \"walk\""));
  EXPECT_THAT(json.out, HasSubstr("\"total_size\": 2"));
  EXPECT_EQ(json.out.front(), '{');

  CommandResult get = Run({"token", "get", id});
  EXPECT_EQ(get.exit_code, 0);
  EXPECT_THAT(get.out, HasSubstr("name:"));
  EXPECT_THAT(get.out, HasSubstr("second"));

  // Allowed and denied checks.
  CommandResult allowed =
      CheckUntil(0, value, deployment, "deployment.envVars.create");
  EXPECT_EQ(allowed.exit_code, 0) << allowed.out << allowed.err;
  EXPECT_THAT(allowed.out, HasSubstr("allowed: ALLOWED"));
  EXPECT_THAT(allowed.out, HasSubstr(id));

  CommandResult denied =
      servers_->Check(value, deployment, "workspace.alerts.create");
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_THAT(denied.out, HasSubstr("denied: OPERATION_NOT_PERMITTED"));
  CommandResult other = servers_->Check(value, "other", "deployment.get");
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_THAT(other.out, HasSubstr("WRONG_DEPLOYMENT"));

  // Rename.
  CommandResult updated = Run({"token", "update", id, "--name", "renamed"});
  EXPECT_EQ(updated.exit_code, 0) << updated.err;
  EXPECT_THAT(updated.out, HasSubstr("renamed"));
  CommandResult nothing = Run({"token", "update", id});
  EXPECT_EQ(nothing.exit_code, 2);

  // Rotate with a grace period: both values verify for now.
  CommandResult graced =
      Run({"token", "rotate", id, "--grace-period", "1h", "-o", "value"});
  ASSERT_EQ(graced.exit_code, 0) << graced.err;
  const std::string graced_value(absl::StripAsciiWhitespace(graced.out));
  EXPECT_TRUE(IsWellFormedTokenValue(graced_value));
  EXPECT_EQ(CheckUntil(0, graced_value, deployment, "deployment.get").exit_code,
            0);
  EXPECT_EQ(servers_->Check(value, deployment, "deployment.get").exit_code, 0);

  // Rotate at once: the value before dies, the new one works.
  CommandResult rotated = Run({"token", "rotate", id});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.err;
  EXPECT_THAT(rotated.out, HasSubstr("shown only now"));
  EXPECT_THAT(rotated.out, HasSubstr("stopped verifying now"));
  std::string new_value;
  for (absl::string_view line : absl::StrSplit(rotated.out, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (IsWellFormedTokenValue(std::string(line)))
      new_value = std::string(line);
  }
  ASSERT_FALSE(new_value.empty()) << rotated.out;
  CommandResult old_denied =
      CheckUntil(1, graced_value, deployment, "deployment.get");
  EXPECT_EQ(old_denied.exit_code, 1);
  EXPECT_THAT(old_denied.out, HasSubstr("REVOKED_TOKEN"));
  EXPECT_EQ(CheckUntil(0, new_value, deployment, "deployment.get").exit_code,
            0);

  // The audit log.
  CommandResult audit = Run({"audit", "--deployment", deployment});
  EXPECT_EQ(audit.exit_code, 0) << audit.err;
  EXPECT_THAT(audit.out, HasSubstr("token.create"));
  EXPECT_THAT(audit.out, HasSubstr("token.rotate"));
  EXPECT_THAT(audit.out, Not(HasSubstr(new_value)));
  CommandResult audit_json =
      Run({"audit", "--deployment", deployment, "-o", "json"});
  EXPECT_THAT(audit_json.out, HasSubstr("\"action\": \"token.rotate\""));

  // Delete for good.
  CommandResult deleted = Run({"token", "delete", id, "--yes"});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_THAT(deleted.out, HasSubstr("Deleted token " + id));
  EXPECT_EQ(Run({"token", "get", id}).exit_code, 1);
  EXPECT_EQ(CheckUntil(1, new_value, deployment, "deployment.get").exit_code,
            1);
}

TEST_F(TokenctlTest, JsonOutputsAreOneDocumentWithProtoFieldNames) {
  CommandResult created = Run({"token", "create", "--deployment", "json-out",
                               "--name", "ci", "-o", "json"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_EQ(created.out.front(), '{');
  EXPECT_EQ(created.out.substr(created.out.size() - 2), "}\n");
  EXPECT_THAT(created.out, HasSubstr("\"secret\": \"dpt_"));
  EXPECT_THAT(created.out, HasSubstr("\"deployment_id\": \"json-out\""));
  EXPECT_THAT(created.out, HasSubstr("\"expiration_days\": 0"));

  auto [id, value] = servers_->CreateToken("json-out", "checked");
  CommandResult check = CheckUntil(0, value, "json-out", "deployment.get");
  CommandResult check_json =
      Run({"check", "--deployment", "json-out", "--operation", "deployment.get",
           "-o", "json"},
          {absl::StrCat("ASTRO_API_TOKEN=", value)});
  EXPECT_EQ(check_json.exit_code, 0);
  EXPECT_THAT(check_json.out, HasSubstr("\"allowed\": true"));
  EXPECT_THAT(check_json.out, HasSubstr("\"reason\": \"ALLOWED\""));
  EXPECT_THAT(check_json.out, HasSubstr("\"token_id\": \"" + id + "\""));
}

TEST_F(TokenctlTest, AstroApiTokenTakesPrecedenceOverDeprecatedKeyPair) {
  auto [id, value] = servers_->CreateToken("precedence", "current");
  ASSERT_EQ(CheckUntil(0, value, "precedence", "deployment.get").exit_code, 0);
  const std::string unknown = *GenerateTokenValue();
  const std::vector<std::string> args = {"check", "--deployment", "precedence",
                                         "--operation", "deployment.get"};

  // Both set: the token wins, the pair is named as ignored.
  CommandResult both =
      Run(args, {absl::StrCat("ASTRO_API_TOKEN=", value),
                 "ASTRONOMER_KEY_ID=legacy-key",
                 absl::StrCat("ASTRONOMER_KEY_SECRET=", unknown)});
  EXPECT_EQ(both.exit_code, 0) << both.out << both.err;
  EXPECT_THAT(both.err, HasSubstr("deprecated"));
  EXPECT_THAT(both.err, HasSubstr("ignored because ASTRO_API_TOKEN is set"));

  // The other way round: the token still wins, so the check is denied.
  CommandResult both_denied =
      Run(args, {absl::StrCat("ASTRO_API_TOKEN=", unknown),
                 "ASTRONOMER_KEY_ID=legacy-key",
                 absl::StrCat("ASTRONOMER_KEY_SECRET=", value)});
  EXPECT_EQ(both_denied.exit_code, 1);
  EXPECT_THAT(both_denied.out, HasSubstr("UNKNOWN_TOKEN"));

  // Only the deprecated pair: its secret is used, with a warning.
  CommandResult pair =
      Run(args, {"ASTRONOMER_KEY_ID=legacy-key",
                 absl::StrCat("ASTRONOMER_KEY_SECRET=", value)});
  EXPECT_EQ(pair.exit_code, 0) << pair.out << pair.err;
  EXPECT_THAT(pair.err, HasSubstr("ASTRONOMER_KEY_ID/ASTRONOMER_KEY_SECRET "
                                  "are deprecated"));
  EXPECT_THAT(pair.err, Not(HasSubstr(value)));

  // Half a pair is not a credential.
  CommandResult half = Run(args, {"ASTRONOMER_KEY_ID=legacy-key"});
  EXPECT_EQ(half.exit_code, 3);
  EXPECT_THAT(half.err, HasSubstr("ASTRONOMER_KEY_SECRET"));
}

TEST_F(TokenctlTest, DeleteWithoutTerminalOrYesRefuses) {
  auto [id, value] = servers_->CreateToken("delete-pipe", "keep-me");
  CommandResult refused = Run({"token", "delete", id}, {}, "Delete\n");
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.err, HasSubstr("--yes"));
  EXPECT_EQ(Run({"token", "get", id}).exit_code, 0) << "must not be deleted";
}

TEST_F(TokenctlTest, DeleteOnTerminalNeedsDeleteTyped) {
  auto [id, value] = servers_->CreateToken("delete-tty", "ask-me");
  std::vector<std::string> argv = {TokenctlPath(), "token", "delete", id};

  CommandResult wrong = RunOnTerminal(argv, servers_->Env(), "yes\n");
  EXPECT_EQ(wrong.exit_code, 1) << wrong.out;
  EXPECT_THAT(wrong.out, HasSubstr("Type Delete to confirm"));
  EXPECT_THAT(wrong.out, HasSubstr("Not deleted"));
  EXPECT_EQ(Run({"token", "get", id}).exit_code, 0) << "must not be deleted";

  CommandResult lower = RunOnTerminal(argv, servers_->Env(), "delete\n");
  EXPECT_EQ(lower.exit_code, 1) << lower.out;
  EXPECT_EQ(Run({"token", "get", id}).exit_code, 0) << "must not be deleted";

  CommandResult typed = RunOnTerminal(argv, servers_->Env(), "Delete\n");
  EXPECT_EQ(typed.exit_code, 0) << typed.out;
  EXPECT_THAT(typed.out, HasSubstr("Deleted token " + id));
  EXPECT_EQ(Run({"token", "get", id}).exit_code, 1);
}

}  // namespace
}  // namespace tokens::testing
