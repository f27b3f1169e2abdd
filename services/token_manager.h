// TokenManager: the token lifecycle as plain C++ (no gRPC types). Validates
// every field, generates values, keeps only digests, writes audit entries, and
// tells the ChangeFeed after each committed change. Thread-safe; the store,
// clock, codec and feed must outlive it.
//
// Errors: InvalidArgument naming the field, NotFound for an unknown id,
// Unavailable when the store is, Internal only for faults of ours. No error
// message ever contains a token value.
#ifndef SERVICES_TOKEN_MANAGER_H_
#define SERVICES_TOKEN_MANAGER_H_

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/peer_throttle.h"
#include "services/caller_registry.h"
#include "services/change_feed.h"
#include "services/page_token.h"
#include "storage/token_store.h"

namespace tokens {

// What TokenService does when a verifier reports the reuse of a revoked
// value (--on-reuse).
enum class ReusePolicy {
  kAudit,   // Record token.reuse_detected only.
  kRevoke,  // Also delete the token, so its current value stops verifying.
};

struct TokenManagerOptions {
  // Server-side cap on expiration_days (<= 365).
  int max_expiration_days = 365;
  ReusePolicy on_reuse = ReusePolicy::kAudit;
  // Called after every audit row written (the notifier's wake-up); may be
  // empty. Must not block.
  std::function<void()> audit_written;
  // RotateSelf: each client address that presents a bad value (malformed,
  // unknown, revoked, expired) takes one from its bucket; an empty bucket is
  // ResourceExhausted before any lookup.
  PeerThrottleOptions self_rotate_throttle;
  // ReportLeakedTokens from a `reporter` caller: every call takes one from the
  // caller's bucket (admins are not limited).
  PeerThrottleOptions reporter_limit{/*burst=*/10, /*refill_per_second=*/1,
                                     /*max_peers=*/1000};
};

// ListTokensRequest in plain C++.
struct ListTokensParams {
  std::string deployment_id;
  int64_t page_size = 0;
  std::string page_token;
  // create_time (default when empty), expire_time, name, last_used_time.
  std::string order_by;
  // Unset = no filter.
  std::optional<absl::Time> expire_before;
};

// ReportUsageRequest in plain C++.
struct UsageReport {
  std::string verifier_name;
  std::vector<TokenUsageRecord> usages;  // verifier_name filled in by us.
  std::vector<ReuseSighting> sightings;  // verifier_name filled in by us.
};

struct TokenManagerStats {
  int64_t reuse_detected_total = 0;
  int64_t reuse_revoked_total = 0;
};

struct CreateTokenParams {
  std::string deployment_id;
  std::string name;
  std::string description;
  int64_t expiration_days = 0;
  bool self_rotate = false;
};

// ReportLeakedTokensRequest in plain C++.
struct LeakReport {
  std::vector<std::string> values;
  std::vector<std::string> digests;  // 32 bytes each
  std::string location;
};

// What ReportLeaked did with one entry (values first, then digests).
struct LeakOutcome {
  bool revoked = false;  // It was live and its token is deleted now.
  std::string token_id;
  std::string deployment_id;
};

// What Lookup found for one digest: `live` with the token, or not.
struct TokenLookupResult {
  bool live = false;
  TokenRecord token;
};

// A token together with its value, returned only by Create, Rotate and
// RotateSelf.
struct IssuedToken {
  TokenRecord token;
  std::string secret;
};

struct TokenList {
  std::vector<TokenRecord> tokens;
  std::string next_page_token;
  int32_t total_size = 0;
};

struct AuditList {
  std::vector<AuditEntry> events;
  std::string next_page_token;
};

// The updatable fields of a token, as an UpdateToken request carries them.
struct TokenFields {
  std::string name;
  std::string description;
};

class TokenManager {
 public:
  TokenManager(TokenStore* store, Clock* clock, const PageTokenCodec* pages,
               ChangeFeed* feed, TokenManagerOptions options);

