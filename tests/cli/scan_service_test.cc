// `tokenctl scan --check` / `--report` and `token rotate --self` end to end:
// the built binary against a real TokenService and verifier whose callers
// include a `reporter`.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
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

class ScanServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto started = CliServers::Start(/*with_reporter=*/true);
    ASSERT_TRUE(started.ok()) << started.status();
    servers_ = started->release();
  }
  static void TearDownTestSuite() {
    delete servers_;
    servers_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(servers_, nullptr); }

  // Runs tokenctl; fails the test if any value it knows of is printed.
  CommandResult Run(const std::vector<std::string>& args,
                    const std::vector<std::string>& env = {}) {
    CommandResult result = servers_->Tokenctl(args, env);
    for (const std::string& value : values_) {
      EXPECT_THAT(result.out + result.err, Not(HasSubstr(value.substr(8, 20))))
          << "a value was printed";
    }
    return result;
  }

  // A file holding `values`, one per line after some text.
  std::string File(const std::vector<std::string>& values) {
    const std::string path = NewTempDir("scan-in") + "/ci.log";
    FILE* file = fopen(path.c_str(), "w");
    EXPECT_NE(file, nullptr);
    for (const std::string& value : values) {
      fprintf(file, "step: export ASTRO_API_TOKEN=%s\n", value.c_str());
      values_.push_back(value);
    }
    fclose(file);
    return path;
  }

  // Waits until the verifier answers `exit_code` for `value`.
  int CheckUntil(int exit_code, const std::string& value,
                 const std::string& deployment) {
    int last = -1;
    WaitFor(
        [&] {
          last = servers_->Check(value, deployment, "deployment.get").exit_code;
          return last == exit_code;
        },
        absl::Seconds(10));
    return last;
  }

  static CliServers* servers_;
  std::vector<std::string> values_;
};

CliServers* ScanServiceTest::servers_ = nullptr;

TEST_F(ScanServiceTest, CheckSaysWhichValuesAreLiveByDigest) {
  auto [id, live] = servers_->CreateToken("scan-check", "ci");
  const std::string unknown = *GenerateTokenValue();
  const std::string path = File({live, unknown});
  CommandResult table = Run({"scan", "--check", path});
  EXPECT_EQ(table.exit_code, 1) << table.err;
  EXPECT_THAT(table.out,
              HasSubstr(absl::StrCat(path, ":1:30: ", ShortTokenHint(live),
                                     " live: token ", id,
                                     " of Deployment scan-check \"ci\"")));
  EXPECT_THAT(table.out,
              HasSubstr(absl::StrCat(path, ":2:30: ", ShortTokenHint(unknown),
                                     " not live")));

  CommandResult json = Run({"scan", "--check", "-o", "json", path});
  EXPECT_EQ(json.exit_code, 1);
  EXPECT_THAT(json.out,
              HasSubstr(absl::StrCat(",\"live\":true,\"token_id\":\"", id,
                                     "\",\"deployment_id\":\"scan-check\"}")));
  EXPECT_THAT(json.out, HasSubstr(",\"live\":false,\"token_id\":\"\","));
}

TEST_F(ScanServiceTest, CheckBatchesMoreThanAHundredDigests) {
  auto [id, live] = servers_->CreateToken("scan-batch", "ci");
  std::vector<std::string> values;
  for (int i = 0; i < 230; ++i) values.push_back(*GenerateTokenValue());
  values[170] = live;
  CommandResult json = Run({"scan", "--check", "-o", "json", File(values)});
  EXPECT_EQ(json.exit_code, 1) << json.err;
  const std::vector<std::string> lines =
      absl::StrSplit(json.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 230u);
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(absl::StrContains(lines[i], "\"live\":true"), i == 170) << i;
  }
  EXPECT_THAT(lines[170], HasSubstr(id));
}

TEST_F(ScanServiceTest, AdminReportRevokesLiveValuesAndSaysWhich) {
  auto [id, live] = servers_->CreateToken("scan-report", "ci");
  ASSERT_EQ(CheckUntil(0, live, "scan-report"), 0);
  const std::string unknown = *GenerateTokenValue();
  CommandResult report = Run({"scan", "--report", "--location", "build 42 log",
                              File({live, unknown, live})});
  EXPECT_EQ(report.exit_code, 1) << report.err;
  EXPECT_THAT(report.out, HasSubstr("TokenService received 2."));
  EXPECT_THAT(report.out,
              HasSubstr(absl::StrCat(ShortTokenHint(live), ": REVOKED (token ",
                                     id, " of Deployment scan-report")));
  EXPECT_THAT(report.out,
              HasSubstr(absl::StrCat(ShortTokenHint(unknown), ": NOT_LIVE")));
  EXPECT_EQ(CheckUntil(1, live, "scan-report"), 1);
  CommandResult audit = Run({"audit", "--deployment", "scan-report"});
  EXPECT_THAT(audit.out, HasSubstr("token.leaked"));
  EXPECT_THAT(audit.out, HasSubstr("build 42 log"));
}

