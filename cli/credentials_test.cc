#include "cli/credentials.h"

#include <map>

#include "common/token_value.h"
#include "gtest/gtest.h"

namespace tokens::cli {
namespace {

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

class CredentialsTest : public ::testing::Test {
 protected:
  std::string token_ = *GenerateTokenValue();
  std::string legacy_ = *GenerateTokenValue();
};

TEST_F(CredentialsTest, AstroApiTokenIsUsedWithoutWarnings) {
  auto token = ResolveApiToken(Env({{"ASTRO_API_TOKEN", token_}}));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->value, token_);
  EXPECT_EQ(token->source, "ASTRO_API_TOKEN");
  EXPECT_TRUE(token->warnings.empty());
}

TEST_F(CredentialsTest, TokenTakesPrecedenceOverDeprecatedPair) {
  auto token = ResolveApiToken(Env({{"ASTRO_API_TOKEN", token_},
                                    {"ASTRONOMER_KEY_ID", "key-1"},
                                    {"ASTRONOMER_KEY_SECRET", legacy_}}));
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(token->value, token_);
  ASSERT_EQ(token->warnings.size(), 1u);
  EXPECT_NE(token->warnings[0].find("ignored"), std::string::npos);
  EXPECT_EQ(token->warnings[0].find(legacy_), std::string::npos);
}

TEST_F(CredentialsTest, DeprecatedPairSecretIsTheTokenWithAWarning) {
  auto token = ResolveApiToken(Env(
      {{"ASTRONOMER_KEY_ID", "key-1"}, {"ASTRONOMER_KEY_SECRET", legacy_}}));
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(token->value, legacy_);
  EXPECT_EQ(token->source, "ASTRONOMER_KEY_SECRET");
  ASSERT_EQ(token->warnings.size(), 1u);
  EXPECT_NE(token->warnings[0].find("deprecated"), std::string::npos);
}

TEST_F(CredentialsTest, EmptyTokenFallsBackToThePair) {
  auto token = ResolveApiToken(Env({{"ASTRO_API_TOKEN", ""},
                                    {"ASTRONOMER_KEY_ID", "key-1"},
                                    {"ASTRONOMER_KEY_SECRET", legacy_}}));
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(token->value, legacy_);
}

TEST_F(CredentialsTest, IncompletePairNamesTheMissingVariable) {
  auto token = ResolveApiToken(Env({{"ASTRONOMER_KEY_ID", "key-1"}}));
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(token.status().message().find("ASTRONOMER_KEY_SECRET"),
            std::string::npos);
}

TEST_F(CredentialsTest, NothingSetAsksForAstroApiToken) {
  auto token = ResolveApiToken(Env({}));
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(token.status().message().find("ASTRO_API_TOKEN"),
            std::string::npos);
}

TEST_F(CredentialsTest, MalformedTokenIsRejectedWithoutShowingIt) {
  std::string broken = token_;
  broken.back() = broken.back() == 'a' ? 'b' : 'a';  // bad checksum
  auto token = ResolveApiToken(Env({{"ASTRO_API_TOKEN", broken}}));
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(token.status().message().find("ASTRO_API_TOKEN is malformed"),
            std::string::npos);
  EXPECT_EQ(token.status().message().find(broken), std::string::npos);
}

TEST(FlagEnvOrDefaultTest, FlagThenEnvironmentThenDefault) {
  auto env = Env({{"TOKENS_SERVICE_ADDR", "10.0.0.1:1"}});
  EXPECT_EQ(FlagEnvOrDefault("h:2", env, "TOKENS_SERVICE_ADDR", "d:3"), "h:2");
  EXPECT_EQ(FlagEnvOrDefault(std::nullopt, env, "TOKENS_SERVICE_ADDR", "d:3"),
            "10.0.0.1:1");
  EXPECT_EQ(FlagEnvOrDefault(std::nullopt, Env({}), "TOKENS_SERVICE_ADDR",
                             kDefaultServiceAddress),
            "127.0.0.1:50051");
}

TEST(ReadAdminKeyTest, MissingFileIsUnauthenticatedNamingThePath) {
  auto key = ReadAdminKey("/nonexistent/admin.key");
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(key.status().message().find("/nonexistent/admin.key"),
            std::string::npos);
}

}  // namespace
}  // namespace tokens::cli
