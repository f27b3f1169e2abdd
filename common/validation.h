// The API's field rules (docs/design.md, "Field rules"), shared by every RPC.
// Each returns InvalidArgument with a message that starts with the field name,
// or OK. Thread-safe (pure functions).
#ifndef COMMON_VALIDATION_H_
#define COMMON_VALIDATION_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace tokens {

inline constexpr int kMaxNameChars = 256;
inline constexpr int kMaxDescriptionChars = 1024;
inline constexpr int kMaxDeploymentIdChars = 64;
inline constexpr int kMaxExpirationDays = 365;
inline constexpr int kMaxPageSize = 1000;
inline constexpr int kDefaultPageSize = 50;
inline constexpr int kMaxGracePeriodSeconds = 86400;

// Number of code points when `s` is valid UTF-8 (no overlongs, surrogates or
// values past U+10FFFF); -1 otherwise.
int64_t Utf8Length(const std::string& s);

// 1-256 characters of valid UTF-8, no control characters (C0, DEL, C1).
absl::Status ValidateName(const std::string& name);
// At most 1024 characters of valid UTF-8; control characters other than newline
// and tab are rejected.
absl::Status ValidateDescription(const std::string& description);
// 1-64 characters of [a-z0-9-].
absl::Status ValidateDeploymentId(const std::string& deployment_id);
// 0 (never) or 1-365, and at most `server_max` days.
absl::Status ValidateExpirationDays(int64_t days, int server_max);
// 0 (default) to 1000.
absl::Status ValidatePageSize(int64_t page_size);
// 0 to 86400.
absl::Status ValidateGracePeriodSeconds(int64_t seconds);
// Non-empty, at most 64 printable ASCII characters. (Unknown well-shaped ids
// are NotFound.)
absl::Status ValidateTokenId(const std::string& id);
// Where a token was used, as a verifier reports it (ReportUsageRequest): at
// most `max_chars` printable ASCII characters, no spaces; may be empty.
// `field` names the field in the message.
inline constexpr int kMaxVerifierNameChars = 253;
// ReportUsage: at most this many usages, and as many reuse sightings, per
// call (the verifier batches to it).
inline constexpr size_t kMaxUsageReportEntries = 10000;
inline constexpr int kMaxClientAddressChars = 64;
absl::Status ValidateUsageLabel(const std::string& field,
                                const std::string& value, int max_chars);
// A ListTokens expire_before: not before 1970-01-01 (Unix seconds >= 0).
absl::Status ValidateExpireBefore(int64_t unix_seconds);

// ReportLeakedTokens and LookupTokens: 1-100 entries (values and digests
// together), each digest 32 bytes; `field` names the entries in the message.
inline constexpr int kMaxLeakEntries = 100;
absl::Status ValidateLeakEntryCount(const std::string& field, int64_t count);
absl::Status ValidateDigestBytes(const std::string& field,
                                 const std::vector<std::string>& digests);
// Where leaked values were found: at most 1024 bytes of valid UTF-8 without
// control characters (newlines and tabs allowed); may be empty.
inline constexpr int kMaxLeakLocationBytes = 1024;
absl::Status ValidateLeakLocation(const std::string& location);
// RotateSelf's grace period: 0 to 3600 seconds.
inline constexpr int kMaxSelfRotateGraceSeconds = 3600;
absl::Status ValidateSelfRotateGraceSeconds(int64_t seconds);

}  // namespace tokens

#endif  // COMMON_VALIDATION_H_
