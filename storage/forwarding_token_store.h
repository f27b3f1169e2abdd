// ForwardingTokenStore: a TokenStore that passes every call to another one, so
// that a test overrides only the calls it wants to fail or observe, on a real
// store underneath. Test-only.
#ifndef STORAGE_FORWARDING_TOKEN_STORE_H_
#define STORAGE_FORWARDING_TOKEN_STORE_H_

#include <string>
#include <utility>
#include <vector>

#include "storage/token_store.h"

namespace tokens {

class ForwardingTokenStore : public TokenStore {
 public:
  // `inner` must outlive this store.
  explicit ForwardingTokenStore(TokenStore* inner) : inner_(inner) {}

  absl::StatusOr<int64_t> Create(const TokenRecord& record,
                                 const AuditEntry& audit) override {
    return inner_->Create(record, audit);
  }
  void CreateAsync(TokenRecord record, AuditEntry audit,
                   CreateDone done) override {
    inner_->CreateAsync(std::move(record), std::move(audit), std::move(done));
  }
  bool CreateAsyncNeverBlocks() const override {
    return inner_->CreateAsyncNeverBlocks();
  }
  absl::StatusOr<TokenRecord> Get(const std::string& id) override {
    return inner_->Get(id);
  }
  absl::StatusOr<TokenRecord> FindByDigest(const Digest& digest,
                                           absl::Time now) override {
    return inner_->FindByDigest(digest, now);
  }
  absl::StatusOr<TokenPage> List(const ListQuery& query) override {
    return inner_->List(query);
  }
  absl::StatusOr<TokenRecord> Update(const std::string& id,
                                     const TokenUpdate& update,
                                     const AuditEntry& audit) override {
    return inner_->Update(id, update, audit);
  }
  absl::StatusOr<TokenRecord> Rotate(const std::string& id,
                                     const Rotation& rotation,
                                     const AuditEntry& audit) override {
    return inner_->Rotate(id, rotation, audit);
  }
  absl::StatusOr<int64_t> Delete(const std::string& id,
                                 const AuditEntry& audit) override {
    return inner_->Delete(id, audit);
  }
  absl::Status RecordAudit(const AuditEntry& audit) override {
    return inner_->RecordAudit(audit);
  }
  void RecordAuditAsync(AuditEntry audit, AuditDone done) override {
    inner_->RecordAuditAsync(std::move(audit), std::move(done));
  }
  absl::StatusOr<std::vector<AuditEntry>> ListAudit(
      const std::string& deployment_id, int64_t before_id,
      int32_t limit) override {
    return inner_->ListAudit(deployment_id, before_id, limit);
  }
  absl::StatusOr<ChangeBatch> ReadChanges(int64_t since_revision,
                                          const std::string& deployment_id,
                                          int32_t limit) override {
    return inner_->ReadChanges(since_revision, deployment_id, limit);
  }
  absl::StatusOr<Snapshot> ReadSnapshot(
      const std::string& deployment_id) override {
    return inner_->ReadSnapshot(deployment_id);
  }
  absl::StatusOr<int64_t> CurrentRevision() override {
    return inner_->CurrentRevision();
  }
  absl::Status RecordUsage(
      const std::vector<TokenUsageRecord>& usages) override {
    return inner_->RecordUsage(usages);
  }
  absl::StatusOr<ReuseOutcome> RecordReuse(const ReuseSighting& sighting,
                                           const AuditEntry& audit) override {
    return inner_->RecordReuse(sighting, audit);
  }
  absl::StatusOr<std::vector<ExpiryNotice>> RecordExpiryNotices(
      absl::Time now, const std::vector<int32_t>& thresholds_days,
      const std::string& principal) override {
    return inner_->RecordExpiryNotices(now, thresholds_days, principal);
  }
  absl::StatusOr<int64_t> CountTokensExpiringBefore(
      absl::Time before) override {
    return inner_->CountTokensExpiringBefore(before);
  }
  absl::StatusOr<std::vector<PendingNotification>> ClaimNotifications(
      absl::Time now, absl::Duration lease, int32_t limit) override {
    return inner_->ClaimNotifications(now, lease, limit);
  }
  absl::Status CompleteNotification(int64_t audit_id) override {
    return inner_->CompleteNotification(audit_id);
  }
  absl::Status RetryNotification(int64_t audit_id,
                                 absl::Time next_attempt) override {
    return inner_->RetryNotification(audit_id, next_attempt);
  }
  absl::Status WatchExternalCommits(std::function<void()> wake) override {
    return inner_->WatchExternalCommits(std::move(wake));
  }

 protected:
  TokenStore* inner() const { return inner_; }

 private:
  TokenStore* const inner_;
};

}  // namespace tokens

#endif  // STORAGE_FORWARDING_TOKEN_STORE_H_
