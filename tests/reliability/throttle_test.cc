// Abuse control against the real binaries. The verifier trusts only
// 127.0.0.1 as a proxy (--trusted-proxies 127.0.0.1/32), so:
//   * 127.0.0.1 without x-forwarded-for is a trusted caller naming no end
//     client: never throttled (the test waits for the sync through it, so the
//     wait charges nobody);
//   * 127.0.0.1 relaying end client 198.51.100.9 (x-forwarded-for metadata)
//     gets that client's bad tokens refused with RESOURCE_EXHAUSTED after its
//     burst;
//   * 127.0.0.2, a direct untrusted peer, gets 401 + Retry-After (THROTTLED)
//     on forward-auth after its burst, while its valid token still passes;
//   * 127.0.0.3 is not slowed down by either.
// Refusals are counted in token_verifier_throttled_total.
#include <grpcpp/grpcpp.h>

#include <string>
#include <utility>

#include "common/token_value.h"
#include "gtest/gtest.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"
#include "tests/testing/http_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/service_and_verifier.h"

namespace tokens::testing {
namespace {

struct HttpAnswer {
  int status = 0;  // 0 when no answer came
  std::string body;
  std::string reason;       // X-Auth-Reason
  std::string retry_after;  // Retry-After
};

// GET `target` from source address `source` with `token`.
HttpAnswer Authorize(const std::string& source, const std::string& address,
                     const std::string& target, const std::string& token) {
  std::vector<std::pair<std::string, std::string>> headers = {
      {"X-Deployment-Id", "prod"}, {"X-Operation", "deployment.get"}};
  if (!token.empty()) headers.push_back({"Authorization", "Bearer " + token});
  HttpResult result = HttpGet(address, target, headers, source);
  return {result.status, result.status == 0 ? result.error : result.body,
          result.headers["x-auth-reason"], result.headers["retry-after"]};
}

TEST(ThrottleTest, BadTokensSlowOnlyTheEndClientThatSendsThem) {
  // Refill is slow so that the counts below do not depend on timing.
  auto system = ServiceAndVerifier::Start(
      NewTempDir("throttle") + "/var", {},
      {"--failed-check-burst", "20", "--failed-check-rate", "0.01",
       "--trusted-proxies", "127.0.0.1/32"});
  ASSERT_TRUE(system.ok()) << system.status();
  auto created = (*system)->CreateToken("prod", "ci");
  ASSERT_TRUE(created.ok()) << created.status();
  // `forwarded_for` empty: the trusted caller speaks for itself.
  auto grpc_check = [&](const std::string& value,
                        const std::string& forwarded_for,
                        v1::CheckResponse* response) {
    v1::CheckRequest request;
    request.set_token(value);
    request.set_deployment_id("prod");
    request.set_operation("deployment.get");
    grpc::ClientContext ctx;
    if (!forwarded_for.empty()) {
      ctx.AddMetadata("x-forwarded-for", forwarded_for);
    }
    return (*system)->check().Check(&ctx, request, response);
  };
  // Every UNKNOWN_TOKEN answer while the token syncs goes to the trusted
  // caller itself, which is never charged.
  ASSERT_TRUE(WaitFor(
      [&] {
        v1::CheckResponse response;
        return grpc_check(created->secret(), "", &response).ok() &&
               response.reason() == v1::ALLOWED;
      },
      absl::Seconds(20)));

  // End client 198.51.100.9 behind the trusted app: 20 decisions, then
  // refusals.
  int decided = 0;
  int refused = 0;
  for (int i = 0; i < 60; ++i) {
    v1::CheckResponse response;
    grpc::Status status =
        grpc_check(GenerateTokenValue().value(), "198.51.100.9", &response);
    if (status.ok()) {
      EXPECT_EQ(response.reason(), v1::UNKNOWN_TOKEN);
      ++decided;
    } else {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
      ++refused;
    }
  }
  EXPECT_EQ(decided, 20);
  EXPECT_EQ(refused, 40);
  // The trusted app's own bad tokens (naming no end client) still get
  // decisions: one attacker behind it does not take everyone down.
  {
    v1::CheckResponse response;
    ASSERT_TRUE(grpc_check(GenerateTokenValue().value(), "", &response).ok());
    EXPECT_EQ(response.reason(), v1::UNKNOWN_TOKEN);
  }

  // 127.0.0.2 over HTTP forward-auth, a direct untrusted peer: its burst,
  // then 401 THROTTLED with Retry-After (a status nginx passes on).
  const std::string http = (*system)->verifier().http_address();
  for (int i = 0; i < 20; ++i) {
    HttpAnswer answer = Authorize("127.0.0.2", http, "/v1/authorize",
                                  GenerateTokenValue().value());
    ASSERT_EQ(answer.status, 401) << answer.body;
    EXPECT_EQ(answer.reason, "UNKNOWN_TOKEN");
  }
  HttpAnswer throttled = Authorize("127.0.0.2", http, "/v1/authorize",
                                   GenerateTokenValue().value());
  EXPECT_EQ(throttled.status, 401);
  EXPECT_EQ(throttled.reason, "THROTTLED");
  EXPECT_EQ(throttled.retry_after, "1");
  // Its valid token still passes (a peer may be an app relaying many users).
  EXPECT_EQ(
      Authorize("127.0.0.2", http, "/v1/authorize", created->secret()).status,
      200);
  // Another address is not slowed down, and its own bad token is decided.
  for (int i = 0; i < 30; ++i) {
    HttpAnswer answer =
        Authorize("127.0.0.3", http, "/v1/authorize", created->secret());
    ASSERT_EQ(answer.status, 200) << answer.body;
  }
  HttpAnswer other = Authorize("127.0.0.3", http, "/v1/authorize",
                               GenerateTokenValue().value());
  EXPECT_EQ(other.status, 401);
  EXPECT_EQ(other.reason, "UNKNOWN_TOKEN");
  const std::string metrics = Authorize("127.0.0.3", http, "/metrics", "").body;
  EXPECT_NE(metrics.find("\ntoken_verifier_throttled_total 41\n"),
            std::string::npos)
      << metrics;
}

TEST(ThrottleTest, BadTrustedProxiesFlagExitsTwoNamingIt) {
  CommandResult result =
      RunCommand({RunfilePath("verifier/token_verifier"), "--trusted-proxies",
                  "10.0.0.0/33", "--key-file", "/nonexistent"},
                 {});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("--trusted-proxies"), std::string::npos)
      << result.err;
  result =
      RunCommand({RunfilePath("verifier/token_verifier"), "--throttled-status",
                  "500", "--key-file", "/nonexistent"},
                 {});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("--throttled-status"), std::string::npos)
      << result.err;
}

}  // namespace
}  // namespace tokens::testing
