// Envoy ext_authz v3 against a real TokenService and a real verifier: a client
// built from the in-repo Envoy protos sends CheckRequests shaped as Envoy
// sends them (lower-cased header map, path with query, per-route context
// extensions, the downstream source address) for every row of the decision
// table. Also: server reflection lists the service, and gRPC health answers
// from the same state as /readyz at every step.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <string>

#include "envoy/service/auth/v3/external_auth.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/testing/raw_grpc.h"
#include "tests/testing/server_process.h"
#include "tests/verifier/verifier_fixture.h"

namespace tokens::testing {
namespace {

namespace auth = envoy::service::auth::v3;

constexpr char kDeployment[] = "dep-1";

struct EnvoyAnswer {
  int code = -1;         // status.code
  int http_status = 0;   // denied_response.status.code (0 when allowed)
  std::string reason;    // x-token-reason of a denial
  std::string token_id;  // x-token-id of an allowance
  std::string retry_after;
  std::string everything;  // the whole response, to look for leaks
};

std::string HeaderOf(const google::protobuf::RepeatedPtrField<
                         envoy::config::core::v3::HeaderValueOption>& headers,
                     const std::string& key) {
  for (const auto& option : headers) {
    if (option.header().key() == key) return option.header().value();
  }
  return {};
}

class ExtAuthzTest : public VerifierTest {
 protected:
  void StartWith(VerifierOptions options) {
    StartVerifier(std::move(options));
    ext_authz_ = auth::Authorization::NewStub(verifier_channel_);
  }

  // A CheckRequest as Envoy's HTTP filter builds it.
  static auth::CheckRequest EnvoyRequest(const std::string& authorization,
                                         const std::string& deployment,
                                         const std::string& operation) {
    auth::CheckRequest request;
    auto* attributes = request.mutable_attributes();
    auto* address = attributes->mutable_source()
                        ->mutable_address()
                        ->mutable_socket_address();
    address->set_address("203.0.113.7");
    address->set_port_value(51234);
    auto* http = attributes->mutable_request()->mutable_http();
    http->set_method("GET");
    http->set_path("/api/v1/deployments/dep-1?verbose=1");
    http->set_host("app.example");
    http->set_scheme("https");
    http->set_protocol("HTTP/1.1");
    (*http->mutable_headers())[":authority"] = "app.example";
    (*http->mutable_headers())["user-agent"] = "curl/8.0";
    if (!authorization.empty()) {
      (*http->mutable_headers())["authorization"] = authorization;
    }
    if (!deployment.empty()) {
      (*attributes->mutable_context_extensions())["deployment_id"] = deployment;
    }
    if (!operation.empty()) {
      (*attributes->mutable_context_extensions())["operation"] = operation;
    }
    return request;
  }

  EnvoyAnswer Ask(const auth::CheckRequest& request) {
    grpc::ClientContext context;
    auth::CheckResponse response;
    grpc::Status status = ext_authz_->Check(&context, request, &response);
    EXPECT_TRUE(status.ok())
        << "a decision must be a successful RPC: " << status.error_message();
    EnvoyAnswer answer;
    answer.code = response.status().code();
    answer.everything = response.DebugString();
    if (response.has_denied_response()) {
      answer.http_status = response.denied_response().status().code();
      answer.reason =
          HeaderOf(response.denied_response().headers(), "x-token-reason");
      answer.retry_after =
          HeaderOf(response.denied_response().headers(), "retry-after");
    }
    if (response.has_ok_response()) {
      answer.token_id =
          HeaderOf(response.ok_response().headers(), "x-token-id");
    }
    return answer;
  }

  EnvoyAnswer Ask(const std::string& authorization,
                  const std::string& deployment, const std::string& operation) {
    return Ask(EnvoyRequest(authorization, deployment, operation));
  }

