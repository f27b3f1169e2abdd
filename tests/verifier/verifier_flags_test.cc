// token_verifier's flag checks: a bad value exits 2 with a message naming the
// flag, before anything is started.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/server_process.h"

namespace tokens::testing {
namespace {

struct BadFlag {
  std::vector<std::string> args;
  std::string flag;
};

TEST(VerifierFlagsTest, BadRevokedAndNameFlagsExitTwoNamingThem) {
  const std::vector<BadFlag> cases = {
      {{"--revoked-retention=-1s"}, "--revoked-retention"},
      {{"--revoked_retention=-720h"}, "--revoked-retention"},
      {{"--revoked-max=-1"}, "--revoked-max"},
      {{"--name", std::string(254, 'v')}, "--name"},
      {{"--name", "two words"}, "--name"},
  };
  for (const BadFlag& c : cases) {
    std::vector<std::string> argv = {RunfilePath("verifier/token_verifier")};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    argv.insert(argv.end(), {"--key-file", "/nonexistent"});
    CommandResult result = RunCommand(argv, {});
    EXPECT_EQ(result.exit_code, 2) << c.args[0] << ": " << result.err;
    EXPECT_NE(result.err.find(c.flag), std::string::npos)
        << c.args[0] << ": " << result.err;
  }
}

TEST(VerifierFlagsTest, HelpListsTheNewFlags) {
  CommandResult result =
      RunCommand({RunfilePath("verifier/token_verifier"), "--helpfull"}, {});
  const std::string all = result.out + result.err;
  for (const char* flag : {"revoked_max", "revoked_retention", "name"}) {
    EXPECT_NE(all.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace tokens::testing
