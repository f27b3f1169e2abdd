#include "cli/token_stream.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "cli/token_scanner.h"
#include "common/token_value.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace tokens::cli {
namespace {

// A start offset is decided once the byte before it and the byte after its
// 53 bytes are known, so each window begins with the last kKeep bytes of the
// one before.
constexpr size_t kKeep = kTokenLength + 2;

// Lines are counted in blocks this size: a line inside one block is shorter
// than kLongLineBytes, so only lines crossing blocks need measuring.
constexpr size_t kCountBlock = 64 * 1024;

size_t CountNewlines(const char* data, size_t size) {
  size_t count = 0;
  size_t i = 0;
#if defined(__SSE2__)
  // Byte counters (each compare adds 0 or -1, i.e. subtracts 0 or 1), summed
  // with SAD before any of them can wrap.
  const __m128i newline = _mm_set1_epi8('\n');
  const __m128i zero = _mm_setzero_si128();
  while (i + 16 <= size) {
    __m128i counters = zero;
    for (int round = 0; round < 255 && i + 16 <= size; ++round, i += 16) {
      const __m128i bytes =
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i));
      counters = _mm_sub_epi8(counters, _mm_cmpeq_epi8(bytes, newline));
    }
    const __m128i sums = _mm_sad_epu8(counters, zero);
    count += static_cast<size_t>(_mm_cvtsi128_si32(sums)) +
             static_cast<size_t>(_mm_extract_epi16(sums, 4));
  }
#endif
  for (; i < size; ++i) count += data[i] == '\n';
  return count;
}

}  // namespace

TokenStream::TokenStream(Callbacks callbacks, size_t read_size)
    : callbacks_(std::move(callbacks)),
      read_size_(std::max<size_t>(read_size, 1)),
      buffer_(new char[kKeep + read_size_]) {}

void TokenStream::Commit(size_t n) {
  if (n == 0) return;
  total_ += n;
  Scan(kept_ + n, /*at_end=*/false);
  const size_t length = kept_ + n;
  const size_t keep = std::min(length, kKeep);
  std::memmove(buffer_.get(), buffer_.get() + length - keep, keep);
  kept_ = keep;
}

void TokenStream::Feed(std::string_view bytes) {
  while (!bytes.empty()) {
    const size_t n = std::min(bytes.size(), space_size());
    std::memcpy(space(), bytes.data(), n);
    Commit(n);
    bytes.remove_prefix(n);
  }
}

void TokenStream::Finish() { Scan(kept_, /*at_end=*/true); }

void TokenStream::Scan(size_t length, bool at_end) {
  const uint64_t window_start = total_ - length;
  const std::string_view window(buffer_.get(), length);
  FindTokenValues(
      window, {window_start == 0, at_end},
      [&](size_t offset, std::string_view value) {
        const uint64_t at = window_start + offset;
        if (at < undecided_) return;  // reported from the window before
        CountTo(at, window_start);
        StreamFinding finding{at, line_, at - line_start_ + 1, value};
        if (callbacks_.on_value) callbacks_.on_value(finding);
      });
  CountTo(total_, window_start);
  if (at_end) {
    CheckLongLine(total_);
  } else if (length > kTokenLength) {
    undecided_ = std::max(undecided_, window_start + length - kTokenLength);
  }
}

void TokenStream::CountTo(uint64_t to, uint64_t window_start) {
  // Bytes before counted_ belong to the kept part and were counted before;
  // a value never spans a newline, so none lies between it and counted_.
  if (to <= counted_) return;
  CountBytes(buffer_.get() + (counted_ - window_start), to - counted_);
}

void TokenStream::CountBytes(const char* data, size_t size) {
  while (size > 0) {
    const size_t block = std::min(size, kCountBlock);
    const char* first =
        static_cast<const char*>(std::memchr(data, '\n', block));
    if (first == nullptr) {
      counted_ += block;
      CheckLongLine(counted_);
    } else {
      CheckLongLine(counted_ + (first - data));
      const char* end = data + block;
      line_ += 1 + CountNewlines(first + 1, end - first - 1);
      const char* last =
          static_cast<const char*>(memrchr(first, '\n', end - first));
      line_start_ = counted_ + (last - data) + 1;
      counted_ += block;
      long_reported_ = false;
    }
    data += block;
    size -= block;
  }
}

void TokenStream::CheckLongLine(uint64_t line_end) {
  if (long_reported_ || line_end - line_start_ <= kLongLineBytes) return;
  long_reported_ = true;
  if (callbacks_.on_long_line) callbacks_.on_long_line(line_);
}

}  // namespace tokens::cli
