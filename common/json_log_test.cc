#include "common/json_log.h"

#include "gtest/gtest.h"

namespace tokens {
namespace {

TEST(JsonEscapeTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(JsonEscape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(JsonEscape(std::string("\x01", 1)), "\\u0001");
}

TEST(JsonEscapeTest, NonAsciiBytesStayValidJson) {
  EXPECT_EQ(JsonEscape("\xff"), "\\u00ff");
}

}  // namespace
}  // namespace tokens
