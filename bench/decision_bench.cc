// decision_bench: the verifier's in-process decision (shape check + SHA-256 +
// cache lookup + policy, i.e. Authorizer::Check) with DECISION_BENCH_TOKENS
// cached tokens and DECISION_BENCH_REVOKED remembered revoked values (default:
// as many as tokens), under Google Benchmark. The cache is filled the way the
// feed fills it (TokenTable::Apply and RevokedSet::Insert, then
// TokenCache::ReplaceAll). An unknown value misses both; a revoked one misses
// the table and is found among the revoked values.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/token_value.h"
#include "verifier/authorizer.h"
#include "verifier/revoked_set.h"
#include "verifier/token_cache.h"

namespace tokens::bench {
namespace {

int CachedTokens() {
  const char* env = std::getenv("DECISION_BENCH_TOKENS");
  return env != nullptr ? std::atoi(env) : 1000000;
}

int RevokedValues() {
  const char* env = std::getenv("DECISION_BENCH_REVOKED");
  return env != nullptr ? std::atoi(env) : CachedTokens();
}

void RandomDigest(std::mt19937_64& random, Digest* digest) {
  for (size_t b = 0; b < digest->size(); b += 8) {
    const uint64_t r = random();
    for (size_t k = 0; k < 8; ++k) (*digest)[b + k] = (r >> (8 * k)) & 0xff;
  }
}

long ResidentBytes() {
  long pages = 0, resident = 0;
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  std::fclose(f);
  return resident * sysconf(_SC_PAGESIZE);
}

struct Fixture {
  TokenCache cache;
  std::unique_ptr<Authorizer> authorizer;
  std::vector<std::string> values;  // cached, of Deployment `bench-check`
  std::vector<std::string> unknown;
  std::vector<std::string> revoked;  // remembered as revoked an hour ago

  // Resident bytes the filled cache added, per token (for the memory figure:
  // what the table alone costs, against the verifier process's RSS).
  double table_bytes_per_token = 0;
  // The same for the revoked values, per value.
  double revoked_bytes_per_value = 0;

  Fixture()
      : cache(RevokedOptions{static_cast<size_t>(RevokedValues()),
                             absl::Hours(24 * 30)}) {
    const long before = ResidentBytes();
    TokenTable table;
    std::mt19937_64 random(7);
    const int n = CachedTokens();
    for (int i = 0; i < n; ++i) {
      TokenChange change;
      change.revision = i + 1;
      change.token_id = absl::StrFormat("tok_bench%017d", i);
      if (i % 1000 == 0) {
        values.push_back(*GenerateTokenValue());
        change.deployment_id = "bench-check";
        change.digest = DigestOf(values.back());
      } else {
        change.deployment_id = absl::StrFormat("dep-%d", i % 1000);
        RandomDigest(random, &change.digest);
      }
      table.Apply(change);
    }
    table_bytes_per_token =
        static_cast<double>(ResidentBytes() - before) / static_cast<double>(n);

    const long before_revoked = ResidentBytes();
    RevokedSet revoked_set = cache.NewRevokedSet();
    const int r = RevokedValues();
    const absl::Time revoked_at = absl::Now() - absl::Hours(1);
    for (int i = 0; i < r; ++i) {
      RevokedValue value;
      value.token_id = absl::StrFormat("tok_gone%018d", i);
      // Revoked over the last month, in order, as a feed delivers them.
      value.revoke_time = revoked_at - absl::Seconds(r - i);
      if (i % 1000 == 0) {
        revoked.push_back(*GenerateTokenValue());
        value.digest = DigestOf(revoked.back());
      } else {
        RandomDigest(random, &value.digest);
      }
      revoked_set.Insert(value);
    }
    if (r > 0) {
      revoked_bytes_per_value =
          static_cast<double>(ResidentBytes() - before_revoked) /
          static_cast<double>(r);
    }
    for (int i = 0; i < 1000; ++i) unknown.push_back(*GenerateTokenValue());
    cache.ReplaceAll(std::move(table), std::move(revoked_set), n);
    cache.RecordHeartbeat(absl::Now());
    authorizer =
        std::make_unique<Authorizer>(&cache, RealClock(), absl::Hours(24));
  }
};

Fixture& GetFixture() {
  static Fixture* fixture = new Fixture;
  return *fixture;
}

void BM_DecisionAllowed(benchmark::State& state) {
  Fixture& f = GetFixture();
  size_t i = 0;
  for (auto _ : state) {
    Decision d =
        f.authorizer->Check(f.values[i++ % f.values.size()], "bench-check",
                            "deployment.envVars.create");
    if (!d.allowed()) state.SkipWithError("expected ALLOWED");
    benchmark::DoNotOptimize(d);
  }
  state.counters["table_bytes_per_token"] = f.table_bytes_per_token;
  state.counters["revoked_bytes_per_value"] = f.revoked_bytes_per_value;
}
BENCHMARK(BM_DecisionAllowed);

void BM_DecisionUnknownToken(benchmark::State& state) {
  Fixture& f = GetFixture();
  size_t i = 0;
  for (auto _ : state) {
    Decision d = f.authorizer->Check(f.unknown[i++ % f.unknown.size()],
                                     "bench-check", "deployment.get");
    if (d.reason != CheckReason::kUnknownToken) {
      state.SkipWithError("expected UNKNOWN_TOKEN");
    }
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_DecisionUnknownToken);

void BM_DecisionRevokedToken(benchmark::State& state) {
  Fixture& f = GetFixture();
  if (f.revoked.empty()) {
    state.SkipWithError("no revoked values (DECISION_BENCH_REVOKED=0)");
    return;
  }
  size_t i = 0;
  for (auto _ : state) {
    Decision d = f.authorizer->Check(f.revoked[i++ % f.revoked.size()],
                                     "bench-check", "deployment.get");
    if (d.reason != CheckReason::kRevokedToken) {
      state.SkipWithError("expected REVOKED_TOKEN");
    }
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_DecisionRevokedToken);

// The parts, to see where the time goes.
void BM_Sha256(benchmark::State& state) {
  Fixture& f = GetFixture();
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(DigestOf(f.values[i++ % f.values.size()]));
  }
}
BENCHMARK(BM_Sha256);

void BM_ShapeCheck(benchmark::State& state) {
  Fixture& f = GetFixture();
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        IsWellFormedTokenValue(f.values[i++ % f.values.size()]));
  }
}
BENCHMARK(BM_ShapeCheck);

}  // namespace
}  // namespace tokens::bench

BENCHMARK_MAIN();
