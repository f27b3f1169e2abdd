// Replays every file of a fuzz target's seed corpus through its
// LLVMFuzzerTestOneInput under the normal toolchain, so `make test` (and its
// ASan+UBSan pass) runs each harness over its corpus without clang/libFuzzer.
// Usage: <test> CORPUS_DIR (workspace-relative, from the BUILD rule's args).
#include <dirent.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::string corpus_dir;

TEST(CorpusReplay, EveryFileRunsClean) {
  // Bazel runs tests in the runfiles tree, so the workspace path works as is.
  const std::string dir = corpus_dir;
  DIR* d = opendir(dir.c_str());
  ASSERT_NE(d, nullptr) << dir;
  std::vector<std::string> files;
  while (dirent* entry = readdir(d)) {
    if (entry->d_name[0] != '.') files.push_back(dir + "/" + entry->d_name);
  }
  closedir(d);
  ASSERT_FALSE(files.empty()) << "empty corpus " << dir;
  for (const std::string& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    const std::string input = bytes.str();
    SCOPED_TRACE(file);
    EXPECT_EQ(LLVMFuzzerTestOneInput(
                  reinterpret_cast<const uint8_t*>(input.data()), input.size()),
              0);
  }
  std::printf("fuzz corpus replay: %s inputs=%zu\n", corpus_dir.c_str(),
              files.size());
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc > 1) corpus_dir = argv[1];
  return RUN_ALL_TESTS();
}
