// Helpers shared by the verifier's unit tests: fresh token values and feed
// changes.
#ifndef VERIFIER_TEST_SUPPORT_H_
#define VERIFIER_TEST_SUPPORT_H_

#include <string>

#include "absl/time/time.h"
#include "common/clock.h"
#include "common/fake_clock.h"
#include "common/token_value.h"
#include "verifier/authorizer.h"
#include "verifier/metrics.h"
#include "verifier/token_cache.h"
#include "verifier/verifier_core.h"

namespace tokens {
namespace testing_support {

// A fresh, well-formed token value.
inline std::string NewTokenValue() { return GenerateTokenValue().value(); }

// An UPSERT of `token_id` on `deployment_id` whose current value is `value`.
inline TokenChange Upsert(int64_t revision, std::string token_id,
                          std::string deployment_id, const std::string& value,
                          absl::Time expire_time = absl::InfiniteFuture()) {
  TokenChange change;
  change.revision = revision;
  change.type = TokenChange::Type::kUpsert;
  change.token_id = std::move(token_id);
  change.deployment_id = std::move(deployment_id);
  change.digest = DigestOf(value);
  change.expire_time = expire_time;
  return change;
}

inline TokenChange Delete(int64_t revision, std::string token_id) {
  TokenChange change;
  change.revision = revision;
  change.type = TokenChange::Type::kDelete;
  change.token_id = std::move(token_id);
  return change;
}

// `value` of `token_id`, revoked at `revoke_time`.
inline RevokedValue Revoked(const std::string& value, std::string token_id,
                            absl::Time revoke_time) {
  RevokedValue revoked;
  revoked.digest = DigestOf(value);
  revoked.token_id = std::move(token_id);
  revoked.deployment_id = "dep-1";
  revoked.revoke_time = revoke_time;
  return revoked;
}

// A rotation of `token_id` from `old_value` to `new_value`, as TokenService
// sends it: the old value verifies until `grace_end` (a previous digest when
// that is after `now`) and is revoked then.
inline TokenChange Rotate(int64_t revision, std::string token_id,
                          std::string deployment_id,
                          const std::string& new_value,
                          const std::string& old_value, absl::Time now,
                          absl::Time grace_end) {
  TokenChange change =
      Upsert(revision, token_id, std::move(deployment_id), new_value);
  if (grace_end > now) {
    change.previous_digest = DigestOf(old_value);
    change.previous_valid_until = grace_end;
  }
  change.revoked.push_back(Revoked(old_value, std::move(token_id), grace_end));
  return change;
}

// A delete of `token_id` revoking `values` at `now`.
inline TokenChange DeleteRevoking(int64_t revision, const std::string& token_id,
                                  std::initializer_list<std::string> values,
                                  absl::Time now) {
  TokenChange change = Delete(revision, token_id);
  for (const std::string& value : values) {
    change.revoked.push_back(Revoked(value, token_id, now));
  }
  return change;
}

// A VerifierCore over a real cache and a FakeClock, without usage reporting.
// Not synced until Sync is called.
struct CoreFixture {
  static constexpr absl::Duration kMaxStaleness = absl::Seconds(30);

  // Swaps in a snapshot holding `changes` (and `revoked`) and records a
  // heartbeat now.
  void Sync(std::initializer_list<TokenChange> changes,
            std::initializer_list<RevokedValue> revoked = {}) {
    TokenTable table;
    for (const TokenChange& change : changes) table.Apply(change);
    RevokedSet revoked_set = cache.NewRevokedSet();
    for (const RevokedValue& value : revoked) revoked_set.Insert(value);
    cache.ReplaceAll(std::move(table), std::move(revoked_set), 1);
    cache.RecordHeartbeat(clock.Now());
  }

  FakeClock clock{absl::FromUnixSeconds(1700000000)};
  TokenCache cache;
  Metrics metrics;
  Authorizer authorizer{&cache, &clock, kMaxStaleness};
  VerifierCore core{&cache, &authorizer, &metrics, nullptr, &clock};
};

}  // namespace testing_support
}  // namespace tokens

#endif  // VERIFIER_TEST_SUPPORT_H_
