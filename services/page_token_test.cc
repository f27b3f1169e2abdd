#include "services/page_token.h"

#include "gtest/gtest.h"

namespace tokens {
namespace {

TEST(PageTokenTest, RoundTrips) {
  PageTokenCodec codec(std::string(32, 'k'));
  auto payload = codec.Decode(codec.Encode("tokens|dep|123|tok_a"));
  ASSERT_TRUE(payload.ok());
  EXPECT_EQ(*payload, "tokens|dep|123|tok_a");
}

TEST(PageTokenTest, RejectsTamperedToken) {
  PageTokenCodec codec(std::string(32, 'k'));
  std::string token = codec.Encode("tokens|dep|123|tok_a");
  token[2] = token[2] == 'A' ? 'B' : 'A';
  auto payload = codec.Decode(token);
  EXPECT_EQ(payload.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(payload.status().message()).find("page_token"),
            std::string::npos);
}

TEST(PageTokenTest, RejectsGarbageAndOtherKeys) {
  PageTokenCodec codec(std::string(32, 'k'));
  PageTokenCodec other(std::string(32, 'o'));
  EXPECT_FALSE(codec.Decode("garbage!!").ok());
  EXPECT_FALSE(codec.Decode("").ok());
  EXPECT_FALSE(codec.Decode(other.Encode("tokens|dep|1|x")).ok());
}

TEST(PageTokenTest, TokenPageKeepsEveryCursorField) {
  PageTokenCodec codec(std::string(32, 'k'));
  const TokenListing listing{"dep", TokenOrder::kName,
                             absl::FromUnixSeconds(1800000000)};
  ListCursor cursor;
  cursor.time = absl::InfiniteFuture();
  cursor.name = "a|name with | bars";
  cursor.id = "tok_a";
  auto decoded =
      codec.DecodeTokenPage(codec.EncodeTokenPage(listing, cursor), listing);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->time, absl::InfiniteFuture());
  EXPECT_EQ(decoded->name, cursor.name);
  EXPECT_EQ(decoded->id, "tok_a");

  cursor.time = absl::FromUnixMicros(1234567);
  decoded =
      codec.DecodeTokenPage(codec.EncodeTokenPage(listing, cursor), listing);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->time, absl::FromUnixMicros(1234567));
}

// A page token continues only the listing it was made for.
TEST(PageTokenTest, TokenPageRefusesAnotherOrderFilterOrDeployment) {
  PageTokenCodec codec(std::string(32, 'k'));
  const TokenListing listing{"dep", TokenOrder::kExpireTime,
                             absl::FromUnixSeconds(1800000000)};
  const std::string token = codec.EncodeTokenPage(listing, ListCursor{});
  for (const TokenListing& other :
       {TokenListing{"dep", TokenOrder::kCreateTime,
                     absl::FromUnixSeconds(1800000000)},
        TokenListing{"dep", TokenOrder::kExpireTime, absl::InfiniteFuture()},
        TokenListing{"dep-2", TokenOrder::kExpireTime,
                     absl::FromUnixSeconds(1800000000)}}) {
    auto decoded = codec.DecodeTokenPage(token, other);
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(decoded.status().message()).find("page_token"),
              std::string::npos);
  }
  EXPECT_TRUE(codec.DecodeTokenPage(token, listing).ok());
}

}  // namespace
}  // namespace tokens
