// The one conversion between absl::Time and google.protobuf.Timestamp, for
// TokenService, the verifier and tokenctl. Thread-safe (pure functions).
#ifndef COMMON_PROTO_TIME_H_
#define COMMON_PROTO_TIME_H_

#include <google/protobuf/timestamp.pb.h>

#include "absl/time/time.h"

namespace tokens {

inline absl::Time TimeFromProto(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

// `if_unset` when the message has no such field (`has_value` false).
inline absl::Time TimeFromProtoOr(const google::protobuf::Timestamp& ts,
                                  bool has_value, absl::Time if_unset) {
  return has_value ? TimeFromProto(ts) : if_unset;
}

// Seconds and non-negative nanos, as Timestamp requires. An infinite time
// ("never") leaves `ts` untouched.
inline void TimeToProto(absl::Time time, google::protobuf::Timestamp* ts) {
  if (time == absl::InfiniteFuture() || time == absl::InfinitePast()) return;
  const absl::Duration since_epoch = time - absl::UnixEpoch();
  const int64_t seconds =
      absl::ToInt64Seconds(absl::Floor(since_epoch, absl::Seconds(1)));
  ts->set_seconds(seconds);
  ts->set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(since_epoch - absl::Seconds(seconds))));
}

}  // namespace tokens

#endif  // COMMON_PROTO_TIME_H_
