// A small verifier world shared by the fuzz harnesses: a synced TokenCache
// holding two known tokens on two Deployments and one revoked value, an
// Authorizer and a
// VerifierCore over a FakeClock. Built once per process; the harnesses only
// read it (and VerifierCore counts into its Metrics). Not thread-safe: a fuzz
// target runs one input at a time.
#ifndef FUZZ_FUZZ_WORLD_H_
#define FUZZ_FUZZ_WORLD_H_

#include <string>

#include "absl/time/time.h"
#include "common/clock.h"
#include "common/fake_clock.h"
#include "common/token_value.h"
#include "verifier/authorizer.h"
#include "verifier/metrics.h"
#include "verifier/token_cache.h"
#include "verifier/verifier_core.h"

namespace tokens::fuzz {

// Fixed, well-formed values (the corpus uses them), so the fuzzer starts from
// requests that get ALLOWED and mutates them from there.
inline constexpr char kProdValue[] =
    "dpt_000000000000000000000Prod0000000000000000002SrAiN";
inline constexpr char kStageValue[] =
    "dpt_111111111111111111111Stag1111111111111111110RKNdB";
// Revoked an hour ago (its token, tok_gone, was deleted).
inline constexpr char kGoneValue[] =
    "dpt_222222222222222222222Gone2222222222222222220Q5zGM";

struct FuzzWorld {
  FuzzWorld() {
    TokenTable table;
    TokenChange prod;
    prod.revision = 1;
    prod.token_id = "tok_prod";
    prod.deployment_id = "prod";
    prod.digest = DigestOf(prod_value);
    table.Apply(prod);
    TokenChange stage;
    stage.revision = 2;
    stage.token_id = "tok_stage";
    stage.deployment_id = "stage";
    stage.digest = DigestOf(stage_value);
    stage.expire_time = clock.Now() + absl::Hours(1);
    table.Apply(stage);
    RevokedSet revoked = cache.NewRevokedSet();
    RevokedValue gone;
    gone.digest = DigestOf(gone_value);
    gone.token_id = "tok_gone";
    gone.deployment_id = "prod";
    gone.revoke_time = clock.Now() - absl::Hours(1);
    revoked.Insert(gone);
    cache.ReplaceAll(std::move(table), std::move(revoked), 2);
    cache.RecordHeartbeat(clock.Now());
  }

  static FuzzWorld& Get() {
    static FuzzWorld* world = new FuzzWorld;
    return *world;
  }

  std::string prod_value = kProdValue;
  std::string stage_value = kStageValue;
  std::string gone_value = kGoneValue;
  FakeClock clock{absl::FromUnixSeconds(1700000000)};
  TokenCache cache;
  Metrics metrics;
  Authorizer authorizer{&cache, &clock, absl::Seconds(30)};
  VerifierCore core{&cache, &authorizer, &metrics, nullptr, &clock};
};

}  // namespace tokens::fuzz

#endif  // FUZZ_FUZZ_WORLD_H_
