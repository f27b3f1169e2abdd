// Finds Deployment API token values in bytes: the matcher behind
// `tokenctl scan`. A pure function over one buffer; TokenStream
// (cli/token_stream.h) feeds it a file piece by piece.
//
// A match is `dpt_` + 49 base62 characters whose checksum is valid
// (IsWellFormedTokenValue, common/token_value.h: the one home of the rule),
// standing alone: the byte before `dpt_` and the byte after the 53rd
// character are not [A-Za-z0-9_] (or are the start or end of the input). So a
// value inside a longer run of base62 characters (`xdpt_...`, or 50 base62
// characters after `dpt_`) is not a finding: it is not a value anyone could
// have copied out whole. The same as the PCRE
//   (?<![A-Za-z0-9_])dpt_[A-Za-z0-9]{49}(?![A-Za-z0-9_])
// plus the checksum. Bytes outside ASCII (binary files, any encoding) are
// just bytes that are not base62. Thread-safe (no state).
#ifndef CLI_TOKEN_SCANNER_H_
#define CLI_TOKEN_SCANNER_H_

#include <cstddef>
#include <functional>
#include <string_view>

namespace tokens::cli {

// What FindTokenValues knows about the bytes around the buffer.
struct BufferEdges {
  // The buffer starts the input: nothing comes before its first byte.
  bool at_input_start = true;
  // The buffer ends the input: nothing comes after its last byte.
  bool at_input_end = true;
};

// Called with the offset of the `d` in the buffer and the 53-byte value.
using OnTokenValue = std::function<void(size_t offset, std::string_view value)>;

// Calls `on_value` for every match in `buffer`, in increasing offset order,
// that can be decided from the buffer alone: a candidate at offset 0 needs
// `at_input_start` (else the byte before it is unknown), and one whose 53
// bytes end the buffer needs `at_input_end` (else the byte after it is
// unknown). TokenStream overlaps its windows so every offset is decided once.
void FindTokenValues(std::string_view buffer, BufferEdges edges,
                     const OnTokenValue& on_value);

// True for [A-Za-z0-9_]: a byte that would continue a run and so must not be
// next to a match.
bool IsWordByte(unsigned char c);

}  // namespace tokens::cli

#endif  // CLI_TOKEN_SCANNER_H_
