// The token_verifier and token_service binaries as real processes: the
// command-line contract, and a verifier riding out a TokenService crash (kill
// -9) and restart.
#include <signal.h>
#include <sys/wait.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/fake_clock.h"
#include "common/file_util.h"
#include "common/json_log.h"
#include "gtest/gtest.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"
#include "tests/testing/http_client.h"
#include "tests/testing/raw_grpc.h"
#include "tests/testing/server_process.h"
#include "tests/verifier/verifier_fixture.h"
#include "verifier/verifier_server.h"

namespace tokens::testing {
namespace {

constexpr char kDeployment[] = "dep-1";

// Talks to a TokenService process as admin.
class AdminClient {
 public:
  AdminClient(const std::string& address, std::string key)
      : stub_(v1::TokenService::NewStub(
            grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))),
        key_(std::move(key)) {}

  v1::CreateTokenResponse Create(const std::string& name) {
    v1::CreateTokenRequest request;
    request.set_deployment_id(kDeployment);
    request.set_name(name);
    v1::CreateTokenResponse response;
    grpc::ClientContext context;
    Prepare(&context);
    grpc::Status status = stub_->CreateToken(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  void Delete(const std::string& id) {
    v1::DeleteTokenRequest request;
    request.set_id(id);
    google::protobuf::Empty empty;
    grpc::ClientContext context;
    Prepare(&context);
    grpc::Status status = stub_->DeleteToken(&context, request, &empty);
    EXPECT_TRUE(status.ok()) << status.error_message();
  }

 private:
  void Prepare(grpc::ClientContext* context) {
    context->AddMetadata("authorization", "Bearer " + key_);
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(10));
  }

  std::unique_ptr<v1::TokenService::Stub> stub_;
  std::string key_;
};

class VerifierProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    JsonLog::SetEnabled(false);
    data_dir_ = NewTempDir("verifier_process") + "/var";
    token_service_ = StartTokenService("127.0.0.1:0");
    ASSERT_NE(token_service_, nullptr);
    auto admin_key = ReadKeyFile(data_dir_ + "/admin.key");
    ASSERT_TRUE(admin_key.ok()) << admin_key.status();
    admin_key_ = *admin_key;
  }

  std::unique_ptr<ServerProcess> StartTokenService(const std::string& listen) {
    auto process =
        ServerProcess::Start(RunfilePath("services/token_service"),
                             {"--listen", listen, "--data-dir", data_dir_});
    EXPECT_TRUE(process.ok()) << process.status();
    return process.ok() ? *std::move(process) : nullptr;
  }

  static v1::CheckResponse Check(v1::Verifier::Stub* stub,
                                 const std::string& token) {
    return CheckWith(stub, token, kDeployment, "deployment.deploys.create");
  }

  std::string data_dir_;
  std::string admin_key_;
  std::unique_ptr<ServerProcess> token_service_;
};

