// The obviously-correct definition of a finding, for tests and the fuzzer to
// compare the fast matcher (cli/token_scanner.h) with: every offset of the
// input, the same boundary rule, IsWellFormedTokenValue. Test-only.
#ifndef CLI_TOKEN_SCANNER_REFERENCE_H_
#define CLI_TOKEN_SCANNER_REFERENCE_H_

#include <cstddef>
#include <string_view>
#include <vector>

#include "common/token_value.h"

namespace tokens::cli {

// Offsets of every standalone well-formed value in the whole `input`.
inline std::vector<size_t> ReferenceFindTokenValues(std::string_view input) {
  auto word = [](unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
           (c >= 'a' && c <= 'z') || c == '_';
  };
  std::vector<size_t> offsets;
  for (size_t at = 0; at + kTokenLength <= input.size(); ++at) {
    if (!IsWellFormedTokenValue(input.substr(at, kTokenLength))) continue;
    if (at > 0 && word(input[at - 1])) continue;
    const size_t end = at + kTokenLength;
    if (end < input.size() && word(input[end])) continue;
    offsets.push_back(at);
  }
  return offsets;
}

}  // namespace tokens::cli

#endif  // CLI_TOKEN_SCANNER_REFERENCE_H_
