// What `tokenctl scan --check` and `--report` ask TokenService, by SHA-256
// digest only: a value never goes over the wire. Requests are split into
// batches of at most kScanBatch digests (the server's limit per call).
// Thread-compatible (one AdminSession).
#ifndef CLI_SCAN_REMOTE_H_
#define CLI_SCAN_REMOTE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/commands.h"
#include "common/token_value.h"
#include "common/validation.h"
#include "proto/tokens/v1/tokens.pb.h"

namespace tokens::cli {

// At most this many digests per LookupTokens or ReportLeakedTokens call.
inline constexpr size_t kScanBatch = kMaxLeakEntries;

// One TokenLookup per digest, in order (LookupTokens; admin key). The
// session's error (PERMISSION_DENIED for a non-admin key, ...) otherwise.
absl::StatusOr<std::vector<v1::TokenLookup>> LookupDigests(
    AdminSession& session, const std::vector<Digest>& digests);

struct LeakReport {
  int64_t received = 0;  // summed over the batches
  // One per digest, in order, for an admin caller; empty for a reporter.
  std::vector<v1::LeakResult> results;
};

// Reports `digests` as leaked at `location` (ReportLeakedTokens; reporter or
// admin key). The session's error otherwise (RESOURCE_EXHAUSTED when a
// reporter is rate-limited; earlier batches stay reported).
absl::StatusOr<LeakReport> ReportDigests(AdminSession& session,
                                         const std::vector<Digest>& digests,
                                         const std::string& location);

}  // namespace tokens::cli

#endif  // CLI_SCAN_REMOTE_H_
