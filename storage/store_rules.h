// Rules every TokenStore implementation applies the same way: the limit check
// of List/ListAudit/ReadChanges, the NotFound of an unknown id, and which
// times are the "never" values (storage/token_store.h).
#ifndef STORAGE_STORE_RULES_H_
#define STORAGE_STORE_RULES_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace tokens {

inline absl::Status CheckLimit(int32_t limit) {
  if (limit <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit must be positive, got ", limit));
  }
  return absl::OkStatus();
}

inline absl::Status TokenNotFound(const std::string& id) {
  return absl::NotFoundError(absl::StrCat("token ", id, " not found"));
}

// FindByDigest's NotFound: names no digest (a digest is not shown anywhere).
inline absl::Status DigestNotFound() {
  return absl::NotFoundError("no live token has this value");
}

inline bool IsInfinite(absl::Time t) {
  return t == absl::InfinitePast() || t == absl::InfiniteFuture();
}

// Audit actions.
inline constexpr char kActionCreate[] = "token.create";
inline constexpr char kActionUpdate[] = "token.update";
inline constexpr char kActionDelete[] = "token.delete";
inline constexpr char kActionRotate[] = "token.rotate";
inline constexpr char kActionExpiring[] = "token.expiring";
inline constexpr char kActionExpired[] = "token.expired";
inline constexpr char kActionReuseDetected[] = "token.reuse_detected";
inline constexpr char kActionLeaked[] = "token.leaked";

// The audit actions the notification outbox queues (when its outcome is OK).
inline bool IsNotifiedAction(const std::string& action) {
  return action == kActionCreate || action == kActionRotate ||
         action == kActionDelete || action == kActionExpiring ||
         action == kActionExpired || action == kActionReuseDetected ||
         action == kActionLeaked;
}

// Whether an outbox that is on queues an audit row with `action` and
// `outcome`.
inline bool QueuesNotification(const std::string& action,
                               const std::string& outcome) {
  return IsNotifiedAction(action) && outcome == "OK";
}

}  // namespace tokens

#endif  // STORAGE_STORE_RULES_H_
