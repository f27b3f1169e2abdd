// `make run`'s script (scripts/run.sh) with the real binaries, stopped the way
// a user stops it: SIGINT to the whole foreground process group, as Ctrl-C in a
// terminal sends it. The verifier must stop first and its last usage report
// must reach TokenService: a use seen seconds before Ctrl-C (long before the
// 10 s report interval) is in last_used_time afterwards.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "gtest/gtest.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"
#include "tests/testing/server_process.h"

namespace tokens::testing {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(RunScriptTest, CtrlCStopsTheVerifierFirstAndKeepsItsLastUsageReport) {
  const std::string dir = NewTempDir("run");
  const std::string data_dir = dir + "/var";
  const std::string service = FreeLoopbackAddress();
  const std::string verifier = FreeLoopbackAddress();
  const std::string log = dir + "/run.log";
  std::vector<std::string> env = {
      "BIN=" + RunfilePath(""), "DATA_DIR=" + data_dir,
      "SERVICE_LISTEN=" + service, "VERIFIER_LISTEN=" + verifier,
      "VERIFIER_HTTP_LISTEN=" + FreeLoopbackAddress()};
  const pid_t pid =
      StartScriptInProcessGroup(RunfilePath("scripts/run.sh"), env, log);
  ASSERT_GT(pid, 0);

  // Both servers print `listening on HOST:PORT` once they serve.
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string out = ReadAll(log);
        return out.find("listening on " + service + "\n") !=
                   std::string::npos &&
               out.find("listening on " + verifier + "\n") != std::string::npos;
      },
      absl::Seconds(30)))
      << ReadAll(log);
  auto admin = v1::TokenService::NewStub(
      grpc::CreateChannel(service, grpc::InsecureChannelCredentials()));
  const std::string admin_key = *ReadKeyFile(data_dir + "/admin.key");
  v1::CreateTokenRequest create;
  create.set_deployment_id("prod");
  create.set_name("ci");
  v1::CreateTokenResponse created;
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + admin_key);
    ASSERT_TRUE(admin->CreateToken(&ctx, create, &created).ok());
  }
  auto check = v1::Verifier::NewStub(
      grpc::CreateChannel(verifier, grpc::InsecureChannelCredentials()));
  ASSERT_TRUE(WaitFor(
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
      absl::Seconds(20)));

  // Ctrl-C.
  ASSERT_EQ(kill(-pid, SIGINT), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  const std::string output = ReadAll(log);
  EXPECT_NE(output.find("stopped"), std::string::npos) << output;
  EXPECT_EQ(output.find("usage.report_failed"), std::string::npos) << output;
  const size_t verifier_stopped = output.find("\"verifier.stopped\"");
  const size_t service_stopped = output.find("\"event\":\"stopped\"");
  EXPECT_NE(verifier_stopped, std::string::npos) << output;
  EXPECT_NE(service_stopped, std::string::npos) << output;
  EXPECT_LT(verifier_stopped, service_stopped) << output;

  // The last use reached TokenService before it stopped.
  auto restarted =
      ServerProcess::Start(RunfilePath("services/token_service"),
                           {"--listen", "127.0.0.1:0", "--data-dir", data_dir});
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  auto again = v1::TokenService::NewStub(grpc::CreateChannel(
      (*restarted)->address(), grpc::InsecureChannelCredentials()));
  v1::GetTokenRequest get;
  get.set_id(created.token().id());
  v1::Token token;
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + admin_key);
  ASSERT_TRUE(again->GetToken(&ctx, get, &token).ok());
  EXPECT_TRUE(token.has_last_used_time()) << token.DebugString() << output;
}

}  // namespace
}  // namespace tokens::testing
