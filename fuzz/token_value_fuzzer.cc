// Fuzzes the token parser: the offline shape check (prefix, length, alphabet,
// CRC32 checksum), the digest and the hint. Invariants: only 53-character
// `dpt_` values over [A-Za-z0-9_] pass; the hint never shows more than the
// prefix and 8 characters of a value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/token_value.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const bool well_formed = tokens::IsWellFormedTokenValue(input);
  if (well_formed) {
    if (input.size() != tokens::kTokenLength) std::abort();
    if (input.substr(0, 4) != tokens::kTokenPrefix) std::abort();
    for (char c : input) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '_';
      if (!ok) std::abort();
    }
    const std::string hint = tokens::ShortTokenHint(input);
    if (hint.find(input.substr(8, 30)) != std::string::npos) std::abort();
  }
  const tokens::Digest digest = tokens::DigestOf(input);
  tokens::Digest back;
  if (!tokens::DigestFromBytes(tokens::DigestToBytes(digest), &back) ||
      back != digest) {
    std::abort();
  }
  tokens::Digest ignored;
  if (tokens::DigestFromBytes(input, &ignored) != (input.size() == 32)) {
    std::abort();
  }
  if (tokens::DigestPrefixHex(digest).size() != 12) std::abort();
  return 0;
}
