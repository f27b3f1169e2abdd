#include "services/token_manager.h"

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "common/json_log.h"
#include "common/token_value.h"
#include "common/validation.h"
#include "storage/store_rules.h"

namespace tokens {
namespace {

// Status code names as the audit log and logs spell them.
std::string OutcomeOf(const absl::Status& status) {
  return status.ok() ? "OK" : absl::StatusCodeToString(status.code());
}

absl::Time ExpiryFrom(absl::Time now, int32_t days) {
  return days == 0 ? absl::InfiniteFuture() : now + absl::Hours(24) * days;
}

// Returns `status` unchanged after recording it in the audit log when it is a
// failure that the store did not already record.
absl::Status RecordIfRejected(TokenManager* manager, const absl::Status& status,
                              const Principal& caller, const char* action,
                              const std::string& token_id,
                              const std::string& deployment_id) {
  if (!status.ok()) {
    manager->AuditRefusal(caller.name, action, token_id, deployment_id, status);
  }
  return status;
}

// An audit row that could not be written: logged, never the caller's failure.
void LogAuditWriteFailed(const std::string& action,
                         const absl::Status& failure) {
  JsonLog("audit.write_failed", "error")
      .Str("action", action)
      .Str("error", std::string(failure.message()));
}

// The order_by names of ListTokensRequest.
absl::StatusOr<TokenOrder> ParseTokenOrder(const std::string& order_by) {
  if (order_by.empty() || order_by == "create_time") {
    return TokenOrder::kCreateTime;
  }
  if (order_by == "expire_time") return TokenOrder::kExpireTime;
  if (order_by == "name") return TokenOrder::kName;
  if (order_by == "last_used_time") return TokenOrder::kLastUsedTime;
  return absl::InvalidArgumentError(
      "order_by: must be one of create_time, expire_time, name, "
      "last_used_time");
}

// The cursor after `token` in `order`.
ListCursor CursorAfter(const TokenRecord& token, TokenOrder order) {
  ListCursor cursor;
  cursor.id = token.id;
  switch (order) {
    case TokenOrder::kCreateTime:
      cursor.time = token.create_time;
      break;
    case TokenOrder::kExpireTime:
      cursor.time = token.expire_time;
      break;
    case TokenOrder::kName:
      cursor.name = token.name;
      break;
    case TokenOrder::kLastUsedTime:
      cursor.time = token.last_used_time;
      break;
  }
  return cursor;
}

}  // namespace

TokenManager::TokenManager(TokenStore* store, Clock* clock,
                           const PageTokenCodec* pages, ChangeFeed* feed,
                           TokenManagerOptions options)
    : store_(store),
      clock_(clock),
      pages_(pages),
      feed_(feed),
      options_(options),
      self_rotate_throttle_(options.self_rotate_throttle, clock),
      reporter_limit_(options.reporter_limit, clock) {}

AuditEntry TokenManager::Audit(const std::string& principal,
                               const std::string& action,
                               const std::string& token_id,
                               const std::string& deployment_id) const {
  AuditEntry entry;
  entry.time = clock_->Now();
  entry.principal = principal;
  entry.action = action;
  entry.token_id = token_id;
  entry.deployment_id = deployment_id;
  entry.outcome = "OK";
  return entry;
}

void TokenManager::AuditWritten() const {
  if (options_.audit_written) options_.audit_written();
}

TokenManagerStats TokenManager::stats() const {
  return {reuse_detected_total_.load(), reuse_revoked_total_.load()};
}

void TokenManager::AuditRefusal(const std::string& principal,
                                const std::string& action,
                                const std::string& token_id,
                                const std::string& deployment_id,
                                const absl::Status& refusal) {
  std::string deployment = deployment_id;
  // Fill the Deployment from the token when the request named only an id, so
  // the refusal is listed with the Deployment's audit log.
  if (deployment.empty() && !token_id.empty() &&
      ValidateTokenId(token_id).ok()) {
    if (auto token = store_->Get(token_id); token.ok()) {
      deployment = token->deployment_id;
    }
  }
  AuditEntry entry =
      RefusalEntry(principal, action, token_id, deployment, refusal);
  if (absl::Status s = store_->RecordAudit(entry); !s.ok()) {
    LogAuditWriteFailed(action, s);
    return;
  }
  AuditWritten();
}

AuditEntry TokenManager::RefusalEntry(const std::string& principal,
                                      const std::string& action,
                                      const std::string& token_id,
                                      const std::string& deployment_id,
                                      const absl::Status& refusal) const {
  AuditEntry entry = Audit(principal, action, token_id, deployment_id);
  if (!ValidateDeploymentId(entry.deployment_id).ok()) {
    entry.deployment_id.clear();
  }
  if (!ValidateTokenId(entry.token_id).ok()) entry.token_id.clear();
  entry.outcome = OutcomeOf(refusal);
  entry.detail = std::string(refusal.message());
  return entry;
}

void TokenManager::AuditCommitFailure(const std::string& principal,
                                      const TokenRecord& token,
                                      const absl::Status& failure) {
  store_->RecordAuditAsync(RefusalEntry(principal, kActionCreate, token.id,
                                        token.deployment_id, failure),
                           [this](const absl::Status& written) {
                             if (!written.ok()) {
                               LogAuditWriteFailed(kActionCreate, written);
                               return;
                             }
                             AuditWritten();
                           });
}

absl::StatusOr<IssuedToken> TokenManager::Create(
    const Principal& caller, const CreateTokenParams& params) {
  absl::Notification created;
  absl::StatusOr<IssuedToken> result;
  CreateAsync(caller, params, [&](absl::StatusOr<IssuedToken> issued) {
    result = std::move(issued);
    created.Notify();
  });
  created.WaitForNotification();
  return result;
}

absl::Status TokenManager::ValidateCreate(
    const CreateTokenParams& params) const {
  absl::Status valid = ValidateDeploymentId(params.deployment_id);
  if (valid.ok()) valid = ValidateName(params.name);
  if (valid.ok()) valid = ValidateDescription(params.description);
  if (valid.ok()) {
    valid = ValidateExpirationDays(params.expiration_days,
                                   options_.max_expiration_days);
  }
  return valid;
}

bool TokenManager::CreateNeverBlocks(const CreateTokenParams& params) const {
  return store_->CreateAsyncNeverBlocks() && ValidateCreate(params).ok();
}

void TokenManager::CreateAsync(const Principal& caller,
                               const CreateTokenParams& params,
                               CreateDone done) {
  if (absl::Status valid = ValidateCreate(params); !valid.ok()) {
    done(RecordIfRejected(this, valid, caller, kActionCreate, "",
                          params.deployment_id));
    return;
  }
  const absl::Time now = clock_->Now();
  auto id = GenerateTokenId(now);
  auto secret = GenerateTokenValue();
  if (!id.ok() || !secret.ok()) {
    done(!id.ok() ? id.status() : secret.status());
    return;
  }

  TokenRecord record;
  record.id = *id;
  record.deployment_id = params.deployment_id;
  record.name = params.name;
  record.description = params.description;
  record.short_token = ShortTokenHint(*secret);
  record.expiration_days = static_cast<int32_t>(params.expiration_days);
  record.secret_digest = DigestOf(*secret);
  record.create_time = now;
  record.update_time = now;
  record.expire_time = ExpiryFrom(now, record.expiration_days);
  record.created_by = caller.name;
  record.updated_by = caller.name;
  record.self_rotate = params.self_rotate;

  AuditEntry audit =
      Audit(caller.name, kActionCreate, record.id, record.deployment_id);
  // `record` goes to the store; the answer needs a copy of it.
  store_->CreateAsync(
      record, std::move(audit),
      [this, caller_name = caller.name, issued = IssuedToken{record, *secret},
       done = std::move(done)](absl::StatusOr<int64_t> revision) mutable {
        if (!revision.ok()) {
          // On the thread that finishes every create (SQLite's finisher):
          // the call is finished first, and the refusal is queued rather
          // than committed here, so a failed commit holds up no other create.
          done(revision.status());
          AuditCommitFailure(caller_name, issued.token, revision.status());
          return;
        }
        feed_->Notify();
        AuditWritten();
        done(std::move(issued));
      });
}

absl::StatusOr<TokenRecord> TokenManager::Get(const std::string& id) {
  if (absl::Status valid = ValidateTokenId(id); !valid.ok()) return valid;
  return store_->Get(id);
}

absl::StatusOr<TokenList> TokenManager::List(const ListTokensParams& params) {
  absl::Status valid = ValidateDeploymentId(params.deployment_id);
  if (valid.ok()) valid = ValidatePageSize(params.page_size);
  absl::StatusOr<TokenOrder> order = ParseTokenOrder(params.order_by);
  if (valid.ok()) valid = order.status();
  if (valid.ok() && params.expire_before) {
    valid = ValidateExpireBefore(absl::ToUnixSeconds(*params.expire_before));
  }
  if (!valid.ok()) return valid;

  ListQuery query;
  query.deployment_id = params.deployment_id;
  query.order = *order;
  query.expire_before = params.expire_before.value_or(absl::InfiniteFuture());
  query.limit = static_cast<int32_t>(params.page_size == 0 ? kDefaultPageSize
                                                           : params.page_size);
  const TokenListing listing{query.deployment_id, query.order,
                             query.expire_before};
  if (!params.page_token.empty()) {
    absl::StatusOr<ListCursor> decoded =
        pages_->DecodeTokenPage(params.page_token, listing);
    if (!decoded.ok()) return decoded.status();
    query.after = *std::move(decoded);
  }
  auto page = store_->List(query);
  if (!page.ok()) return page.status();

  TokenList list;
  list.total_size = page->total_size;
  if (page->more && !page->tokens.empty()) {
    list.next_page_token = pages_->EncodeTokenPage(
        listing, CursorAfter(page->tokens.back(), query.order));
  }
  list.tokens = std::move(page->tokens);
  return list;
}

absl::StatusOr<TokenRecord> TokenManager::Update(
    const Principal& caller, const std::string& id, const TokenFields& fields,
    const std::vector<std::string>& update_mask) {
  std::optional<std::string> name;
  std::optional<std::string> description;
  if (update_mask.empty()) {
    if (!fields.name.empty()) name = fields.name;
    if (!fields.description.empty()) description = fields.description;
  }
  for (const std::string& path : update_mask) {
    if (path == "name") {
      name = fields.name;
    } else if (path == "description") {
      description = fields.description;
    } else {
      return RecordIfRejected(
          this,
          absl::InvalidArgumentError(
              "update_mask: unknown path (allowed: name, description)"),
          caller, kActionUpdate, id, "");
    }
  }
  absl::Status valid = ValidateTokenId(id);
  if (valid.ok() && name) valid = ValidateName(*name);
  if (valid.ok() && description) valid = ValidateDescription(*description);
  if (valid.ok() && !name && !description) {
    valid = absl::InvalidArgumentError(
        "update_mask: names no field to update (name, description)");
  }
  if (!valid.ok()) {
    return RecordIfRejected(this, valid, caller, kActionUpdate, id, "");
  }
  // The audit entry is listed under the token's Deployment.
  auto current = store_->Get(id);
  if (!current.ok()) {
    return RecordIfRejected(this, current.status(), caller, kActionUpdate, id,
                            "");
  }
  TokenUpdate update;
  update.name = std::move(name);
  update.description = std::move(description);
  update.now = clock_->Now();
  update.updated_by = caller.name;
  auto updated = store_->Update(
      id, update,
      Audit(caller.name, kActionUpdate, id, current->deployment_id));
  if (!updated.ok()) {
    return RecordIfRejected(this, updated.status(), caller, kActionUpdate, id,
                            current->deployment_id);
  }
  feed_->Notify();
  AuditWritten();
  return updated;
}

absl::Status TokenManager::Delete(const Principal& caller,
                                  const std::string& id) {
  absl::Status status = ValidateTokenId(id);
  if (status.ok()) {
    status =
        store_->Delete(id, Audit(caller.name, kActionDelete, id, "")).status();
  }
  if (!status.ok()) {
    return RecordIfRejected(this, status, caller, kActionDelete, id, "");
  }
  feed_->Notify();
  AuditWritten();
  return absl::OkStatus();
}

absl::StatusOr<IssuedToken> TokenManager::Rotate(const Principal& caller,
                                                 const std::string& id,
                                                 int64_t grace_period_seconds) {
  absl::Status valid = ValidateTokenId(id);
  if (valid.ok()) valid = ValidateGracePeriodSeconds(grace_period_seconds);
  if (!valid.ok()) {
    return RecordIfRejected(this, valid, caller, kActionRotate, id, "");
  }
  auto current = store_->Get(id);
  if (!current.ok()) {
    return RecordIfRejected(this, current.status(), caller, kActionRotate, id,
                            "");
  }
  return RotateRecord(caller.name, *current, grace_period_seconds);
}

absl::StatusOr<IssuedToken> TokenManager::RotateRecord(
    const std::string& principal, const TokenRecord& current,
    int64_t grace_period_seconds) {
  const std::string& id = current.id;
  auto secret = GenerateTokenValue();
  if (!secret.ok()) return secret.status();

  Rotation rotation;
  rotation.now = clock_->Now();
  rotation.new_digest = DigestOf(*secret);
  rotation.short_token = ShortTokenHint(*secret);
  rotation.expire_time = ExpiryFrom(rotation.now, current.expiration_days);
  rotation.updated_by = principal;
  if (grace_period_seconds > 0) {
    // The old value never outlives its own expiry.
    rotation.previous_valid_until =
        std::min(rotation.now + absl::Seconds(grace_period_seconds),
                 current.expire_time);
  }
  auto rotated = store_->Rotate(
      id, rotation, Audit(principal, kActionRotate, id, current.deployment_id));
  if (!rotated.ok()) {
    AuditRefusal(principal, kActionRotate, id, current.deployment_id,
                 rotated.status());
    return rotated.status();
  }
  feed_->Notify();
  AuditWritten();
  return IssuedToken{*std::move(rotated), *std::move(secret)};
}

absl::StatusOr<AuditList> TokenManager::ListAudit(
    const std::string& deployment_id, int64_t page_size,
    const std::string& page_token) {
  absl::Status valid = ValidateDeploymentId(deployment_id);
  if (valid.ok()) valid = ValidatePageSize(page_size);
  if (!valid.ok()) return valid;
  if (page_size == 0) page_size = kDefaultPageSize;

  int64_t before_id = 0;
  if (!page_token.empty()) {
    absl::StatusOr<int64_t> decoded =
        pages_->DecodeAuditPage(page_token, deployment_id);
    if (!decoded.ok()) return decoded.status();
    before_id = *decoded;
  }
  // One extra row tells whether another page follows.
  auto events = store_->ListAudit(deployment_id, before_id,
                                  static_cast<int32_t>(page_size) + 1);
  if (!events.ok()) return events.status();
  AuditList list;
  if (events->size() > static_cast<size_t>(page_size)) {
    events->resize(page_size);
    list.next_page_token =
        pages_->EncodeAuditPage(deployment_id, events->back().id);
  }
  list.events = *std::move(events);
  return list;
}

absl::Status TokenManager::ReportUsage(const Principal& caller,
                                       UsageReport report) {
  if (report.usages.size() > kMaxUsageReportEntries) {
    return absl::InvalidArgumentError(
        absl::StrCat("usages: at most ", kMaxUsageReportEntries, " entries"));
  }
  if (report.sightings.size() > kMaxUsageReportEntries) {
    return absl::InvalidArgumentError(absl::StrCat(
        "reuse_sightings: at most ", kMaxUsageReportEntries, " entries"));
  }
  absl::Status valid = ValidateUsageLabel("verifier_name", report.verifier_name,
                                          kMaxVerifierNameChars);
  const absl::Time now = clock_->Now();
  for (TokenUsageRecord& usage : report.usages) {
    if (!valid.ok()) break;
    valid = ValidateTokenId(usage.token_id);
    if (!valid.ok()) {
      valid = absl::InvalidArgumentError(
          absl::StrCat("usages.token_id: ", valid.message()));
      break;
    }
    valid = ValidateUsageLabel("usages.client_address", usage.client_address,
                               kMaxClientAddressChars);
    // A verifier's clock running ahead must not put last_used_time in the
    // future.
    usage.last_used_time = std::min(usage.last_used_time, now);
    usage.verifier_name = report.verifier_name;
  }
  for (ReuseSighting& sighting : report.sightings) {
    if (!valid.ok()) break;
    valid = ValidateTokenId(sighting.token_id);
    if (!valid.ok()) {
      valid = absl::InvalidArgumentError(
          absl::StrCat("reuse_sightings.token_id: ", valid.message()));
      break;
    }
    valid = ValidateUsageLabel("reuse_sightings.client_address",
                               sighting.client_address, kMaxClientAddressChars);
    if (valid.ok() && sighting.count < 0) {
      valid = absl::InvalidArgumentError(
          "reuse_sightings.count: must not be negative");
    }
    sighting.time = std::min(sighting.time, now);
    sighting.count = std::max(sighting.count, 1);
    sighting.verifier_name = report.verifier_name;
  }
  if (!valid.ok()) return valid;

  if (!report.usages.empty()) {
    if (absl::Status s = store_->RecordUsage(report.usages); !s.ok()) return s;
  }
  for (const ReuseSighting& sighting : report.sightings) {
    if (absl::Status s = RecordSighting(caller, sighting); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status TokenManager::RecordSighting(const Principal& caller,
                                          const ReuseSighting& sighting) {
  AuditEntry audit = Audit(caller.name, kActionReuseDetected, sighting.token_id,
                           /*deployment_id=*/"");
  audit.time = sighting.time;
  audit.detail = absl::StrCat("verifier=", sighting.verifier_name,
                              " client=", sighting.client_address,
                              " count=", sighting.count);
  absl::StatusOr<ReuseOutcome> outcome = store_->RecordReuse(sighting, audit);
  if (absl::IsNotFound(outcome.status())) return absl::OkStatus();
  if (!outcome.ok()) return outcome.status();
  reuse_detected_total_.fetch_add(1);
  AuditWritten();
  JsonLog("token.reuse_detected", "warn")
      .Str("token_id", sighting.token_id)
      .Str("deployment_id", outcome->deployment_id)
      .Str("verifier", sighting.verifier_name)
      .Str("client", sighting.client_address);
  if (options_.on_reuse != ReusePolicy::kRevoke || !outcome->token_exists) {
    return absl::OkStatus();
  }
  // GitLab's family revocation: the current value goes too.
  absl::Status deleted = Delete(
      Principal{"policy:on-reuse", CallerRole::kAdmin}, sighting.token_id);
  if (absl::IsNotFound(deleted)) return absl::OkStatus();  // Raced a delete.
  if (deleted.ok()) reuse_revoked_total_.fetch_add(1);
  return deleted;
}

}  // namespace tokens