  absl::StatusOr<IssuedToken> Create(const Principal& caller,
                                     const CreateTokenParams& params);
  // Create without waiting for the commit: `done` runs once, with what Create
  // would return, on this thread or a thread of the store's
  // (TokenStore::CreateAsync). Create is this and a wait.
  using CreateDone = std::function<void(absl::StatusOr<IssuedToken>)>;
  void CreateAsync(const Principal& caller, const CreateTokenParams& params,
                   CreateDone done);
  // True when CreateAsync(caller, params) would not block its thread: the
  // store's CreateAsync never blocks and `params` are valid (a refusal is
  // audited, which writes to the store). Pure, cheap.
  bool CreateNeverBlocks(const CreateTokenParams& params) const;
  absl::StatusOr<TokenRecord> Get(const std::string& id);
  absl::StatusOr<TokenList> List(const ListTokensParams& params);
  // UpdateToken as the API defines it: `update_mask` names the fields to
  // take from `fields` ("name", "description"); an empty mask takes the
  // fields that are set (non-empty). At least one field must result; an
  // unknown path is InvalidArgument naming update_mask. Refusals are audited.
  absl::StatusOr<TokenRecord> Update(
      const Principal& caller, const std::string& id, const TokenFields& fields,
      const std::vector<std::string>& update_mask);
  absl::Status Delete(const Principal& caller, const std::string& id);
  absl::StatusOr<IssuedToken> Rotate(const Principal& caller,
                                     const std::string& id,
                                     int64_t grace_period_seconds);
  // ReportLeakedTokens: each entry that is live (the current value, or a
  // previous value inside its grace period, of a token that has not
  // expired) has its token deleted, audited as token.leaked under `caller`
  // with the location in `detail` (a value found in the location is shown
  // as its hint). A `reporter` is rate-limited (ResourceExhausted). One
  // outcome per entry, values first; a malformed value is not live.
  absl::StatusOr<std::vector<LeakOutcome>> ReportLeaked(
      const Principal& caller, const LeakReport& report);
  // LookupTokens: whether each digest is live, by the same rule.
  absl::StatusOr<std::vector<TokenLookupResult>> Lookup(
      const std::vector<std::string>& digests);
  // RotateSelf: rotates the token whose current value is `value`, when it
  // was created with self_rotate, as principal `token:<id>`. Unauthenticated
  // for a malformed, unknown, revoked or expired value or one inside its
  // grace period (each charged to `client`'s throttle bucket),
  // PermissionDenied without self_rotate, ResourceExhausted while `client`
  // is throttled. Refusals are audited.
  absl::StatusOr<IssuedToken> RotateSelf(const std::string& value,
                                         int64_t grace_period_seconds,
                                         const std::string& client);

  absl::StatusOr<AuditList> ListAudit(const std::string& deployment_id,
                                      int64_t page_size,
                                      const std::string& page_token);
  // Records last use (with who used it) and the reuse sightings: each one an
  // audit event token.reuse_detected under `caller`, and with
  // ReusePolicy::kRevoke the deletion of a token that still exists. A
  // sighting of a token the store knows nothing of is ignored.
  absl::Status ReportUsage(const Principal& caller, UsageReport report);

  TokenManagerStats stats() const;

  // Records a request that was refused before reaching the store
  // (authentication, role, validation) so that the audit log shows every
  // denial. Never fails the caller.
  void AuditRefusal(const std::string& principal, const std::string& action,
                    const std::string& token_id,
                    const std::string& deployment_id,
                    const absl::Status& refusal);

 private:
  // CreateToken's field rules, naming the field.
  absl::Status ValidateCreate(const CreateTokenParams& params) const;
  AuditEntry Audit(const std::string& principal, const std::string& action,
                   const std::string& token_id,
                   const std::string& deployment_id) const;
  void AuditWritten() const;
  // The audit row of a refusal (ids that break their rules left out).
  AuditEntry RefusalEntry(const std::string& principal,
                          const std::string& action,
                          const std::string& token_id,
                          const std::string& deployment_id,
                          const absl::Status& refusal) const;
  // A create whose commit failed: its refusal, queued with
  // TokenStore::RecordAuditAsync (no read, no commit on this thread).
  void AuditCommitFailure(const std::string& principal,
                          const TokenRecord& token,
                          const absl::Status& failure);
  absl::Status RecordSighting(const Principal& caller,
                              const ReuseSighting& sighting);
  // Rotates `current` (read from the store) as `principal`.
  absl::StatusOr<IssuedToken> RotateRecord(const std::string& principal,
                                           const TokenRecord& current,
                                           int64_t grace_period_seconds);
  // The token `digest` verifies as now, or NotFound.
  absl::StatusOr<TokenRecord> FindLive(const Digest& digest);
  // Deletes `token` as leaked; false when it was gone already.
  absl::StatusOr<bool> RevokeLeaked(const Principal& caller,
                                    const TokenRecord& token,
                                    const std::string& location);

  TokenStore* const store_;
  Clock* const clock_;
  const PageTokenCodec* const pages_;
  ChangeFeed* const feed_;
  const TokenManagerOptions options_;
  std::atomic<int64_t> reuse_detected_total_{0};
  std::atomic<int64_t> reuse_revoked_total_{0};
  PeerThrottle self_rotate_throttle_;
  PeerThrottle reporter_limit_;
};

}  // namespace tokens

#endif  // SERVICES_TOKEN_MANAGER_H_
