// ClusterState: what stateless TokenService replicas must agree on besides the
// tokens themselves: who may call (caller key digests) and shared secrets (the
// page-token key). It lives in the database, so every replica on one database
// sees the same callers and accepts the same page tokens.
// PostgresTokenStore implements it; with the SQLite default the data
// directory's files (credentials, page_token.key) play this part.
//
// Thread-safe. Never sees a caller key, only its SHA-256 hex digest.
// Errors: Unavailable when the database cannot be reached (nothing changed),
// Internal for anything else it reports.
#ifndef STORAGE_CLUSTER_STATE_H_
#define STORAGE_CLUSTER_STATE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tokens {

// The caller roles, as the credentials file and the callers table spell them:
// "admin" (manages tokens), "verifier" (the feed and usage reports) and
// "reporter" (a secret scanner: ReportLeakedTokens only).
inline constexpr const char* kCallerRoleNames[] = {"admin", "verifier",
                                                   "reporter"};
inline bool IsCallerRoleName(const std::string& role) {
  for (const char* name : kCallerRoleNames) {
    if (role == name) return true;
  }
  return false;
}
inline constexpr char kCallerRoleList[] = "admin, verifier or reporter";

// One caller of TokenService. `role` is one of kCallerRoleNames.
struct CallerRecord {
  std::string name;
  std::string role;
  std::string key_digest_hex;  // SHA-256 of the key, 64 lowercase hex digits.
};

class ClusterState {
 public:
  virtual ~ClusterState() = default;

  // The secret called `name`. When none is stored yet, stores `candidate` and
  // returns it; when another replica got there first, returns theirs.
  virtual absl::StatusOr<std::string> GetOrCreateSecret(
      const std::string& name, const std::string& candidate) = 0;

  // Inserts `callers` only when no caller exists yet, atomically (the first
  // replica on an empty database). Returns true when they were inserted.
  virtual absl::StatusOr<bool> InitializeCallers(
      const std::vector<CallerRecord>& callers) = 0;

  // Every caller, ordered by name.
  virtual absl::StatusOr<std::vector<CallerRecord>> ListCallers() = 0;

  // Adds one caller. AlreadyExists when the name or the digest is taken.
  virtual absl::Status AddCaller(const CallerRecord& caller) = 0;

  // Removes the caller `name`. NotFound when there is none.
  virtual absl::Status RemoveCaller(const std::string& name) = 0;
};

}  // namespace tokens

#endif  // STORAGE_CLUSTER_STATE_H_
