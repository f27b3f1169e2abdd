#include "services/caller_auth.h"

#include "common/token_value.h"
#include "gtest/gtest.h"

namespace tokens {
namespace {

class CallerAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    admin_key_ = *CallerRegistry::GenerateKey();
    verifier_key_ = *CallerRegistry::GenerateKey();
    auto registry = CallerRegistry::Parse(
        "admin admin " + CallerRegistry::KeyDigestHex(admin_key_) + "\n" +
        "verifier verifier " + CallerRegistry::KeyDigestHex(verifier_key_) +
        "\n");
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = *std::move(registry);
  }

  absl::StatusOr<Principal> Auth(const std::string& header, CallerRole role) {
    return AuthenticateCaller(*registry_, &header, role);
  }

  std::string admin_key_;
  std::string verifier_key_;
  std::unique_ptr<CallerRegistry> registry_;
};

TEST_F(CallerAuthTest, KeyOfTheRightRoleIsAccepted) {
  auto admin = Auth("Bearer " + admin_key_, CallerRole::kAdmin);
  ASSERT_TRUE(admin.ok()) << admin.status();
  EXPECT_EQ(admin->role, CallerRole::kAdmin);
  // The scheme is case-insensitive (RFC 7235), as everywhere.
  EXPECT_TRUE(Auth("BEARER " + admin_key_, CallerRole::kAdmin).ok());
  EXPECT_TRUE(Auth("bearer  " + verifier_key_, CallerRole::kVerifier).ok());
}

TEST_F(CallerAuthTest, EveryRefusalNamesAuthorizationAndNeverTheKey) {
  struct Case {
    std::string header;
    CallerRole role;
    absl::StatusCode code;
  };
  const Case cases[] = {
      {"", CallerRole::kAdmin, absl::StatusCode::kUnauthenticated},
      {admin_key_, CallerRole::kAdmin, absl::StatusCode::kUnauthenticated},
      {"Basic " + admin_key_, CallerRole::kAdmin,
       absl::StatusCode::kUnauthenticated},
      {"Bearer tkk_unknown", CallerRole::kAdmin,
       absl::StatusCode::kUnauthenticated},
      {"Bearer " + *GenerateTokenValue(), CallerRole::kAdmin,
       absl::StatusCode::kPermissionDenied},
      {"Bearer " + verifier_key_, CallerRole::kAdmin,
       absl::StatusCode::kPermissionDenied},
      {"Bearer " + admin_key_, CallerRole::kVerifier,
       absl::StatusCode::kPermissionDenied},
  };
  for (const Case& c : cases) {
    auto principal = Auth(c.header, c.role);
    ASSERT_FALSE(principal.ok()) << c.header;
    EXPECT_EQ(principal.status().code(), c.code) << c.header;
    EXPECT_EQ(principal.status().message().find("authorization"), 0u)
        << principal.status();
    EXPECT_EQ(principal.status().message().find(admin_key_), std::string::npos);
    EXPECT_EQ(principal.status().message().find(verifier_key_),
              std::string::npos);
  }
  auto missing = AuthenticateCaller(*registry_, nullptr, CallerRole::kAdmin);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace tokens
