// Conversions between absl::Time and google.protobuf.Timestamp. Thread-safe
// (pure functions).
#ifndef VERIFIER_PROTO_TIME_H_
#define VERIFIER_PROTO_TIME_H_

#include <google/protobuf/timestamp.pb.h>

#include "absl/time/time.h"

namespace tokens {

inline absl::Time TimeFromProto(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

// `time` must be finite.
inline void TimeToProto(absl::Time time, google::protobuf::Timestamp* ts) {
  const absl::Duration since_epoch = time - absl::UnixEpoch();
  const int64_t seconds =
      absl::ToInt64Seconds(absl::Floor(since_epoch, absl::Seconds(1)));
  ts->set_seconds(seconds);
  ts->set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(since_epoch - absl::Seconds(seconds))));
}

}  // namespace tokens

#endif  // VERIFIER_PROTO_TIME_H_
