// Plain text only on loopback: both binaries refuse a non-loopback listener
// without --insecure (exit 2, a message naming the flag), and start with it.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/server_process.h"

namespace tokens::testing {
namespace {

TEST(InsecureListenTest, NonLoopbackWithoutInsecureIsRefused) {
  const std::string dir = NewTempDir("insecure") + "/var";
  struct Case {
    std::string binary;
    std::vector<std::string> args;
    std::string flag;
  };
  const std::vector<Case> cases = {
      {"services/token_service",
       {"--listen", "0.0.0.0:0", "--data-dir", dir},
       "--listen"},
      {"verifier/token_verifier",
       {"--listen", "0.0.0.0:0", "--http-listen", "127.0.0.1:0"},
       "--listen"},
      {"verifier/token_verifier",
       {"--listen", "127.0.0.1:0", "--http-listen", "0.0.0.0:0"},
       "--http-listen"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {RunfilePath(c.binary)};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    CommandResult result = RunCommand(argv, {});
    EXPECT_EQ(result.exit_code, 2) << c.binary << " " << result.err;
    EXPECT_NE(result.err.find("--insecure"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find(c.flag), std::string::npos) << result.err;
  }
}

TEST(InsecureListenTest, InsecureFlagAllowsIt) {
  const std::string dir = NewTempDir("insecure") + "/var";
  auto service = ServerProcess::Start(
      RunfilePath("services/token_service"),
      {"--listen", "0.0.0.0:0", "--data-dir", dir, "--insecure"});
  EXPECT_TRUE(service.ok()) << service.status();
}

}  // namespace
}  // namespace tokens::testing