TEST_F(VerifierProcessTest, BinaryPrintsAddressesServesAndStopsOnSigterm) {
  auto verifier = ServerProcess::Start(
      RunfilePath("verifier/token_verifier"),
      {"--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
       "--token-service", token_service_->address(), "--key-file",
       data_dir_ + "/verifier.key", "--max-staleness", "30s",
       "--usage-report-interval", "200ms"},
      /*listen_lines=*/2);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  const std::string http = (*verifier)->http_address();
  ASSERT_FALSE(http.empty());
  EXPECT_TRUE(WaitFor([&] { return HttpGet(http, "/readyz").status == 200; },
                      kPropagationBound));

  AdminClient admin(token_service_->address(), admin_key_);
  v1::CreateTokenResponse token = admin.Create("deploy bot");
  auto channel = grpc::CreateChannel((*verifier)->address(),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::Verifier::NewStub(channel);
  EXPECT_TRUE(
      WaitFor([&] { return Check(stub.get(), token.secret()).allowed(); },
              kPropagationBound));
  HttpResult auth = HttpGet(http, "/v1/authorize",
                            {{"Authorization", "Bearer " + token.secret()},
                             {"X-Deployment-Id", kDeployment},
                             {"X-Operation", "deployment.envVars.update"}});
  EXPECT_EQ(auth.status, 200) << auth.error;
  EXPECT_EQ(auth.headers["x-token-id"], token.token().id());
  HttpResult metrics = HttpGet(http, "/metrics");
  EXPECT_NE(metrics.body.find("token_verifier_cached_tokens 1\n"),
            std::string::npos)
      << metrics.body;
  auto services = ReflectionListServices(channel);
  ASSERT_TRUE(services.ok()) << services.status();
  EXPECT_NE(std::find(services->begin(), services->end(), "tokens.v1.Verifier"),
            services->end());

  // Logs are JSON lines and never carry the token value.
  const std::string log = (*verifier)->Log();
  EXPECT_NE(log.find("\"event\":\"sync.snapshot\""), std::string::npos) << log;
  EXPECT_EQ(log.find(token.secret()), std::string::npos);

  const int status = (*verifier)->Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST_F(VerifierProcessTest, BadKeyFileFailsToStart) {
  auto verifier = ServerProcess::Start(
      RunfilePath("verifier/token_verifier"),
      {"--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
       "--token-service", token_service_->address(), "--key-file",
       data_dir_ + "/no-such.key"},
      /*listen_lines=*/2, absl::Seconds(10));
  EXPECT_FALSE(verifier.ok());
}

// The verifier runs in-process on a FakeClock (so staleness is moved, not
// waited for); the TokenService is a real process that is killed with SIGKILL.
TEST_F(VerifierProcessTest,
       RidesOutTokenServiceCrashAndCatchesUpFromItsRevision) {
  AdminClient admin(token_service_->address(), admin_key_);
  v1::CreateTokenResponse kept = admin.Create("kept");
  v1::CreateTokenResponse doomed = admin.Create("doomed");

  FakeClock clock(absl::Now());
  VerifierOptions options;
  options.feed_wait_clock = RealClock();
  options.listen = "127.0.0.1:0";
  options.http_listen = "127.0.0.1:0";
  options.token_service = token_service_->address();
  options.key_file = data_dir_ + "/verifier.key";
  options.max_staleness = absl::Seconds(30);
  auto started = VerifierServer::BuildAndStart(options, &clock);
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<VerifierServer> verifier = *std::move(started);
  auto channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", verifier->grpc_port()),
                          grpc::InsecureChannelCredentials());
  auto stub = v1::Verifier::NewStub(channel);
  const std::string http = absl::StrCat("127.0.0.1:", verifier->http_port());
  ASSERT_TRUE(
      WaitFor([&] { return Check(stub.get(), doomed.secret()).allowed(); },
              kPropagationBound));
  ASSERT_EQ(verifier->metrics().snapshots(), 1u);
  const int64_t revision_before = verifier->cache().state().revision;

  // Crash. The verifier notices the stream is gone but keeps answering from its
  // cache.
  const std::string address = token_service_->address();
  token_service_->Stop(SIGKILL);
  token_service_.reset();
  ASSERT_TRUE(WaitFor([&] { return verifier->metrics().reconnects() >= 1; },
                      kPropagationBound));
  EXPECT_TRUE(Check(stub.get(), kept.secret()).allowed());
  EXPECT_EQ(HttpGet(http, "/readyz").status, 200);

  // Past max-staleness it fails closed, on every front.
  clock.Advance(options.max_staleness + absl::Seconds(1));
  EXPECT_EQ(Check(stub.get(), kept.secret()).reason(), v1::NOT_READY);
  EXPECT_EQ(HttpGet(http, "/readyz").status, 503);
  EXPECT_TRUE(WaitFor(
      [&] {
        auto health = HealthCheck(channel, "tokens.v1.Verifier");
        return health.ok() && *health == 2;
      },
      kPropagationBound));

  // A change happens while the verifier cannot see it: another TokenService on
  // another port.
  v1::CreateTokenResponse added;
  {
    std::unique_ptr<ServerProcess> elsewhere = StartTokenService("127.0.0.1:0");
    ASSERT_NE(elsewhere, nullptr);
    AdminClient other_admin(elsewhere->address(), admin_key_);
    other_admin.Delete(doomed.token().id());
    added = other_admin.Create("added while away");
    elsewhere->Stop(SIGTERM);
  }

  // Back on the same port and data directory: the verifier resumes from its
  // revision.
  token_service_ = StartTokenService(address);
  ASSERT_NE(token_service_, nullptr);
  EXPECT_TRUE(WaitFor([&] { return verifier->IsReady(); }, kPropagationBound));
  EXPECT_TRUE(
      WaitFor([&] { return Check(stub.get(), added.secret()).allowed(); },
              kPropagationBound));
  EXPECT_EQ(Check(stub.get(), doomed.secret()).reason(), v1::REVOKED_TOKEN);
  EXPECT_TRUE(Check(stub.get(), kept.secret()).allowed());
  EXPECT_EQ(HttpGet(http, "/readyz").status, 200);
  EXPECT_EQ(verifier->metrics().snapshots(), 1u)
      << "caught up without a snapshot";
  EXPECT_GT(verifier->cache().state().revision, revision_before);
  HttpResult metrics = HttpGet(http, "/metrics");
  EXPECT_NE(metrics.body.find("token_verifier_snapshots_total 1\n"),
            std::string::npos);
  verifier->Shutdown(absl::Seconds(1));
}

}  // namespace
}  // namespace tokens::testing
