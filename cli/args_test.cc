#include "cli/args.h"

#include "gtest/gtest.h"

namespace tokens::cli {
namespace {

CommandSpec Spec() {
  return {"token rotate",
          "ID",
          1,
          1,
          "Rotate.",
          "",
          {{"grace-period", "", "DURATION", "grace"},
           {"deployment", "", "ID", "the Deployment", true},
           {"output", "o", "FORMAT", "format"},
           {"yes", "y", "", "no prompt"}}};
}

TEST(ParseArgsTest, AcceptsSpaceEqualsAndShortForms) {
  auto parsed = ParseArgs(Spec(), {"tok_1", "--grace-period", "1h",
                                   "--deployment=d", "-o", "json", "-y"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Get("grace-period"), "1h");
  EXPECT_EQ(parsed->Get("deployment"), "d");
  EXPECT_EQ(parsed->Get("output"), "json");
  EXPECT_TRUE(parsed->Has("yes"));
  EXPECT_EQ(parsed->positional(), std::vector<std::string>{"tok_1"});
  EXPECT_FALSE(parsed->help());
}

TEST(ParseArgsTest, UnknownFlagIsNamed) {
  auto parsed = ParseArgs(Spec(), {"tok_1", "--deployment", "d", "--bogus"});
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(parsed.status().message().find("--bogus"), std::string::npos);
}

TEST(ParseArgsTest, MissingRequiredFlagIsNamed) {
  auto parsed = ParseArgs(Spec(), {"tok_1"});
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().message(), "missing required flag --deployment");
}

TEST(ParseArgsTest, FlagWithoutValueAndSwitchWithValueAreErrors) {
  EXPECT_FALSE(ParseArgs(Spec(), {"tok_1", "--deployment"}).ok());
  EXPECT_FALSE(ParseArgs(Spec(), {"tok_1", "--deployment=d", "--yes=1"}).ok());
}

TEST(ParseArgsTest, PositionalCountIsChecked) {
  EXPECT_FALSE(ParseArgs(Spec(), {"--deployment=d"}).ok());
  EXPECT_FALSE(ParseArgs(Spec(), {"a", "b", "--deployment=d"}).ok());
}

TEST(ParseArgsTest, HelpSkipsRequiredChecks) {
  auto parsed = ParseArgs(Spec(), {"--help"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->help());
}

TEST(ParseArgsTest, DoubleDashEndsFlags) {
  auto parsed = ParseArgs(Spec(), {"--deployment=d", "--", "--odd-id"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->positional(), std::vector<std::string>{"--odd-id"});
}

TEST(HelpTextTest, ListsFlagsRequiredOnesAndExitCodes) {
  const std::string help = HelpText(Spec());
  EXPECT_NE(help.find("Usage: tokenctl token rotate --deployment ID ID"),
            std::string::npos);
  EXPECT_NE(help.find("--grace-period DURATION"), std::string::npos);
  EXPECT_NE(help.find("-o, --output FORMAT"), std::string::npos);
  EXPECT_NE(help.find("(required)"), std::string::npos);
  EXPECT_NE(help.find("Exit codes:"), std::string::npos);
  EXPECT_NE(help.find("  3  "), std::string::npos);
}

TEST(ParseSpanSecondsTest, DaysAndDurations) {
  EXPECT_EQ(*ParseSpanSeconds("expiring-within", "7d"), 7 * 86400);
  EXPECT_EQ(*ParseSpanSeconds("expiring-within", "12h"), 12 * 3600);
  EXPECT_EQ(*ParseSpanSeconds("expiring-within", "0d"), 0);
  for (const char* bad : {"-1d", "7days", "d", "soon", "1.5d"}) {
    auto parsed = ParseSpanSeconds("expiring-within", bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(parsed.status().message()).find("--expiring-within"),
              std::string::npos);
  }
}

TEST(ParseSecondsTest, DurationsAndBareSeconds) {
  EXPECT_EQ(*ParseSeconds("grace-period", "1h"), 3600);
  EXPECT_EQ(*ParseSeconds("grace-period", "1h30m"), 5400);
  EXPECT_EQ(*ParseSeconds("grace-period", "90s"), 90);
  EXPECT_EQ(*ParseSeconds("grace-period", "120"), 120);
  EXPECT_EQ(*ParseSeconds("grace-period", "0"), 0);
}

TEST(ParseSecondsTest, RejectsNegativeFractionalAndGarbage) {
  EXPECT_FALSE(ParseSeconds("grace-period", "-5").ok());
  EXPECT_FALSE(ParseSeconds("grace-period", "-1h").ok());
  EXPECT_FALSE(ParseSeconds("grace-period", "1.5s").ok());
  auto bad = ParseSeconds("grace-period", "soon");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--grace-period"), std::string::npos);
}

TEST(ParseIntTest, Bounds) {
  EXPECT_EQ(*ParseInt("expiration-days", "30", 0, 365), 30);
  EXPECT_FALSE(ParseInt("expiration-days", "366", 0, 365).ok());
  EXPECT_FALSE(ParseInt("expiration-days", "ten", 0, 365).ok());
}

}  // namespace
}  // namespace tokens::cli
