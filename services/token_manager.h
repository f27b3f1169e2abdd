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
};

// A token together with its value, returned only by Create and Rotate.
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
  absl::Status RecordSighting(const Principal& caller,
                              const ReuseSighting& sighting);

  TokenStore* const store_;
  Clock* const clock_;
  const PageTokenCodec* const pages_;
  ChangeFeed* const feed_;
  const TokenManagerOptions options_;
  std::atomic<int64_t> reuse_detected_total_{0};
  std::atomic<int64_t> reuse_revoked_total_{0};
};

}  // namespace tokens

#endif  // SERVICES_TOKEN_MANAGER_H_
