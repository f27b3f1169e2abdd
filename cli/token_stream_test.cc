#include "cli/token_stream.h"

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

struct Seen {
  std::vector<StreamFinding> findings;
  std::vector<std::string> values;
  std::vector<uint64_t> long_lines;
};

// Streams `input` in reads of `read_size` bytes.
Seen Stream(const std::string& input, size_t read_size) {
  Seen seen;
  TokenStream stream({[&](const StreamFinding& finding) {
                        seen.findings.push_back(finding);
                        seen.values.emplace_back(finding.value);
                      },
                      [&](uint64_t line) { seen.long_lines.push_back(line); }},
                     read_size);
  stream.Feed(input);
  stream.Finish();
  EXPECT_EQ(stream.bytes(), input.size());
  return seen;
}

std::vector<uint64_t> Offsets(const Seen& seen) {
  std::vector<uint64_t> out;
  for (const StreamFinding& f : seen.findings) out.push_back(f.offset);
  return out;
}

TEST(TokenStreamTest, ReportsLineAndByteColumn) {
  const std::string a = *GenerateTokenValue();
  const std::string b = *GenerateTokenValue();
  const std::string text =
      absl::StrCat("first line\n\n  key: ", a, "\n\xc3\xa9", b, " tail");
  Seen seen = Stream(text, 1 << 20);
  ASSERT_EQ(seen.findings.size(), 2u);
  EXPECT_EQ(seen.findings[0].line, 3u);
  EXPECT_EQ(seen.findings[0].column, 8u);
  EXPECT_EQ(seen.findings[1].line, 4u);
  EXPECT_EQ(seen.findings[1].column, 3u);  // after a 2-byte character
  EXPECT_EQ(seen.values, (std::vector<std::string>{a, b}));
}

TEST(TokenStreamTest, EverySplitFindsEachValueOnce) {
  const std::string value = *GenerateTokenValue();
  const std::string text = absl::StrCat("ab\n", value, " x", value, "\n;",
                                        value, "\nx", value, "y\n", value);
  const std::vector<size_t> want = ReferenceFindTokenValues(text);
  ASSERT_EQ(want.size(), 3u);
  for (size_t read_size = 1; read_size <= text.size() + 1; ++read_size) {
    Seen seen = Stream(text, read_size);
    EXPECT_EQ(Offsets(seen), std::vector<uint64_t>(want.begin(), want.end()))
        << read_size;
    std::vector<uint64_t> lines;
    for (const StreamFinding& f : seen.findings) lines.push_back(f.line);
    EXPECT_THAT(lines, ElementsAre(2, 3, 5)) << read_size;
  }
}

TEST(TokenStreamTest, LongLineIsReportedOnceAndStillScanned) {
  const std::string value = *GenerateTokenValue();
  std::string text = "short\n";
  text += std::string(1500000, 'a');
  text += absl::StrCat(" ", value, " ");
  text += std::string(1000000, 'b');
  text += "\nshort\n";
  text += std::string(3000000, ';');
  for (size_t read_size : {size_t{4096}, size_t{1} << 20, size_t{3} << 20}) {
    Seen seen = Stream(text, read_size);
    EXPECT_THAT(seen.long_lines, ElementsAre(2, 4)) << read_size;
    ASSERT_EQ(seen.findings.size(), 1u);
    EXPECT_EQ(seen.findings[0].line, 2u);
    EXPECT_EQ(seen.findings[0].column, 1500002u);
  }
}

TEST(TokenStreamTest, LineOfExactlyTheLimitIsNotLong) {
  const std::string text = std::string(kLongLineBytes, 'x') + "\n";
  EXPECT_TRUE(Stream(text, 1 << 16).long_lines.empty());
  EXPECT_THAT(
      Stream("\n" + std::string(kLongLineBytes + 1, 'x'), 1 << 16).long_lines,
      ElementsAre(2));
}

TEST(TokenStreamTest, EmptyInputFindsNothing) {
  EXPECT_TRUE(Stream("", 16).findings.empty());
}

}  // namespace
}  // namespace tokens::cli
