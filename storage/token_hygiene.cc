#include "storage/token_hygiene.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "storage/store_rules.h"
#include "storage/stored_time.h"

namespace tokens {
namespace {

constexpr size_t kEncodedValueSize = 32 + 8;

RevokedValue Revoked(const HeldValues& held, const Digest& digest,
                     absl::Time revoke_time) {
  RevokedValue value;
  value.digest = digest;
  value.token_id = held.token_id;
  value.deployment_id = held.deployment_id;
  value.revoke_time = revoke_time;
  return value;
}

void AddDroppedPrevious(const HeldValues& held, absl::Time now,
                        std::vector<RevokedValue>* values) {
  if (!held.previous.has_value() || *held.previous == held.current) return;
  values->push_back(
      Revoked(held, *held.previous, std::min(now, held.previous_valid_until)));
}

}  // namespace

std::vector<RevokedValue> RevokedByRotation(const HeldValues& held,
                                            const Rotation& rotation) {
  std::vector<RevokedValue> values;
  values.push_back(
      Revoked(held, held.current,
              rotation.previous_valid_until.value_or(rotation.now)));
  AddDroppedPrevious(held, rotation.now, &values);
  return values;
}

std::vector<RevokedValue> RevokedByDeletion(const HeldValues& held,
                                            absl::Time now) {
  std::vector<RevokedValue> values;
  values.push_back(Revoked(held, held.current, now));
  AddDroppedPrevious(held, now, &values);
  return values;
}

std::string EncodeRevokedValues(const std::vector<RevokedValue>& values) {
  std::string bytes;
  bytes.reserve(values.size() * kEncodedValueSize);
  for (const RevokedValue& value : values) {
    bytes.append(reinterpret_cast<const char*>(value.digest.data()),
                 value.digest.size());
    const uint64_t micros =
        static_cast<uint64_t>(EncodeTime(value.revoke_time));
    for (int shift = 56; shift >= 0; shift -= 8) {
      bytes.push_back(static_cast<char>((micros >> shift) & 0xff));
    }
  }
  return bytes;
}

absl::StatusOr<std::vector<RevokedValue>> DecodeRevokedValues(
    absl::string_view bytes, const std::string& token_id,
    const std::string& deployment_id) {
  if (bytes.size() % kEncodedValueSize != 0) {
    return absl::InternalError("malformed revoked values in database");
  }
  std::vector<RevokedValue> values;
  values.reserve(bytes.size() / kEncodedValueSize);
  for (size_t at = 0; at < bytes.size(); at += kEncodedValueSize) {
    RevokedValue value;
    std::memcpy(value.digest.data(), bytes.data() + at, value.digest.size());
    uint64_t micros = 0;
    for (size_t i = 0; i < 8; ++i) {
      micros = (micros << 8) |
               static_cast<unsigned char>(bytes[at + value.digest.size() + i]);
    }
    value.revoke_time = DecodeTime(static_cast<int64_t>(micros));
    value.token_id = token_id;
    value.deployment_id = deployment_id;
    values.push_back(std::move(value));
  }
  return values;
}

absl::Status CheckExpiryThresholds(
    const std::vector<int32_t>& thresholds_days) {
  if (thresholds_days.empty() || thresholds_days.back() != 0) {
    return absl::InvalidArgumentError("expiry thresholds must end with 0 days");
  }
  for (size_t i = 1; i < thresholds_days.size(); ++i) {
    if (thresholds_days[i] >= thresholds_days[i - 1]) {
      return absl::InvalidArgumentError(
          "expiry thresholds must be strictly descending");
    }
  }
  return absl::OkStatus();
}

std::optional<int32_t> CrossedExpiryThreshold(
    absl::Time expire_time, absl::Time now,
    const std::vector<int32_t>& thresholds_days) {
  if (IsInfinite(expire_time)) return std::nullopt;
  std::optional<int32_t> crossed;
  for (int32_t days : thresholds_days) {
    if (expire_time <= now + absl::Hours(24) * days) crossed = days;
  }
  return crossed;
}

absl::Time ExpiryHorizon(absl::Time now,
                         const std::vector<int32_t>& thresholds_days) {
  return now + absl::Hours(24) *
                   (thresholds_days.empty() ? 0 : thresholds_days.front());
}

AuditEntry ExpiryNoticeAudit(const ExpiryNotice& notice, absl::Time now,
                             const std::string& principal) {
  AuditEntry audit;
  audit.time = now;
  audit.principal = principal;
  audit.action = notice.days == 0 ? kActionExpired : kActionExpiring;
  audit.token_id = notice.token_id;
  audit.deployment_id = notice.deployment_id;
  audit.outcome = "OK";
  audit.detail =
      absl::StrCat("days=", notice.days, " expire_time=",
                   absl::FormatTime(absl::RFC3339_full, notice.expire_time,
                                    absl::UTCTimeZone()));
  return audit;
}

}  // namespace tokens
