// How both stores keep a time: INTEGER (bigint) microseconds since the epoch.
// Each column has a "none" value (InfiniteFuture for expire_time,
// InfinitePast for the rest) stored as NULL by the caller; the other infinity
// saturates to the int64 limit and reads back as that infinity.
#ifndef STORAGE_STORED_TIME_H_
#define STORAGE_STORED_TIME_H_

#include <cstdint>
#include <limits>

#include "absl/time/time.h"

namespace tokens {

inline int64_t EncodeTime(absl::Time t) { return absl::ToUnixMicros(t); }

inline absl::Time DecodeTime(int64_t micros) {
  if (micros == std::numeric_limits<int64_t>::max()) {
    return absl::InfiniteFuture();
  }
  if (micros == std::numeric_limits<int64_t>::min()) {
    return absl::InfinitePast();
  }
  return absl::FromUnixMicros(micros);
}

}  // namespace tokens

#endif  // STORAGE_STORED_TIME_H_
