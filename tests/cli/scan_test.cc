// `tokenctl scan` end to end: the built binary over a generated tree of real
// values (GenerateTokenValue) and look-alikes, in every kind of file the
// scanner must survive. No server is involved.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/token_value.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cli/cli_servers.h"

namespace tokens::testing {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string NewValue() { return *GenerateTokenValue(); }

std::string BadChecksum() {
  std::string value = NewValue();
  value.back() = value.back() == 'A' ? 'B' : 'A';
  return value;
}

void Write(const std::string& path, const std::string& bytes) {
  ASSERT_EQ(
      system(absl::StrCat("mkdir -p '", path.substr(0, path.rfind('/')), "'")
                 .c_str()),
      0);
  FILE* file = fopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr) << path;
  fwrite(bytes.data(), 1, bytes.size(), file);
  fclose(file);
}

// The tree, the values planted in it and the lines `tokenctl scan` must
// print for them, in the order of the walk (names sorted bytewise).
class ScanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = NewTempDir("scan-tree");
    Plant("/.git/config", "[remote]\n\turl = https://x:", "@example.com\n", 0,
          0, /*in_git=*/true);
    Plant("/a/nested/deep/config.yaml", "ci:\n  env:\n    TOKEN: ", "\n", 3,
          12);
    // A value straddling the 1 MiB read boundary of a 2 MiB minified line.
    const size_t at = (1 << 20) - 20;
    Plant("/b/min.js", std::string(at, 'x') + ";",
          ";" + std::string(1 << 20, 'y'), 1, at + 2);
    std::string binary(4096, '\0');
    for (size_t i = 0; i < binary.size(); i += 7) binary[i] = char(i);
    Plant("/c/data.bin", binary.substr(0, 1000) + std::string(1, '\0'),
          std::string(1, '\0') + binary, 0, 0);  // line/column computed below
    Plant("/d/latin1.txt", "caf\xe9 = '", "'\n", 1, 9);
    Plant("/src/app.py", "import os\n\nAPI = \"", "\"  # oops\n", 3, 8);
    WriteLookAlikes();
    WriteBrokenLinks();
  }

  // Writes `before` + a new value + `after` at root_ + `path`; the finding
  // is at `line`:`column` (0, 0: computed from `before`).
  void Plant(const std::string& path, const std::string& before,
             const std::string& after, uint64_t line, uint64_t column,
             bool in_git = false) {
    const std::string value = NewValue();
    Write(root_ + path, before + value + after);
    values_.push_back(value);
    if (line == 0) {
      line = 1 + std::count(before.begin(), before.end(), '\n');
      column = before.size() - (before.rfind('\n') + 1) + 1;
    }
    const std::string expected = absl::StrCat(
        root_, path, ":", line, ":", column, ": ", ShortTokenHint(value));
    (in_git ? git_lines_ : lines_).push_back(expected);
  }

  void WriteLookAlikes() {
    const std::string value = NewValue();
    values_.push_back(value);
    Write(root_ + "/e/lookalikes.txt",
          absl::StrCat("bad: ", BadChecksum(), "\n",                //
                       "prefixed: x", value, "\n",                  //
                       "suffixed: ", value, "0\n",                  //
                       "underscored: _", value, " ", value, "_\n",  //
                       "short: ", value.substr(0, 52), "\n",        //
                       "dpt_dpt_", BadChecksum(), "dpt_\n"));
  }

  void WriteBrokenLinks() {
    ASSERT_EQ(symlink("nowhere", (root_ + "/f-dangling").c_str()), 0);
    ASSERT_EQ(symlink(".", (root_ + "/g-loop").c_str()), 0);
    ASSERT_EQ(symlink("h-two", (root_ + "/h-one").c_str()), 0);
    ASSERT_EQ(symlink("h-one", (root_ + "/h-two").c_str()), 0);
  }

  CommandResult Scan(const std::vector<std::string>& args,
                     const std::string& stdin_text = "") {
    std::vector<std::string> argv = {TokenctlPath(), "scan"};
    argv.insert(argv.end(), args.begin(), args.end());
    CommandResult result = RunCommand(argv, {}, stdin_text);
    ExpectNoValue(result);
    return result;
  }

  // Not a value, nor 20 characters of one, in anything printed.
  void ExpectNoValue(const CommandResult& result) {
    const std::string printed = result.out + result.err;
    for (const std::string& value : values_) {
      EXPECT_FALSE(absl::StrContains(printed, value.substr(8, 20)))
          << "a value was printed:\n"
          << printed;
    }
  }

  static std::vector<std::string> Lines(const std::string& text) {
    return absl::StrSplit(text, '\n', absl::SkipEmpty());
  }

  std::string root_;
  std::vector<std::string> values_;
  std::vector<std::string> lines_;      // outside .git, in walk order
  std::vector<std::string> git_lines_;  // in .git
};

