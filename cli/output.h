// How tokenctl prints: aligned tables and key/value blocks for people, one JSON
// document for scripts (`-o json`, the proto's field names), times in RFC 3339
// with a relative hint ("in 29 days", "expired 2 days ago"). Pure functions
// that return strings; `now` is passed in so tests fix it. Thread-safe.
#ifndef CLI_OUTPUT_H_
#define CLI_OUTPUT_H_

#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/proto_time.h"
#include "proto/tokens/v1/tokens.pb.h"

namespace tokens::cli {

enum class OutputFormat {
  kTable,  // for people (default)
  kJson,   // one JSON document
  kValue,  // create/rotate: only the secret value
  kId,     // only the token id(s), one a line
};

// Parses `-o`'s value. `allowed` lists the names the command accepts
// ("table", "json", "value", "id"). InvalidArgument naming them otherwise.
absl::StatusOr<OutputFormat> ParseOutputFormat(
    const std::string& text, const std::vector<std::string>& allowed);

// "2025-01-31T09:00:00Z" (UTC, whole seconds).
std::string Rfc3339(absl::Time time);

// "in 29 days", "in 5 hours", "3 minutes ago", "just now". Rounds to the
// nearest unit, so a token created now for 30 days shows "in 30 days".
std::string RelativeTime(absl::Time time, absl::Time now);

// An optional time as "RFC3339 (relative)", or `unset_text` when unset.
std::string TimeWithRelative(const google::protobuf::Timestamp& timestamp,
                             bool is_set, absl::Time now,
                             const std::string& unset_text);

// The expiry: "never", "2025-03-02T10:00:00Z (in 29 days)" or
// "2025-01-29T10:00:00Z (expired 2 days ago)".
std::string ExpiryText(const v1::Token& token, absl::Time now);

// Columns separated by two spaces, padded to the widest cell; a header row
// first. Every row must have as many cells as the header.
std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows);

// "key:   value" lines, keys padded to the widest.
std::string RenderFields(
    const std::vector<std::pair<std::string, std::string>>& fields);

// The message as one pretty-printed JSON document with the proto's field
// names (deployment_id, expire_time...), every scalar field present (0, "",
// false included), enums by name, times in RFC 3339. Ends with a newline.
std::string ToJson(const google::protobuf::Message& message);

// A token as a key/value block (get, update, create, rotate).
std::string TokenDetails(const v1::Token& token, absl::Time now);

// Tokens as a table (list).
std::string TokenTable(const std::vector<v1::Token>& tokens, absl::Time now);

// Audit events as a table (audit).
std::string AuditTable(const std::vector<v1::AuditEvent>& events);

}  // namespace tokens::cli

#endif  // CLI_OUTPUT_H_
