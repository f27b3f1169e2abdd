// Writes the input of the `tokenctl scan` benchmark (bench/scan_bench.sh):
// --files files of about --file_bytes each under --dir, made of source-like
// lines, among them real token values (GenerateTokenValue) and look-alikes of
// two kinds: standalone ones with a bad checksum (a regular expression finds
// them, tokenctl must not) and real values inside a longer base62 run
// (neither may find them). Prints one line for the script:
//   RESULT files=N bytes=N values=N bad_checksum=N embedded=N
#include <sys/stat.h>

#include <cstdio>
#include <random>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "common/token_value.h"

ABSL_FLAG(std::string, dir, "", "where to write the files (must exist)");
ABSL_FLAG(int, files, 256, "how many files");
ABSL_FLAG(int64_t, file_bytes, 4 << 20, "about this many bytes per file");
ABSL_FLAG(int, every, 1000,
          "about one value (and one of each look-alike) "
          "per this many lines");

namespace {

struct Counts {
  int64_t bytes = 0, values = 0, bad_checksum = 0, embedded = 0;
};

const char* const kLines[] = {
    "  for (size_t i = 0; i < items.size(); ++i) total += items[i].weight;\n",
    "    return absl::InvalidArgumentError(\"deployment_id is required\");\n",
    "def handler(event, context):  # dpt_ tokens are read from the env\n",
    "export DEPLOYMENT_ID=clx9f2k3a000108l4h7g2bq5e  # not a secret\n",
    "      - name: Deploy\n        run: astro deploy --dags\n",
    "const url = `https://api.example.com/v1/deployments/${id}`;\n",
    "// A comment with an id: tok_01hv3k2m9q8r7s6t5u4v3w2x1y\n",
};

std::string BadChecksum() {
  std::string value = *tokens::GenerateTokenValue();
  value.back() = value.back() == 'A' ? 'B' : 'A';
  return value;
}

// One line: ordinary text, or (one time in `every` each) a value or a
// look-alike.
std::string Line(std::mt19937_64& rng, int every, Counts& counts) {
  const uint64_t pick = rng() % every;
  if (pick == 0) {
    ++counts.values;
    return absl::StrCat("    token: \"", *tokens::GenerateTokenValue(), "\"\n");
  }
  if (pick == 1) {
    ++counts.bad_checksum;
    return absl::StrCat("ASTRO_API_TOKEN=", BadChecksum(), "\n");
  }
  if (pick == 2) {
    ++counts.embedded;
    return absl::StrCat("hash = x", *tokens::GenerateTokenValue(), "\n");
  }
  return kLines[rng() % (sizeof(kLines) / sizeof(kLines[0]))];
}

bool WriteFile(const std::string& path, int64_t size, int every,
               std::mt19937_64& rng, Counts& counts) {
  std::FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) return false;
  std::string chunk;
  int64_t written = 0;
  while (written < size) {
    chunk.clear();
    while (chunk.size() < (1 << 16)) chunk += Line(rng, every, counts);
    std::fwrite(chunk.data(), 1, chunk.size(), file);
    written += chunk.size();
  }
  counts.bytes += written;
  return std::fclose(file) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string dir = absl::GetFlag(FLAGS_dir);
  if (dir.empty()) {
    std::fprintf(stderr, "scan_corpus: --dir is required\n");
    return 2;
  }
  std::mt19937_64 rng(24);
  Counts counts;
  const int files = absl::GetFlag(FLAGS_files);
  for (int i = 0; i < files; ++i) {
    const std::string path =
        absl::StrCat(dir, "/src", i % 16, "/file", i, i % 2 ? ".py" : ".cc");
    if (i < 16) mkdir(absl::StrCat(dir, "/src", i).c_str(), 0755);
    if (!WriteFile(path, absl::GetFlag(FLAGS_file_bytes),
                   absl::GetFlag(FLAGS_every), rng, counts)) {
      std::fprintf(stderr, "scan_corpus: cannot write %s\n", path.c_str());
      return 1;
    }
  }
  std::printf(
      "RESULT files=%d bytes=%lld values=%lld bad_checksum=%lld "
      "embedded=%lld\n",
      files, static_cast<long long>(counts.bytes),
      static_cast<long long>(counts.values),
      static_cast<long long>(counts.bad_checksum),
      static_cast<long long>(counts.embedded));
  return 0;
}
