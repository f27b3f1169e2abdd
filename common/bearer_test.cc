#include "common/bearer.h"

#include "gtest/gtest.h"

namespace tokens {
namespace {

TEST(BearerCredentialTest, SchemeIsCaseInsensitive) {
  EXPECT_EQ(BearerCredential("Bearer abc"), "abc");
  EXPECT_EQ(BearerCredential("bearer abc"), "abc");
  EXPECT_EQ(BearerCredential("BEARER abc"), "abc");
  EXPECT_EQ(BearerCredential("bEaReR abc"), "abc");
}

TEST(BearerCredentialTest, BlanksAreSkipped) {
  EXPECT_EQ(BearerCredential("  Bearer \t abc  "), "abc");
}

TEST(BearerCredentialTest, OtherShapesAreEmpty) {
  EXPECT_EQ(BearerCredential(""), "");
  EXPECT_EQ(BearerCredential("Bearer"), "");
  EXPECT_EQ(BearerCredential("Bearer   "), "");
  EXPECT_EQ(BearerCredential("Basic abc"), "");
  EXPECT_EQ(BearerCredential("Bearerabc"), "");
  EXPECT_EQ(BearerCredential("abc"), "");
}

}  // namespace
}  // namespace tokens
