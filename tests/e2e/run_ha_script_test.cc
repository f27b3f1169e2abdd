// `make run-ha`'s script (scripts/run-ha.sh) as a newcomer runs it: a real
// PostgreSQL cluster, two TokenService replicas and a verifier on both. A token
// created through the second replica verifies at the verifier, and Ctrl-C (to
// the whole process group) stops every process, PostgreSQL included.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/host_port.h"
#include "gtest/gtest.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"
#include "tests/testing/server_process.h"

namespace tokens::testing {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(RunHaScriptTest, TwoReplicasAndAVerifierThenCtrlCStopsEverything) {
  // The postgres user must reach the cluster's directory, and TEST_TMPDIR
  // may sit under a private home directory: use /tmp.
  char dir_template[] = "/tmp/run-ha-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  ASSERT_EQ(chmod(dir.c_str(), 0755), 0);
  const std::string var = dir + "/var";
  const std::string replica1 = FreeLoopbackAddress();
  const std::string replica2 = FreeLoopbackAddress();
  const std::string verifier = FreeLoopbackAddress();
  const std::string pg_port =
      std::to_string(ParseHostPort(FreeLoopbackAddress())->port);
  const std::string log = dir + "/run.log";
  std::vector<std::string> env = {
      "BIN=" + RunfilePath(""),
      "VAR=" + var,
      "PG_PORT=" + pg_port,
      "REPLICA1_LISTEN=" + replica1,
      "REPLICA2_LISTEN=" + replica2,
      "VERIFIER_LISTEN=" + verifier,
      "VERIFIER_HTTP_LISTEN=" + FreeLoopbackAddress()};
  const pid_t pid =
      StartScriptInProcessGroup(RunfilePath("scripts/run-ha.sh"), env, log);
  ASSERT_GT(pid, 0);

  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string out = ReadAll(log);
        for (const std::string& address : {replica1, replica2, verifier}) {
          if (out.find("listening on " + address + "\n") == std::string::npos) {
            return false;
          }
        }
        return true;
      },
      absl::Seconds(120)))
      << ReadAll(log);
  const std::string output = ReadAll(log);
  EXPECT_NE(
      output.find("TokenService replicas: " + replica1 + " and " + replica2),
      std::string::npos)
      << output;

  // The first replica wrote the keys; the second accepts them.
  const std::string admin_key = *ReadKeyFile(var + "/ha/replica1/admin.key");
  auto admin = v1::TokenService::NewStub(
      grpc::CreateChannel(replica2, grpc::InsecureChannelCredentials()));
  v1::CreateTokenRequest create;
  create.set_deployment_id("prod");
  create.set_name("ci");
  v1::CreateTokenResponse created;
  ASSERT_TRUE(WaitFor(
      [&] {
        grpc::ClientContext ctx;
        ctx.AddMetadata("authorization", "Bearer " + admin_key);
        return admin->CreateToken(&ctx, create, &created).ok();
      },
      absl::Seconds(30)));
  auto check = v1::Verifier::NewStub(
      grpc::CreateChannel(verifier, grpc::InsecureChannelCredentials()));
  EXPECT_TRUE(WaitFor(
      [&] {
        v1::CheckRequest request;
        request.set_token(created.secret());
        request.set_deployment_id("prod");
        request.set_operation("deployment.get");
        v1::CheckResponse response;
        grpc::ClientContext ctx;
        return check->Check(&ctx, request, &response).ok() &&
               response.allowed();
      },
      absl::Seconds(30)))
      << ReadAll(log);

  // Ctrl-C.
  ASSERT_EQ(kill(-pid, SIGINT), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_NE(ReadAll(log).find("stopped"), std::string::npos) << ReadAll(log);
  // PostgreSQL is down: its pid file is gone.
  EXPECT_NE(access((var + "/pg/data/postmaster.pid").c_str(), F_OK), 0);
  RunCommand({"/bin/rm", "-rf", dir}, {});
}

}  // namespace
}  // namespace tokens::testing
