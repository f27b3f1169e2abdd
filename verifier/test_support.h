// Helpers shared by the verifier's unit tests: fresh token values and feed
// changes.
#ifndef VERIFIER_TEST_SUPPORT_H_
#define VERIFIER_TEST_SUPPORT_H_

#include <string>

#include "absl/time/time.h"
#include "common/clock.h"
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

// A VerifierCore over a real cache and a FakeClock, without usage reporting.
// Not synced until Sync is called.
struct CoreFixture {
  static constexpr absl::Duration kMaxStaleness = absl::Seconds(30);

  // Swaps in a snapshot holding `changes` and records a heartbeat now.
  void Sync(std::initializer_list<TokenChange> changes) {
    TokenTable table;
    for (const TokenChange& change : changes) table.Apply(change);
    cache.ReplaceAll(std::move(table), 1);
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
