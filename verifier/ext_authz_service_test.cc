// AnswerExtAuthz without a server: the mapping of decisions to Envoy answers.
#include "verifier/ext_authz_service.h"

#include <string>

#include "gtest/gtest.h"
#include "verifier/test_support.h"

namespace tokens {
namespace {

namespace auth = envoy::service::auth::v3;
using testing_support::CoreFixture;
using testing_support::NewTokenValue;
using testing_support::Revoked;
using testing_support::Upsert;

auth::CheckRequest Request(const std::string& token) {
  auth::CheckRequest request;
  auto* http = request.mutable_attributes()->mutable_request()->mutable_http();
  (*http->mutable_headers())["authorization"] = "Bearer " + token;
  (*http->mutable_headers())["x-operation"] = "deployment.get";
  return request;
}

std::string HeaderOf(const auth::CheckResponse& response,
                     const std::string& key) {
  for (const auto& option : response.denied_response().headers()) {
    if (option.header().key() == key) return option.header().value();
  }
  return "";
}

TEST(ExtAuthzTest, RevokedValueIsUnauthenticatedWithItsReason) {
  CoreFixture f;
  const std::string live = NewTokenValue();
  const std::string revoked = NewTokenValue();
  f.Sync({Upsert(1, "tok_a", "dep-1", live)},
         {Revoked(revoked, "tok_gone", f.clock.Now())});
  auth::CheckResponse response;
  AnswerExtAuthz(
      &f.core, "dep-1", Request(revoked),
      [] { return std::string("ipv4:10.0.0.1:1"); }, &response);
  EXPECT_EQ(response.status().code(), 16);  // UNAUTHENTICATED
  EXPECT_EQ(static_cast<int>(response.denied_response().status().code()), 401);
  EXPECT_EQ(HeaderOf(response, "x-token-reason"), "REVOKED_TOKEN");
  EXPECT_EQ(response.denied_response().body(), "REVOKED_TOKEN\n");

  auth::CheckResponse allowed;
  AnswerExtAuthz(
      &f.core, "dep-1", Request(live),
      [] { return std::string("ipv4:10.0.0.1:1"); }, &allowed);
  EXPECT_EQ(allowed.status().code(), 0);
}

}  // namespace
}  // namespace tokens