TEST_F(ScanServiceTest, ReporterKeyReportsAndLearnsOnlyTheCount) {
  auto [id, live] = servers_->CreateToken("scan-reporter", "ci");
  ASSERT_EQ(CheckUntil(0, live, "scan-reporter"), 0);
  const std::string path = File({live, *GenerateTokenValue()});
  CommandResult report = Run(
      {"scan", "--report", "--key-file", servers_->reporter_key_file(), path});
  EXPECT_EQ(report.exit_code, 1) << report.err;
  EXPECT_THAT(report.out, HasSubstr("TokenService received 2."));
  EXPECT_THAT(report.out, Not(HasSubstr("REVOKED")));
  EXPECT_THAT(report.out, Not(HasSubstr(id)));
  EXPECT_EQ(CheckUntil(1, live, "scan-reporter"), 1);
  CommandResult audit = Run({"audit", "--deployment", "scan-reporter"});
  EXPECT_THAT(audit.out, HasSubstr("scanner"));  // the reporter's name
  EXPECT_THAT(audit.out, HasSubstr("tokenctl scan on "));

  // A reporter may not look values up.
  CommandResult check = Run(
      {"scan", "--check", "--key-file", servers_->reporter_key_file(), path});
  EXPECT_EQ(check.exit_code, 1);
  EXPECT_THAT(check.err, HasSubstr("tokenctl:"));
}

TEST_F(ScanServiceTest, SelfRotatingTokenRenewsItself) {
  CommandResult created = Run({"token", "create", "--deployment", "self-rot",
                               "--name", "ci", "--self-rotate", "-o", "json"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_THAT(created.out, HasSubstr("\"self_rotate\": true"));
  auto [id, value] = servers_->CreateToken("self-rot", "pipeline");
  // CreateToken made a token without --self-rotate: it may not rotate itself.
  CommandResult refused = Run({"token", "rotate", "--self"},
                              {absl::StrCat("ASTRO_API_TOKEN=", value)});
  EXPECT_EQ(refused.exit_code, 1) << refused.err;

  CommandResult made =
      Run({"token", "create", "--deployment", "self-rot", "--name", "renewer",
           "--self-rotate", "-o", "value"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const std::string old_value(absl::StripAsciiWhitespace(made.out));
  values_.push_back(old_value);
  ASSERT_EQ(CheckUntil(0, old_value, "self-rot"), 0);
  CommandResult rotated =
      Run({"token", "rotate", "--self", "--grace-period", "10m", "-o", "value"},
          {absl::StrCat("ASTRO_API_TOKEN=", old_value)});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.err;
  const std::string new_value(absl::StripAsciiWhitespace(rotated.out));
  ASSERT_TRUE(IsWellFormedTokenValue(new_value));
  EXPECT_EQ(CheckUntil(0, new_value, "self-rot"), 0);
  EXPECT_EQ(servers_->Check(old_value, "self-rot", "deployment.get").exit_code,
            0)
      << "inside its grace period";

  // The table form shows the new value once, like `token rotate`.
  CommandResult again = Run({"token", "rotate", "--self"},
                            {absl::StrCat("ASTRO_API_TOKEN=", new_value)});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("shown only now"));
  EXPECT_THAT(again.out, HasSubstr("stopped verifying now"));
  EXPECT_THAT(again.out, HasSubstr("self rotate:   yes"));
  EXPECT_EQ(CheckUntil(1, new_value, "self-rot"), 1);
}

TEST_F(ScanServiceTest, RotateSelfUsageAndCredentialErrors) {
  const std::string value = *GenerateTokenValue();
  const std::string env = absl::StrCat("ASTRO_API_TOKEN=", value);
  EXPECT_EQ(Run({"token", "rotate", "--self", "tok_x"}, {env}).exit_code, 2);
  EXPECT_EQ(Run({"token", "rotate"}).exit_code, 2);
  CommandResult grace =
      Run({"token", "rotate", "--self", "--grace-period", "2h"}, {env});
  EXPECT_EQ(grace.exit_code, 2);
  EXPECT_THAT(grace.err, HasSubstr("--grace-period must be at most 1h"));
  CommandResult unset = Run({"token", "rotate", "--self"});
  EXPECT_EQ(unset.exit_code, 3);
  EXPECT_THAT(unset.err, HasSubstr("ASTRO_API_TOKEN"));
  CommandResult unknown = Run({"token", "rotate", "--self"}, {env});
  EXPECT_EQ(unknown.exit_code, 3) << unknown.err;
  EXPECT_THAT(unknown.err + unknown.out, Not(HasSubstr(value.substr(8, 20))));
}

}  // namespace
}  // namespace tokens::testing