TEST_F(ScanTest, FindsExactlyTheRealValuesWhereTheyAre) {
  CommandResult result = Scan({root_});
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_THAT(Lines(result.out), ElementsAreArray(lines_)) << result.out;
  EXPECT_THAT(result.err, HasSubstr("5 token values found (5 distinct)"));
}

TEST_F(ScanTest, GitDirectoriesOnlyWithIncludeGit) {
  CommandResult result = Scan({"--include-git", root_});
  EXPECT_EQ(result.exit_code, 1) << result.err;
  std::vector<std::string> all = git_lines_;
  all.insert(all.end(), lines_.begin(), lines_.end());
  EXPECT_THAT(Lines(result.out), ElementsAreArray(all)) << result.out;
}

TEST_F(ScanTest, BadInputIsAWarningAndTheScanGoesOn) {
  CommandResult result = Scan({root_});
  EXPECT_EQ(result.exit_code, 1);
  const std::vector<std::string> warnings = {
      "/b/min.js: line 1 is longer than 1 MiB",
      "/c/data.bin: binary file (NUL bytes)",
      "/d/latin1.txt: not valid UTF-8",
      "/f-dangling: cannot follow symbolic link: No such file",
      "/g-loop: symbolic link to a directory, not followed",
      "/h-one: cannot follow symbolic link: Too many levels",
      "/h-two: cannot follow symbolic link: Too many levels",
  };
  for (const std::string& warning : warnings) {
    EXPECT_THAT(result.err,
                HasSubstr(absl::StrCat("tokenctl: warning: ", root_, warning)));
  }
}

TEST_F(ScanTest, UnreadableDirectoryIsAWarning) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads a directory without x";
  const std::string locked = root_ + "/z-locked";
  ASSERT_EQ(mkdir(locked.c_str(), 0), 0);
  CommandResult result = Scan({root_});
  chmod(locked.c_str(), 0700);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr(locked + ": cannot read directory"));
  EXPECT_THAT(Lines(result.out), ElementsAreArray(lines_));
}

TEST_F(ScanTest, JsonIsOneObjectPerFindingALine) {
  CommandResult result = Scan({"-o", "json", root_ + "/src"});
  EXPECT_EQ(result.exit_code, 1);
  const std::string& value = values_[5];  // src/app.py
  EXPECT_EQ(result.out, absl::StrCat("{\"path\":\"", root_,
                                     "/src/app.py\",\"line\":3,"
                                     "\"column\":8,\"hint\":\"",
                                     ShortTokenHint(value), "\"}\n"));
}

TEST_F(ScanTest, StdinAndFilesByName) {
  const std::string value = NewValue();
  values_.push_back(value);
  CommandResult stdin_scan = Scan({"-"}, absl::StrCat("a\n  b=", value, "\n"));
  EXPECT_EQ(stdin_scan.exit_code, 1);
  EXPECT_EQ(stdin_scan.out,
            absl::StrCat("-:2:5: ", ShortTokenHint(value), "\n"));

  CommandResult file = Scan({root_ + "/src/app.py", root_ + "/e"});
  EXPECT_EQ(file.exit_code, 1);
  EXPECT_THAT(Lines(file.out), ElementsAreArray({lines_.back()}));
}

TEST_F(ScanTest, CleanIsExitZeroAndUsageErrorsExitTwo) {
  CommandResult clean = Scan({root_ + "/e"});
  EXPECT_EQ(clean.exit_code, 0) << clean.out << clean.err;
  EXPECT_THAT(clean.out, IsEmpty());
  EXPECT_THAT(clean.err, IsEmpty());

  EXPECT_EQ(Scan({"--no-such-flag", root_}).exit_code, 2);
  EXPECT_EQ(Scan({"-o", "yaml", root_}).exit_code, 2);
  CommandResult missing = Scan({root_ + "/does-not-exist"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("does-not-exist"));
  EXPECT_EQ(Scan({"--location", "x", root_}).exit_code, 2);
  EXPECT_EQ(
      Scan({"--report", "--location", std::string(1025, 'x'), root_}).exit_code,
      2);
  CommandResult help = Scan({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("--include-git"));
}

TEST_F(ScanTest, CheckWithoutAKeyFailsBeforeScanning) {
  CommandResult result =
      Scan({"--check", "--key-file", root_ + "/no.key", root_});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_THAT(result.out, IsEmpty());
}

}  // namespace
}  // namespace tokens::testing