  std::unique_ptr<auth::Authorization::Stub> ext_authz_;
};

TEST_F(ExtAuthzTest, DecisionTableAsEnvoyAsks) {
  VerifierOptions options = DefaultVerifierOptions();
  options.max_staleness = absl::Hours(48);  // the clock moves past expiry
  StartWith(options);
  v1::CreateTokenResponse token = Create(kDeployment, "ci", 1);
  ASSERT_EQ(
      WaitForReason(token.secret(), kDeployment, "deployment.get", v1::ALLOWED)
          .reason(),
      v1::ALLOWED);
  const std::string bearer = "Bearer " + token.secret();
  // A deleted token's value.
  v1::CreateTokenResponse gone = Create(kDeployment, "gone", 1);
  {
    v1::DeleteTokenRequest request;
    request.set_id(gone.token().id());
    google::protobuf::Empty empty;
    ASSERT_TRUE(stub_->DeleteToken(AsAdmin().get(), request, &empty).ok());
  }
  ASSERT_EQ(WaitForReason(gone.secret(), kDeployment, "deployment.get",
                          v1::REVOKED_TOKEN)
                .reason(),
            v1::REVOKED_TOKEN);

  EnvoyAnswer allowed = Ask(bearer, kDeployment, "deployment.get");
  EXPECT_EQ(allowed.code, 0);
  EXPECT_EQ(allowed.http_status, 0);
  EXPECT_EQ(allowed.token_id, token.token().id());
  // The scheme is case-insensitive.
  EXPECT_EQ(Ask("bearer " + token.secret(), kDeployment, "deployment.get").code,
            0);

  struct Row {
    std::string authorization, deployment, operation;
    int code, http_status;
    std::string reason;
  };
  const Row rows[] = {
      {"Bearer dpt_garbage", kDeployment, "deployment.get", 16, 401,
       "MALFORMED_TOKEN"},
      {"", kDeployment, "deployment.get", 16, 401, "MALFORMED_TOKEN"},
      {"Basic dXNlcjpwdw==", kDeployment, "deployment.get", 16, 401,
       "MALFORMED_TOKEN"},
      {"Bearer " + *GenerateTokenValue(), kDeployment, "deployment.get", 16,
       401, "UNKNOWN_TOKEN"},
      {"Bearer " + gone.secret(), kDeployment, "deployment.get", 16, 401,
       "REVOKED_TOKEN"},
      {bearer, "dep-2", "deployment.get", 7, 403, "WRONG_DEPLOYMENT"},
      {bearer, kDeployment, "no.such.operation", 7, 403, "UNKNOWN_OPERATION"},
      {bearer, "", "deployment.get", 7, 403, "INVALID_REQUEST"},
      {bearer, kDeployment, "", 7, 403, "INVALID_REQUEST"},
      {bearer, std::string(300, 'd'), "deployment.get", 7, 403,
       "INVALID_REQUEST"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.reason + " " + row.authorization.substr(0, 12));
    EnvoyAnswer answer = Ask(row.authorization, row.deployment, row.operation);
    EXPECT_EQ(answer.code, row.code);
    EXPECT_EQ(answer.http_status, row.http_status);
    EXPECT_EQ(answer.reason, row.reason);
    EXPECT_EQ(answer.everything.find(token.secret()), std::string::npos);
  }

  // An operation the token's role may not perform.
  EnvoyAnswer not_permitted = Ask(bearer, kDeployment, "deployment.delete");
  if (not_permitted.code != 0) {
    EXPECT_EQ(not_permitted.code, 7);
    EXPECT_EQ(not_permitted.http_status, 403);
    EXPECT_EQ(not_permitted.reason, "OPERATION_NOT_PERMITTED");
  }

  // Headers instead of context extensions.
  auth::CheckRequest by_headers = EnvoyRequest(bearer, "", "");
  auto* headers = by_headers.mutable_attributes()
                      ->mutable_request()
                      ->mutable_http()
                      ->mutable_headers();
  (*headers)["x-deployment-id"] = kDeployment;
  (*headers)["x-operation"] = "deployment.get";
  EXPECT_EQ(Ask(by_headers).code, 0);
  // Context extensions win over headers a client could set.
  (*by_headers.mutable_attributes()
        ->mutable_context_extensions())["deployment_id"] = "dep-2";
  EXPECT_EQ(Ask(by_headers).reason, "WRONG_DEPLOYMENT");

  // Expired.
  clock_.Advance(absl::Hours(24));
  EnvoyAnswer expired = Ask(bearer, kDeployment, "deployment.get");
  EXPECT_EQ(expired.code, 16);
  EXPECT_EQ(expired.http_status, 401);
  EXPECT_EQ(expired.reason, "EXPIRED");
}

TEST_F(ExtAuthzTest, NotReadyIsUnavailableWith503) {
  VerifierOptions options = DefaultVerifierOptions();
  StopServer();  // nothing to sync from
  StartWith(options);
  EnvoyAnswer answer =
      Ask("Bearer " + *GenerateTokenValue(), kDeployment, "deployment.get");
  EXPECT_EQ(answer.code, 14);
  EXPECT_EQ(answer.http_status, 503);
  EXPECT_EQ(answer.reason, "NOT_READY");
}

TEST_F(ExtAuthzTest, DeploymentDefaultsToTheSidecarsDeployment) {
  VerifierOptions options = DefaultVerifierOptions();
  options.deployment = kDeployment;
  StartWith(options);
  v1::CreateTokenResponse token = Create(kDeployment, "ci");
  ASSERT_EQ(
      WaitForReason(token.secret(), kDeployment, "deployment.get", v1::ALLOWED)
          .reason(),
      v1::ALLOWED);
  EXPECT_EQ(Ask("Bearer " + token.secret(), "", "deployment.get").code, 0);
  // Still no operation: denied.
  EXPECT_EQ(Ask("Bearer " + token.secret(), "", "").http_status, 403);
}

TEST_F(ExtAuthzTest, ThrottlesTheDownstreamClientEnvoyNames) {
  VerifierOptions options = DefaultVerifierOptions();
  options.throttle.burst = 3;
  options.throttle.refill_per_second = 0.001;
  StartWith(options);
  v1::CreateTokenResponse token = Create(kDeployment, "ci");
  ASSERT_EQ(
      WaitForReason(token.secret(), kDeployment, "deployment.get", v1::ALLOWED)
          .reason(),
      v1::ALLOWED);
  auto from = [&](const std::string& source, const std::string& value) {
    auth::CheckRequest request =
        EnvoyRequest("Bearer " + value, kDeployment, "deployment.get");
    request.mutable_attributes()
        ->mutable_source()
        ->mutable_address()
        ->mutable_socket_address()
        ->set_address(source);
    return Ask(request);
  };
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(from("198.51.100.1", *GenerateTokenValue()).reason,
              "UNKNOWN_TOKEN");
  }
  EnvoyAnswer throttled = from("198.51.100.1", *GenerateTokenValue());
  EXPECT_EQ(throttled.code, 16);
  EXPECT_EQ(throttled.http_status, 401);
  EXPECT_EQ(throttled.reason, "THROTTLED");
  EXPECT_EQ(throttled.retry_after, "1");
  // Another downstream client behind the same Envoy is not slowed down, and
  // the throttled one's valid token passes.
  EXPECT_EQ(from("198.51.100.2", *GenerateTokenValue()).reason,
            "UNKNOWN_TOKEN");
  EXPECT_EQ(from("198.51.100.1", token.secret()).code, 0);
}

TEST_F(ExtAuthzTest, ReflectionListsAuthorizationAndHealth) {
  StartWith(DefaultVerifierOptions());
  auto services = ReflectionListServices(verifier_channel_);
  ASSERT_TRUE(services.ok()) << services.status();
  for (const char* name : {"envoy.service.auth.v3.Authorization",
                           "tokens.v1.Verifier", "grpc.health.v1.Health"}) {
    EXPECT_NE(std::find(services->begin(), services->end(), name),
              services->end())
        << name;
  }
}

// gRPC health and /readyz come from one source: at every step they agree at
// once, with no wait in between, in both directions.
TEST_F(ExtAuthzTest, GrpcHealthAndReadyzChangeTogether) {
  StartWith(DefaultVerifierOptions());
  ASSERT_TRUE(WaitUntilReady());
  auto agree = [&](int want_http, int want_health) {
    EXPECT_EQ(Http("/readyz").status, want_http);
    for (const char* service :
         {"", "tokens.v1.Verifier", "envoy.service.auth.v3.Authorization"}) {
      auto health = HealthCheck(verifier_channel_, service);
      ASSERT_TRUE(health.ok()) << health.status();
      EXPECT_EQ(*health, want_health) << service;
    }
  };
  agree(200, 1);
  clock_.Advance(absl::Seconds(31));  // past max-staleness
  agree(503, 2);
  // Liveness stays SERVING while only readiness is lost.
  auto alive = HealthCheck(verifier_channel_, "liveness");
  ASSERT_TRUE(alive.ok()) << alive.status();
  EXPECT_EQ(*alive, 1);
  ASSERT_TRUE(WaitUntilReady());  // the next heartbeat
  agree(200, 1);
  EXPECT_FALSE(HealthCheck(verifier_channel_, "no.such.Service").ok());
}

}  // namespace
}  // namespace tokens::testing
