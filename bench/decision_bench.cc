// decision_bench: the verifier's in-process decision (shape check + SHA-256 +
// cache lookup + policy, i.e. Authorizer::Check) with --tokens cached tokens,
// under Google Benchmark. The cache is filled the way the feed fills it
// (TokenTable::Apply, then TokenCache::ReplaceAll).
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
#include "verifier/token_cache.h"

namespace tokens::bench {
namespace {

int CachedTokens() {
  const char* env = std::getenv("DECISION_BENCH_TOKENS");
  return env != nullptr ? std::atoi(env) : 1000000;
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

  // Resident bytes the filled cache added, per token (for the memory figure:
  // what the table alone costs, against the verifier process's RSS).
  double table_bytes_per_token = 0;

  Fixture() {
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
        for (size_t b = 0; b < change.digest.size(); b += 8) {
          const uint64_t r = random();
          for (size_t k = 0; k < 8; ++k) {
            change.digest[b + k] = (r >> (8 * k)) & 0xff;
          }
        }
      }
      table.Apply(change);
    }
    for (int i = 0; i < 1000; ++i) unknown.push_back(*GenerateTokenValue());
    cache.ReplaceAll(std::move(table), n);
    table_bytes_per_token =
        static_cast<double>(ResidentBytes() - before) / static_cast<double>(n);
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
