#include "cli/token_scanner.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/token_scanner_reference.h"
#include "common/token_value.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tokens::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<size_t> Find(std::string_view buffer, BufferEdges edges = {}) {
  std::vector<size_t> offsets;
  FindTokenValues(buffer, edges, [&](size_t offset, std::string_view value) {
    EXPECT_EQ(value, buffer.substr(offset, kTokenLength));
    offsets.push_back(offset);
  });
  return offsets;
}

std::string Value() { return *GenerateTokenValue(); }

// The value with its last character changed: the checksum no longer holds.
std::string BadChecksum() {
  std::string value = Value();
  value.back() = value.back() == 'A' ? 'B' : 'A';
  return value;
}

TEST(TokenScannerTest, FindsAValueInText) {
  const std::string value = Value();
  const std::string text = absl::StrCat("export TOKEN=", value, "\n");
  EXPECT_THAT(Find(text), ElementsAre(13));
}

TEST(TokenScannerTest, FindsValuesAtTheEdgesOfTheInput) {
  const std::string value = Value();
  EXPECT_THAT(Find(value), ElementsAre(0));
  EXPECT_THAT(Find(absl::StrCat(value, " ", value)), ElementsAre(0, 54));
  EXPECT_THAT(Find(absl::StrCat(value, "\"", value)), ElementsAre(0, 54));
}

TEST(TokenScannerTest, BadChecksumIsNeverAFinding) {
  EXPECT_THAT(Find(absl::StrCat("token: ", BadChecksum(), "\n")), IsEmpty());
  EXPECT_THAT(Find(std::string("dpt_") + std::string(49, 'a')), IsEmpty());
}

TEST(TokenScannerTest, ValueInsideALongerRunIsNotAFinding) {
  const std::string value = Value();
  for (const char* before : {"x", "0", "_", "Z"}) {
    EXPECT_THAT(Find(absl::StrCat(before, value)), IsEmpty()) << before;
  }
  for (const char* after : {"x", "0", "_", "Z"}) {
    EXPECT_THAT(Find(absl::StrCat(value, after)), IsEmpty()) << after;
  }
  // Punctuation, whitespace, quotes and non-ASCII bytes are boundaries.
  const std::vector<std::string> edges = {
      "-", ".", "/", "=", "'", "\t", "\xc3\xa9", std::string(1, '\0')};
  for (const std::string& edge : edges) {
    EXPECT_EQ(Find(absl::StrCat(edge, value, edge)).size(), 1u) << edge;
  }
}

TEST(TokenScannerTest, EdgesNotAtTheInputAreUndecided) {
  const std::string value = Value();
  EXPECT_THAT(Find(value, {/*at_input_start=*/false, true}), IsEmpty());
  EXPECT_THAT(Find(value, {true, /*at_input_end=*/false}), IsEmpty());
  EXPECT_THAT(Find(absl::StrCat(" ", value, " "), {false, false}),
              ElementsAre(1));
}

TEST(TokenScannerTest, BinaryBytesAroundAValue) {
  const std::string value = Value();
  std::string bytes(300, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = char(i * 37);
  bytes.replace(100, kTokenLength, value);
  bytes[99] = '\0';
  bytes[153] = '\xff';
  EXPECT_THAT(Find(bytes), ElementsAre(100));
}

TEST(TokenScannerTest, AgreesWithTheReferenceOnMixedInput) {
  std::string text;
  for (int i = 0; i < 200; ++i) {
    const std::string value = Value();
    switch (i % 5) {
      case 0:
        absl::StrAppend(&text, "a = \"", value, "\";\n");
        break;
      case 1:
        absl::StrAppend(&text, "x", value, "\n");
        break;
      case 2:
        absl::StrAppend(&text, BadChecksum(), " ");
        break;
      case 3:
        absl::StrAppend(&text, "dpt_dpt_", value, "dpt_");
        break;
      default:
        absl::StrAppend(&text, value.substr(0, 40), "\n");
        break;
    }
  }
  EXPECT_EQ(Find(text), ReferenceFindTokenValues(text));
  EXPECT_EQ(Find(text).size(), 40u);
}

}  // namespace
}  // namespace tokens::cli
