#include "common/json_log.h"

#include <string>

#include "gtest/gtest.h"

namespace tokens {
namespace {

TEST(JsonEscapeTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(JsonEscape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(JsonEscape(std::string("\x01", 1)), "\\u0001");
  EXPECT_EQ(JsonEscape("\x7f"), "\\u007f");
}

TEST(JsonEscapeTest, NonAsciiBytesStayValidJson) {
  EXPECT_EQ(JsonEscape("\xff"), "\\u00ff");
}

TEST(JsonEscapeTest, WellFormedUtf8PassesThrough) {
  EXPECT_EQ(JsonEscape("caf\xc3\xa9"), "caf\xc3\xa9");  // é
  EXPECT_EQ(JsonEscape("\xe5\x90\x8d\xe5\x89\x8d"),     // 名前
            "\xe5\x90\x8d\xe5\x89\x8d");
  EXPECT_EQ(JsonEscape("\xf0\x9f\x94\x91 key"), "\xf0\x9f\x94\x91 key");  // 🔑
}

TEST(JsonEscapeTest, InvalidByteIsEscapedAndTheRestKept) {
  EXPECT_EQ(JsonEscape("a\x80z"), "a\\u0080z");  // a lone continuation byte
  EXPECT_EQ(JsonEscape("\xc3\xa9\xfe\xc3\xa9"), "\xc3\xa9\\u00fe\xc3\xa9");
}

TEST(JsonEscapeTest, TruncatedSequenceIsEscapedByteByByte) {
  // The first two bytes of 名 (three), then ASCII; and at the very end.
  EXPECT_EQ(JsonEscape("\xe5\x90z"), "\\u00e5\\u0090z");
  EXPECT_EQ(JsonEscape("ab\xe5\x90"), "ab\\u00e5\\u0090");
}

TEST(JsonEscapeTest, OverlongEncodingIsEscaped) {
  // "/" as two bytes and NUL as two: well-formed UTF-8 never encodes them so.
  EXPECT_EQ(JsonEscape("\xc0\xaf"), "\\u00c0\\u00af");
  EXPECT_EQ(JsonEscape("\xe0\x80\xaf"), "\\u00e0\\u0080\\u00af");
  EXPECT_EQ(JsonEscape("\xc0\x80"), "\\u00c0\\u0080");
}

TEST(JsonEscapeTest, SurrogatesAndCodePointsPastUnicodeAreEscaped) {
  EXPECT_EQ(JsonEscape("\xed\xa0\x80"), "\\u00ed\\u00a0\\u0080");  // U+D800
  EXPECT_EQ(JsonEscape("\xf4\x90\x80\x80"),                        // U+110000
            "\\u00f4\\u0090\\u0080\\u0080");
}

}  // namespace
}  // namespace tokens
