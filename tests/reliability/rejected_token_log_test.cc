// Every use of an unknown (never issued, deleted or rotated-away) token is
// logged by the verifier with the first bytes of its digest only: the log
// holds `check.rejected_token` with DigestPrefixHex, never the value.
#include <grpcpp/grpcpp.h>

#include <string>

#include "common/token_value.h"
#include "gtest/gtest.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"
#include "tests/testing/server_process.h"
#include "tests/testing/service_and_verifier.h"

namespace tokens::testing {
namespace {

TEST(RejectedTokenLogTest, UnknownAndRotatedAwayUsesAreLoggedByDigestPrefix) {
  auto system = ServiceAndVerifier::Start(NewTempDir("rejected") + "/var");
  ASSERT_TRUE(system.ok()) << system.status();
  auto created = (*system)->CreateToken("prod", "ci");
  ASSERT_TRUE(created.ok()) << created.status();
  v1::RotateTokenRequest rotate;
  rotate.set_id(created->token().id());
  v1::RotateTokenResponse rotated;
  {
    grpc::ClientContext ctx;
    (*system)->AuthorizeAdmin(&ctx);
    ASSERT_TRUE((*system)->admin().RotateToken(&ctx, rotate, &rotated).ok());
  }
  const std::string old_value = created->secret();
  const std::string never_issued = GenerateTokenValue().value();
  auto reason = [&](const std::string& value) {
    v1::CheckRequest request;
    request.set_token(value);
    request.set_deployment_id("prod");
    request.set_operation("deployment.get");
    v1::CheckResponse response;
    grpc::ClientContext ctx;
    (*system)->check().Check(&ctx, request, &response);
    return response.reason();
  };
  // Wait until the verifier has the rotation.
  ASSERT_TRUE(WaitFor([&] { return reason(rotated.secret()) == v1::ALLOWED; },
                      absl::Seconds(20)));
  EXPECT_EQ(reason(old_value), v1::REVOKED_TOKEN);
  EXPECT_EQ(reason(never_issued), v1::UNKNOWN_TOKEN);

  const std::string old_prefix = DigestPrefixHex(DigestOf(old_value));
  const std::string never_prefix = DigestPrefixHex(DigestOf(never_issued));
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string log = (*system)->verifier().Log();
        return log.find(old_prefix) != std::string::npos &&
               log.find(never_prefix) != std::string::npos;
      },
      absl::Seconds(10)))
      << (*system)->verifier().Log();
  const std::string log = (*system)->verifier().Log();
  EXPECT_NE(log.find("check.rejected_token"), std::string::npos);
  for (const std::string& secret :
       {old_value, never_issued, rotated.secret()}) {
    // Neither the value nor its random body appears anywhere.
    EXPECT_EQ(log.find(secret.substr(4, 40)), std::string::npos);
    EXPECT_EQ((*system)->service().Log().find(secret.substr(4, 40)),
              std::string::npos);
  }
}

}  // namespace
}  // namespace tokens::testing
