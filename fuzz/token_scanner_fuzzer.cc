// Fuzzes the matcher of `tokenctl scan` (cli/token_scanner, cli/token_stream).
// Invariants: FindTokenValues over the whole input reports exactly the
// offsets of the naive reference loop (every offset, the same boundary rule,
// IsWellFormedTokenValue), each with the 53 bytes at that offset; TokenStream
// reports the same offsets whatever the read size (the first input byte
// picks it, so values split across reads are exercised), with the line and
// byte column that counting newlines before the offset gives.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "cli/token_scanner.h"
#include "cli/token_scanner_reference.h"
#include "cli/token_stream.h"
#include "common/token_value.h"

namespace {

void CheckStream(std::string_view input, size_t read_size,
                 const std::vector<size_t>& want) {
  std::vector<size_t> got;
  tokens::cli::TokenStream stream(
      {[&](const tokens::cli::StreamFinding& found) {
         if (found.value != input.substr(found.offset, tokens::kTokenLength)) {
           std::abort();
         }
         const std::string_view before = input.substr(0, found.offset);
         uint64_t line = 1;
         for (char c : before) line += c == '\n';
         const size_t newline = before.rfind('\n');
         const uint64_t column = newline == std::string_view::npos
                                     ? found.offset + 1
                                     : found.offset - newline;
         if (found.line != line || found.column != column) std::abort();
         got.push_back(found.offset);
       },
       nullptr},
      read_size);
  stream.Feed(input);
  stream.Finish();
  if (got != want) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t read_size = 1 + data[0] % 80;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1,
                               size - 1);
  const std::vector<size_t> want = tokens::cli::ReferenceFindTokenValues(input);
  std::vector<size_t> got;
  tokens::cli::FindTokenValues(
      input, {}, [&](size_t offset, std::string_view value) {
        if (value != input.substr(offset, tokens::kTokenLength)) std::abort();
        got.push_back(offset);
      });
  if (got != want) std::abort();
  CheckStream(input, read_size, want);
  return 0;
}
