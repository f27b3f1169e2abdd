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

}  // namespace
}  // namespace tokens
