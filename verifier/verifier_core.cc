#include "verifier/verifier_core.h"

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/json_log.h"
#include "common/token_value.h"

namespace tokens {
namespace {

absl::Status ValidateField(const char* name, std::string_view value) {
  if (value.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(name, " is required"));
  }
  if (value.size() > kMaxCheckFieldBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " is longer than ", kMaxCheckFieldBytes, " bytes"));
  }
  return absl::OkStatus();
}

}  // namespace

VerifierCore::VerifierCore(const TokenCache* cache,
                           const Authorizer* authorizer, Metrics* metrics,
                           UsageReporter* usage, const Clock* clock)
    : cache_(cache),
      authorizer_(authorizer),
      metrics_(metrics),
      usage_(usage),
      clock_(clock) {}

absl::Status VerifierCore::ValidateRequest(std::string_view deployment_id,
                                           std::string_view operation) {
  absl::Status status = ValidateField("deployment_id", deployment_id);
  if (!status.ok()) return status;
  return ValidateField("operation", operation);
}

Decision VerifierCore::Check(std::string_view token,
                             std::string_view deployment_id,
                             std::string_view operation) {
  // With no origin there is no end client, so nothing is throttled.
  return *Decide(nullptr, token, deployment_id, operation);
}

absl::StatusOr<Decision> VerifierCore::CheckFromPeer(
    std::string_view peer, std::string_view token,
    std::string_view deployment_id, std::string_view operation) {
  return CheckFrom(
      {[peer] { return std::string(peer); }, [] { return std::string(); }},
      token, deployment_id, operation);
}

absl::StatusOr<Decision> VerifierCore::CheckFrom(const CheckOrigin& origin,
                                                 std::string_view token,
                                                 std::string_view deployment_id,
                                                 std::string_view operation) {
  return Decide(&origin, token, deployment_id, operation);
}

std::string VerifierCore::EndClient(const CheckOrigin& origin) const {
  const std::string peer = PeerHost(origin.peer());
  return trusted_ == nullptr ? peer
                             : trusted_->EndClient(peer, origin.forwarded());
}

absl::StatusOr<Decision> VerifierCore::Decide(const CheckOrigin* origin,
                                              std::string_view token,
                                              std::string_view deployment_id,
                                              std::string_view operation) {
  // Latency on the clock's monotonic time (a FakeClock's stands still: zero).
  const absl::Duration start = clock_->Monotonic();
  Decision decision = authorizer_->Check(token, deployment_id, operation);
  metrics_->RecordCheck(decision.reason, clock_->Monotonic() - start);

  // Computed at most once, and only when needed.
  std::optional<std::string> client;
  auto end_client = [&]() -> const std::string& {
    if (!client.has_value()) {
      client = origin == nullptr ? std::string() : EndClient(*origin);
    }
    return *client;
  };
  const CheckReason reason = decision.reason;
  if (IsBadToken(reason) && reason != CheckReason::kMalformedToken) {
    // A use of an unknown (never issued, or revoked long ago), revoked
    // (deleted or rotated away) or expired token: counted above by reason, and
    // logged by the first bytes of its digest only, never the value. A
    // malformed value is only counted.
    JsonLog log("check.rejected_token", "warn");
    log.Str("reason", std::string(CheckReasonName(reason)))
        .Str("digest_prefix", DigestPrefixHex(DigestOf(token)))
        .Str("token_id", decision.token_id)
        .Str("deployment_id", std::string(deployment_id.substr(0, 64)));
    if (reason == CheckReason::kRevokedToken) {
      log.Str("client_address", end_client());
    }
  }
  if (usage_ != nullptr) {
    if (decision.allowed()) {
      usage_->Record(decision.token_id, clock_->Now(), end_client());
    } else if (reason == CheckReason::kRevokedToken) {
      usage_->RecordReuse(decision.token_id, clock_->Now(), end_client());
    }
  }
  if (throttle_ == nullptr || origin == nullptr) return decision;
  // Only bad tokens are throttled. A sidecar's one peer is often its own app,
  // relaying every user's requests: refusing its valid tokens too would let one
  // attacker deny service to all.
  if (!IsBadToken(reason)) return decision;
  if (end_client().empty()) return decision;  // a trusted proxy naming no one
  if (!throttle_->Allow(*client)) {
    return absl::ResourceExhaustedError(
        "too many failed checks from this client; slow down");
  }
  throttle_->ChargeFailure(*client);
  return decision;
}

std::string VerifierCore::RenderMetrics() const {
  const CacheState state = cache_->state();
  Metrics::Gauges gauges;
  gauges.ready = authorizer_->IsReady();
  gauges.cached_tokens = state.token_count;
  gauges.revision = state.revision;
  gauges.seconds_since_heartbeat =
      absl::ToDoubleSeconds(clock_->Now() - state.last_heartbeat);
  gauges.revoked_values = state.revoked_count;
  gauges.revoked_evicted = state.revoked_evicted;
  std::string text = metrics_->Render(gauges);
  text += absl::StrCat(
      "# HELP token_verifier_throttled_total Checks refused because their "
      "peer made too many failed checks.\n"
      "# TYPE token_verifier_throttled_total counter\n"
      "token_verifier_throttled_total ",
      throttle_ == nullptr ? 0 : throttle_->throttled(), "\n");
  if (extra_metrics_) text += extra_metrics_();
  return text;
}

}  // namespace tokens
