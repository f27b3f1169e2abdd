#include "cli/token_scanner.h"

#include <array>
#include <cstdint>

#include "common/token_value.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace tokens::cli {
namespace {

constexpr std::array<bool, 256> kWordBytes = [] {
  std::array<bool, 256> table{};
  for (int c = 0; c < 256; ++c) {
    table[c] = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
               (c >= 'a' && c <= 'z') || c == '_';
  }
  return table;
}();

// The offset of `_` in `dpt_`: a candidate has `d` at i and `_` at i + 3,
// two bytes rare together in any text, so few candidates reach the checks.
constexpr size_t kUnderscoreAt = 3;

// Reports the candidate at `at` when it is a decidable, standalone,
// well-formed value.
void CheckCandidate(std::string_view buffer, size_t at, BufferEdges edges,
                    const OnTokenValue& on_value) {
  const size_t end = at + kTokenLength;
  if (end > buffer.size()) return;
  if (buffer[at + 1] != 'p' || buffer[at + 2] != 't') return;
  if (at == 0 ? !edges.at_input_start : IsWordByte(buffer[at - 1])) return;
  if (end == buffer.size() ? !edges.at_input_end : IsWordByte(buffer[end])) {
    return;
  }
  const std::string_view value = buffer.substr(at, kTokenLength);
  if (IsWellFormedTokenValue(value)) on_value(at, value);
}

}  // namespace

bool IsWordByte(unsigned char c) { return kWordBytes[c]; }

void FindTokenValues(std::string_view buffer, BufferEdges edges,
                     const OnTokenValue& on_value) {
  const char* data = buffer.data();
  const size_t size = buffer.size();
  size_t i = 0;
#if defined(__SSE2__)
  // 16 starting offsets at a time: `d` at i and `_` at i + 3.
  const __m128i d = _mm_set1_epi8('d');
  const __m128i underscore = _mm_set1_epi8('_');
  for (; i + 16 + kUnderscoreAt <= size; i += 16) {
    const __m128i first =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i));
    const __m128i fourth = _mm_loadu_si128(
        reinterpret_cast<const __m128i*>(data + i + kUnderscoreAt));
    uint32_t mask = static_cast<uint32_t>(_mm_movemask_epi8(_mm_and_si128(
        _mm_cmpeq_epi8(first, d), _mm_cmpeq_epi8(fourth, underscore))));
    while (mask != 0) {
      CheckCandidate(buffer, i + __builtin_ctz(mask), edges, on_value);
      mask &= mask - 1;
    }
  }
#endif
  for (; i + kUnderscoreAt < size; ++i) {
    if (data[i] == 'd' && data[i + kUnderscoreAt] == '_') {
      CheckCandidate(buffer, i, edges, on_value);
    }
  }
}

}  // namespace tokens::cli
