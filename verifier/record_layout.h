// The encodings TokenTable and RevokedSet share to keep a record per value
// compact: a digest's hash, times as microseconds, ids inline up to a size.
// Pure functions and constants, thread-safe.
#ifndef VERIFIER_RECORD_LAYOUT_H_
#define VERIFIER_RECORD_LAYOUT_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "absl/time/time.h"
#include "common/token_value.h"

namespace tokens {

// Hashes a digest by its first 8 bytes: a SHA-256 output is already uniformly
// distributed.
struct DigestHash {
  size_t operator()(const Digest& digest) const {
    uint64_t h;
    std::memcpy(&h, digest.data(), sizeof(h));
    return static_cast<size_t>(h);
  }
};

namespace record_layout {

// A record's id size that means "too long to be inline: in a side map".
inline constexpr uint8_t kLongId = 0xFF;

inline constexpr int64_t kMicrosNever = std::numeric_limits<int64_t>::max();
inline constexpr int64_t kMicrosAlways = std::numeric_limits<int64_t>::min();

// Rounds down, so that an expiry, a grace end or a revocation never moves
// later. The infinities map to the ends of the range.
inline int64_t ToMicros(absl::Time t) {
  if (t == absl::InfiniteFuture()) return kMicrosNever;
  if (t == absl::InfinitePast()) return kMicrosAlways;
  return absl::ToUnixMicros(t);
}

inline absl::Time FromMicros(int64_t micros) {
  if (micros == kMicrosNever) return absl::InfiniteFuture();
  if (micros == kMicrosAlways) return absl::InfinitePast();
  return absl::FromUnixMicros(micros);
}

}  // namespace record_layout
}  // namespace tokens

#endif  // VERIFIER_RECORD_LAYOUT_H_
