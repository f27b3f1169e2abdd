// The token-hygiene rules both stores apply alike (issue 14): which values a
// rotation or a deletion revokes and when, how a change-log row keeps them,
// and which expiry threshold a token has crossed. Used only inside storage/.
#ifndef STORAGE_TOKEN_HYGIENE_H_
#define STORAGE_TOKEN_HYGIENE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/token_change.h"
#include "common/token_value.h"
#include "storage/token_store.h"

namespace tokens {

// The values a token holds before a rotation or deletion.
struct HeldValues {
  std::string token_id;
  std::string deployment_id;
  Digest current{};
  std::optional<Digest> previous;
  absl::Time previous_valid_until = absl::InfinitePast();
};

// A rotation revokes the current value (at the end of the grace period when
// one is given, else now), then a previous value it drops (at the earlier of
// now and the end of that value's grace period). In that order.
std::vector<RevokedValue> RevokedByRotation(const HeldValues& held,
                                            const Rotation& rotation);

// A deletion revokes the current value (now), then a previous value (at the
// earlier of now and the end of its grace period).
std::vector<RevokedValue> RevokedByDeletion(const HeldValues& held,
                                            absl::Time now);

// How a change-log row keeps the revoked values of its change: 40 bytes per
// value (the digest, then revoke_time as big-endian microseconds, as
// stored_time.h encodes it); empty for none. token_id and deployment_id are
// those of the change.
std::string EncodeRevokedValues(const std::vector<RevokedValue>& values);
absl::StatusOr<std::vector<RevokedValue>> DecodeRevokedValues(
    absl::string_view bytes, const std::string& token_id,
    const std::string& deployment_id);

// InvalidArgument unless `thresholds_days` is non-empty, strictly descending
// and ends with 0 (RecordExpiryNotices).
absl::Status CheckExpiryThresholds(const std::vector<int32_t>& thresholds_days);

// The smallest threshold T with expire_time <= now + T days, or nullopt when
// expire_time is later than now + the largest threshold (or infinite).
std::optional<int32_t> CrossedExpiryThreshold(
    absl::Time expire_time, absl::Time now,
    const std::vector<int32_t>& thresholds_days);

// The latest expire_time that crosses any threshold: now + the largest.
absl::Time ExpiryHorizon(absl::Time now,
                         const std::vector<int32_t>& thresholds_days);

// The audit row of an expiry notice: token.expiring (or token.expired for 0
// days), at `now`, by `principal`, outcome OK, the days and the expire time in
// the detail.
AuditEntry ExpiryNoticeAudit(const ExpiryNotice& notice, absl::Time now,
                             const std::string& principal);

}  // namespace tokens

#endif  // STORAGE_TOKEN_HYGIENE_H_
