// token_service's token-hygiene flag checks: a bad value exits 2 with a
// message naming the flag, before anything is opened or bound.
#include <string>
#include <vector>

#include "common/file_util.h"
#include "gtest/gtest.h"
#include "tests/testing/server_process.h"

namespace tokens::testing {
namespace {

struct BadFlag {
  std::vector<std::string> args;
  std::string flag;
};

TEST(TokenServiceFlagsTest, BadHygieneFlagsExitTwoNamingThem) {
  const std::string dir = NewTempDir("service-flags");
  const std::string key_file = dir + "/notify.key";
  ASSERT_TRUE(WritePrivateFile(key_file, "a key of more than 16 bytes").ok());
  const std::vector<BadFlag> cases = {
      {{"--revoked-retention=-1s"}, "--revoked-retention"},
      {{"--on-reuse", "delete"}, "--on-reuse"},
      {{"--expiry-sweep-interval", "10ms"}, "--expiry-sweep-interval"},
      {{"--notify-url", "ftp://hooks.example/x", "--notify-key-file", key_file},
       "--notify-url"},
      {{"--notify-url", "hooks.example/x", "--notify-key-file", key_file},
       "--notify-url"},
      {{"--notify-url", "https://hooks.example/x"}, "--notify-key-file"},
      {{"--notify-url", "https://hooks.example/x", "--notify-key-file",
        dir + "/missing.key"},
       "--notify-key-file"},
  };
  for (const BadFlag& c : cases) {
    std::vector<std::string> argv = {RunfilePath("services/token_service"),
                                     "--listen", "127.0.0.1:0", "--data-dir",
                                     dir + "/var"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    CommandResult result = RunCommand(argv, {});
    EXPECT_EQ(result.exit_code, 2) << c.args[0] << ": " << result.err;
    EXPECT_NE(result.err.find(c.flag), std::string::npos)
        << c.args[0] << ": " << result.err;
  }
}

}  // namespace
}  // namespace tokens::testing
