// sqlite_raw: the raw SQLite reference for CreateToken. One thread runs the
// store's Create transaction (BEGIN IMMEDIATE; insert the token row; log the
// upsert change; insert the audit row; COMMIT) in a loop with the store's
// pragmas (WAL, synchronous=FULL) on a database in --dir, the disk TokenService
// uses in the same run. The schema comes from SqliteTokenStore::Open.
#include <sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/histogram.h"
#include "bench/load_engine.h"
#include "common/token_value.h"
#include "storage/sqlite_token_store.h"

ABSL_FLAG(std::string, dir, "", "directory for raw.db");
ABSL_FLAG(double, duration, 3, "seconds");

namespace tokens::bench {
namespace {

int Run() {
  const std::string path = absl::GetFlag(FLAGS_dir) + "/raw.db";
  {
    SqliteTokenStoreOptions options;
    options.path = path;
    auto store = SqliteTokenStore::Open(options);
    if (!store.ok()) return 1;
  }
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return 1;
  sqlite3_exec(db, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
  sqlite3_exec(db, "PRAGMA synchronous=FULL", nullptr, nullptr, nullptr);
  sqlite3_exec(db, "PRAGMA foreign_keys=ON", nullptr, nullptr, nullptr);
  sqlite3_stmt *begin, *commit, *token, *change, *audit;
  sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, nullptr);
  sqlite3_prepare_v2(db, "COMMIT", -1, &commit, nullptr);
  sqlite3_prepare_v2(
      db,
      "INSERT INTO tokens (id, deployment_id, name, description, short_token, "
      "expiration_days, secret_digest, previous_digest, previous_valid_until, "
      "create_time, update_time, expire_time, last_rotate_time, "
      "last_used_time, created_by, updated_by) VALUES (?1, ?2, ?3, '', ?4, 0, "
      "?5, NULL, NULL, ?6, ?6, NULL, NULL, NULL, 'admin', 'admin')",
      -1, &token, nullptr);
  sqlite3_prepare_v2(
      db,
      "INSERT INTO changes (type, token_id, deployment_id, secret_digest, "
      "expire_time, previous_digest, previous_valid_until) "
      "SELECT 'upsert', id, deployment_id, secret_digest, expire_time, "
      "previous_digest, previous_valid_until FROM tokens WHERE id = ?1",
      -1, &change, nullptr);
  sqlite3_prepare_v2(
      db,
      "INSERT INTO audit (time, principal, action, token_id, deployment_id, "
      "outcome, detail) VALUES (?1, 'admin', 'token.create', ?2, ?3, 'OK', "
      "'')",
      -1, &audit, nullptr);
  LatencyHistogram histogram;
  const int64_t end = MonotonicNanos() +
                      static_cast<int64_t>(absl::GetFlag(FLAGS_duration) * 1e9);
  const int64_t start = MonotonicNanos();
  int64_t n = 0;
  const std::string deployment = "bench-create";
  while (MonotonicNanos() < end) {
    const int64_t t0 = MonotonicNanos();
    // Unique across runs on the same file.
    const std::string id = absl::StrFormat("tok_raw%d_%d", getpid(), n);
    const std::string name = absl::StrFormat("bench token %d", n);
    const std::string value = *GenerateTokenValue();
    const Digest digest = DigestOf(value);
    const std::string hint = ShortTokenHint(value);
    const int64_t now = absl::ToUnixMicros(absl::Now());
    bool ok = sqlite3_step(begin) == SQLITE_DONE;
    sqlite3_bind_text(token, 1, id.data(), id.size(), SQLITE_STATIC);
    sqlite3_bind_text(token, 2, deployment.data(), deployment.size(),
                      SQLITE_STATIC);
    sqlite3_bind_text(token, 3, name.data(), name.size(), SQLITE_STATIC);
    sqlite3_bind_text(token, 4, hint.data(), hint.size(), SQLITE_STATIC);
    sqlite3_bind_blob(token, 5, digest.data(), digest.size(), SQLITE_STATIC);
    sqlite3_bind_int64(token, 6, now);
    ok = ok && sqlite3_step(token) == SQLITE_DONE;
    sqlite3_bind_text(change, 1, id.data(), id.size(), SQLITE_STATIC);
    ok = ok && sqlite3_step(change) == SQLITE_DONE;
    sqlite3_bind_int64(audit, 1, now);
    sqlite3_bind_text(audit, 2, id.data(), id.size(), SQLITE_STATIC);
    sqlite3_bind_text(audit, 3, deployment.data(), deployment.size(),
                      SQLITE_STATIC);
    ok = ok && sqlite3_step(audit) == SQLITE_DONE;
    ok = ok && sqlite3_step(commit) == SQLITE_DONE;
    for (sqlite3_stmt* s : {begin, commit, token, change, audit}) {
      sqlite3_reset(s);
    }
    if (!ok) {
      std::fprintf(stderr, "insert failed: %s\n", sqlite3_errmsg(db));
      return 1;
    }
    histogram.Record(static_cast<uint64_t>(MonotonicNanos() - t0));
    ++n;
  }
  const double seconds = static_cast<double>(MonotonicNanos() - start) / 1e9;
  std::printf(
      "RESULT qps=%.1f calls=%lld errors=0 p50_us=%.1f p90_us=%.1f "
      "p99_us=%.1f p999_us=%.1f\n",
      static_cast<double>(n) / seconds, static_cast<long long>(n),  // NOLINT
      static_cast<double>(histogram.Quantile(0.5)) / 1e3,
      static_cast<double>(histogram.Quantile(0.9)) / 1e3,
      static_cast<double>(histogram.Quantile(0.99)) / 1e3,
      static_cast<double>(histogram.Quantile(0.999)) / 1e3);
  for (sqlite3_stmt* s : {begin, commit, token, change, audit}) {
    sqlite3_finalize(s);
  }
  sqlite3_close(db);
  return 0;
}

}  // namespace
}  // namespace tokens::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return tokens::bench::Run();
}
