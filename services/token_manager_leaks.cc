// TokenManager's answers to a leaked value: ReportLeaked (revoke at once),
// Lookup (is it live?) and RotateSelf (a pipeline renews its own token).
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/json_log.h"
#include "common/token_value.h"
#include "common/validation.h"
#include "services/token_manager.h"
#include "storage/store_rules.h"

namespace tokens {
namespace {

// `text` with every well-formed token value in it replaced by its hint, so
// that a location pasted with the value in it never stores the value.
std::string WithoutValues(const std::string& text) {
  std::string out;
  size_t from = 0;
  for (size_t at = text.find(kTokenPrefix); at != std::string::npos;
       at = text.find(kTokenPrefix, at + 1)) {
    if (at < from || at + kTokenLength > text.size()) continue;
    const std::string_view candidate(text.data() + at, kTokenLength);
    if (!IsWellFormedTokenValue(candidate)) continue;
    absl::StrAppend(&out, text.substr(from, at - from),
                    ShortTokenHint(candidate));
    from = at + kTokenLength;
  }
  absl::StrAppend(&out, text.substr(from));
  return out;
}

// The digests of a report, values first; a malformed value gets nullopt (it
// can verify nowhere, so it is never looked up).
std::vector<std::optional<Digest>> DigestsOf(const LeakReport& report) {
  std::vector<std::optional<Digest>> digests;
  digests.reserve(report.values.size() + report.digests.size());
  for (const std::string& value : report.values) {
    if (IsWellFormedTokenValue(value)) {
      digests.push_back(DigestOf(value));
    } else {
      digests.push_back(std::nullopt);
    }
  }
  for (const std::string& bytes : report.digests) {
    Digest digest{};
    DigestFromBytes(bytes, &digest);  // Validated: 32 bytes.
    digests.push_back(digest);
  }
  return digests;
}

absl::Status ValidateLeakReport(const LeakReport& report) {
  absl::Status valid = ValidateLeakEntryCount(
      "values",
      static_cast<int64_t>(report.values.size() + report.digests.size()));
  if (valid.ok()) valid = ValidateDigestBytes("digests", report.digests);
  if (valid.ok()) valid = ValidateLeakLocation(report.location);
  return valid;
}

std::string SelfPrincipal(const TokenRecord& token) {
  return absl::StrCat("token:", token.id);
}

}  // namespace

absl::StatusOr<TokenRecord> TokenManager::FindLive(const Digest& digest) {
  const absl::Time now = clock_->Now();
  absl::StatusOr<TokenRecord> token = store_->FindByDigest(digest, now);
  if (token.ok() && token->expire_time <= now) return DigestNotFound();
  return token;
}

absl::StatusOr<bool> TokenManager::RevokeLeaked(const Principal& caller,
                                                const TokenRecord& token,
                                                const std::string& location) {
  AuditEntry audit = Audit(caller.name, kActionLeaked, token.id, "");
  audit.detail = absl::StrCat("location=", location);
  absl::StatusOr<int64_t> deleted = store_->Delete(token.id, audit);
  if (absl::IsNotFound(deleted.status())) return false;  // Raced a delete.
  if (!deleted.ok()) return deleted.status();
  feed_->Notify();
  AuditWritten();
  JsonLog("token.leaked", "warn")
      .Str("token_id", token.id)
      .Str("deployment_id", token.deployment_id)
      .Str("reporter", caller.name);
  return true;
}

absl::StatusOr<std::vector<LeakOutcome>> TokenManager::ReportLeaked(
    const Principal& caller, const LeakReport& report) {
  if (caller.role == CallerRole::kReporter) {
    if (!reporter_limit_.Allow(caller.name)) {
      return absl::ResourceExhaustedError(
          "ReportLeakedTokens: too many reports from this caller; retry "
          "later");
    }
    reporter_limit_.ChargeFailure(caller.name);
  }
  if (absl::Status valid = ValidateLeakReport(report); !valid.ok()) {
    return valid;
  }
  const std::string location = WithoutValues(report.location);
  std::vector<LeakOutcome> outcomes;
  for (const std::optional<Digest>& digest : DigestsOf(report)) {
    LeakOutcome& outcome = outcomes.emplace_back();
    if (!digest) continue;
    absl::StatusOr<TokenRecord> token = FindLive(*digest);
    if (absl::IsNotFound(token.status())) continue;
    if (!token.ok()) return token.status();
    absl::StatusOr<bool> revoked = RevokeLeaked(caller, *token, location);
    if (!revoked.ok()) return revoked.status();
    outcome.revoked = *revoked;
    outcome.token_id = token->id;
    outcome.deployment_id = token->deployment_id;
  }
  return outcomes;
}

absl::StatusOr<std::vector<TokenLookupResult>> TokenManager::Lookup(
    const std::vector<std::string>& digests) {
  absl::Status valid =
      ValidateLeakEntryCount("digests", static_cast<int64_t>(digests.size()));
  if (valid.ok()) valid = ValidateDigestBytes("digests", digests);
  if (!valid.ok()) return valid;
  std::vector<TokenLookupResult> results;
  for (const std::string& bytes : digests) {
    Digest digest{};
    DigestFromBytes(bytes, &digest);
    TokenLookupResult& result = results.emplace_back();
    absl::StatusOr<TokenRecord> token = FindLive(digest);
    if (absl::IsNotFound(token.status())) continue;
    if (!token.ok()) return token.status();
    result.live = true;
    result.token = *std::move(token);
  }
  return results;
}

absl::StatusOr<IssuedToken> TokenManager::RotateSelf(
    const std::string& value, int64_t grace_period_seconds,
    const std::string& client) {
  if (!self_rotate_throttle_.Allow(client)) {
    return absl::ResourceExhaustedError(
        "authorization: too many bad token values from this address; retry "
        "later");
  }
  // Refused before the token is known: audited under no Deployment.
  auto refuse = [&](absl::Status status) {
    self_rotate_throttle_.ChargeFailure(client);
    AuditRefusal("anonymous", kActionRotate, "", "", status);
    return status;
  };
  if (!IsWellFormedTokenValue(value)) {
    return refuse(absl::UnauthenticatedError(
        "authorization: RotateSelf needs `Bearer <Deployment API token>`"));
  }
  const Digest digest = DigestOf(value);
  absl::StatusOr<TokenRecord> token = FindLive(digest);
  if (absl::IsNotFound(token.status())) {
    return refuse(absl::UnauthenticatedError(
        "authorization: the token is unknown, revoked or expired"));
  }
  if (!token.ok()) return token.status();
  const std::string principal = SelfPrincipal(*token);
  auto refuse_known = [&](absl::Status status) {
    AuditRefusal(principal, kActionRotate, token->id, token->deployment_id,
                 status);
    return status;
  };
  if (token->secret_digest != digest) {
    self_rotate_throttle_.ChargeFailure(client);
    return refuse_known(absl::UnauthenticatedError(
        "authorization: this value was rotated away and is only inside its "
        "grace period; use the current value"));
  }
  if (!token->self_rotate) {
    return refuse_known(absl::PermissionDeniedError(
        "authorization: this token was not created with self_rotate"));
  }
  if (absl::Status valid = ValidateSelfRotateGraceSeconds(grace_period_seconds);
      !valid.ok()) {
    return refuse_known(valid);
  }
  return RotateRecord(principal, *token, grace_period_seconds);
}

}  // namespace tokens
