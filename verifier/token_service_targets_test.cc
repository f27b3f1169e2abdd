// TokenServiceTargets: parsing --token-service, the current address and its
// metrics.
#include "verifier/token_service_targets.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tokens {
namespace {

using Addresses = std::vector<std::string>;

TEST(ParseTokenServiceTargetsTest, OneAddressAsBefore) {
  auto one = ParseTokenServiceTargets("127.0.0.1:50051");
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(*one, Addresses{"127.0.0.1:50051"});
}

TEST(ParseTokenServiceTargetsTest, AnyGrpcTargetsSeparatedByCommas) {
  auto many = ParseTokenServiceTargets(
      "tokens-a:50051, dns:///tokens.example:50051 ,ipv6:[::1]:50051,"
      "unix:/run/tokens.sock");
  ASSERT_TRUE(many.ok()) << many.status();
  EXPECT_EQ(*many, (Addresses{"tokens-a:50051", "dns:///tokens.example:50051",
                              "ipv6:[::1]:50051", "unix:/run/tokens.sock"}));
}

TEST(ParseTokenServiceTargetsTest, RejectsEmptyOddAndRepeatedEntries) {
  for (const char* bad : {"", " ", "a:1,", ",a:1", "a:1,,b:2", "a:1, ,b:2",
                          "a b:1", "a:1,\"b\"", "a\\b:1", "a:1,b:2,a:1"}) {
    auto parsed = ParseTokenServiceTargets(bad);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument)
        << "\"" << bad << "\"";
    EXPECT_EQ(parsed.status().message().rfind("--token-service", 0), 0u)
        << parsed.status();
  }
}

TEST(TokenServiceTargetsTest, OneChannelPerAddressAndTheCurrentOneInMetrics) {
  auto targets = TokenServiceTargets::Connect(
      {"127.0.0.1:1", "127.0.0.1:2"}, grpc::InsecureChannelCredentials());
  ASSERT_EQ(targets->size(), 2u);
  EXPECT_EQ(targets->address(1), "127.0.0.1:2");
  EXPECT_NE(targets->stub(0), targets->stub(1));
  EXPECT_EQ(targets->current(), 0u);
  const std::string before = targets->Render();
  EXPECT_NE(before.find(
                "token_verifier_feed_target_info{target=\"127.0.0.1:1\"} 1\n"),
            std::string::npos)
      << before;
  EXPECT_NE(before.find("token_verifier_feed_failovers_total 0\n"),
            std::string::npos);

  targets->MoveTo(0);  // not a move
  EXPECT_EQ(targets->failovers(), 0u);
  targets->MoveTo(1);
  EXPECT_EQ(targets->current(), 1u);
  EXPECT_EQ(targets->failovers(), 1u);
  const std::string after = targets->Render();
  EXPECT_NE(
      after.find("token_verifier_feed_target_info{target=\"127.0.0.1:2\"} 1\n"),
      std::string::npos)
      << after;
  EXPECT_EQ(after.find("127.0.0.1:1"), std::string::npos);
  EXPECT_NE(after.find("token_verifier_feed_failovers_total 1\n"),
            std::string::npos);
}

TEST(TokenServiceTargetsTest, LabelValuesAreEscaped) {
  std::vector<TokenServiceTargets::Target> list;
  list.push_back(
      {"odd\"name\\",
       grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials())});
  TokenServiceTargets targets(std::move(list));
  EXPECT_NE(targets.Render().find("{target=\"odd\\\"name\\\\\"} 1"),
            std::string::npos)
      << targets.Render();
}

}  // namespace
}  // namespace tokens
