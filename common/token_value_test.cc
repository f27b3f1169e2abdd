#include "common/token_value.h"

#include <set>

#include "gtest/gtest.h"

namespace tokens {
namespace {

TEST(TokenValueTest, GeneratedValueHasTheDocumentedShape) {
  auto value = GenerateTokenValue();
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(value->size(), kTokenLength);
  EXPECT_EQ(value->substr(0, 4), "dpt_");
  EXPECT_LE(value->size(), kMaxTokenLength);
  EXPECT_TRUE(IsWellFormedTokenValue(*value));
}

TEST(TokenValueTest, GeneratedValuesAreDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(*GenerateTokenValue());
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(TokenValueTest, RejectsWrongPrefix) {
  std::string value = *GenerateTokenValue();
  value[0] = 'x';
  EXPECT_FALSE(IsWellFormedTokenValue(value));
}

TEST(TokenValueTest, RejectsWrongLength) {
  std::string value = *GenerateTokenValue();
  EXPECT_FALSE(IsWellFormedTokenValue(value.substr(0, value.size() - 1)));
  EXPECT_FALSE(IsWellFormedTokenValue(value + "a"));
  EXPECT_FALSE(IsWellFormedTokenValue(""));
  EXPECT_FALSE(IsWellFormedTokenValue(std::string(10000, 'a')));
}

TEST(TokenValueTest, RejectsWrongCharacters) {
  std::string value = *GenerateTokenValue();
  value[10] = '-';
  EXPECT_FALSE(IsWellFormedTokenValue(value));
  value[10] = '\xc3';
  EXPECT_FALSE(IsWellFormedTokenValue(value));
}

TEST(TokenValueTest, RejectsWrongChecksum) {
  std::string value = *GenerateTokenValue();
  // Change one body character: the checksum no longer matches.
  value[8] = value[8] == 'a' ? 'b' : 'a';
  EXPECT_FALSE(IsWellFormedTokenValue(value));
}

TEST(TokenValueTest, DigestIsSha256) {
  // SHA-256("abc"), FIPS 180-2 test vector.
  Digest d = DigestOf("abc");
  EXPECT_EQ(DigestPrefixHex(d), "ba7816bf8f01");
  Digest round;
  ASSERT_TRUE(DigestFromBytes(DigestToBytes(d), &round));
  EXPECT_EQ(round, d);
  EXPECT_FALSE(DigestFromBytes("short", &round));
}

TEST(TokenValueTest, ShortHintRevealsOnlyEightCharacters) {
  std::string value = *GenerateTokenValue();
  std::string hint = ShortTokenHint(value);
  EXPECT_EQ(hint.substr(0, 8), value.substr(0, 8));
  EXPECT_EQ(hint.substr(hint.size() - 4), value.substr(value.size() - 4));
  EXPECT_EQ(hint.find(value.substr(8, 20)), std::string::npos);
}

TEST(TokenValueTest, TokenIdsHaveThePrefixAndLength) {
  const absl::Time now = absl::FromUnixMillis(1764633600123);
  std::string id = *GenerateTokenId(now);
  EXPECT_EQ(id.substr(0, 4), "tok_");
  EXPECT_EQ(id.size(), 30u);
  EXPECT_EQ(id.find_first_not_of("abcdefghijklmnopqrstuvwxyz234567", 4),
            std::string::npos);
  EXPECT_NE(id, *GenerateTokenId(now));  // 80 random bits
}

TEST(TokenValueTest, TokenIdsSortByTheirTime) {
  const absl::Time t0 = absl::FromUnixMillis(1764633600000);
  std::string previous = *GenerateTokenId(t0);
  for (absl::Duration step :
       {absl::Milliseconds(1), absl::Seconds(1), absl::Hours(24 * 365 * 100)}) {
    const std::string id = *GenerateTokenId(t0 + step);
    EXPECT_LT(previous, id) << step;
    previous = id;
  }
  // The same millisecond: the same 10-character time part.
  EXPECT_EQ(GenerateTokenId(t0)->substr(0, 14),
            GenerateTokenId(t0)->substr(0, 14));
}

}  // namespace
}  // namespace tokens
