// bench_loader: fills a TokenService data directory with many tokens before
// token_service starts, because creating a million tokens through gRPC (one
// durable transaction each) would take most of the benchmark's time budget.
//
// The schema comes from SqliteTokenStore::Open; the bulk rows go in through one
// INSERT transaction with the store's column layout (bench-only SQL); then one
// token is created through SqliteTokenStore::Create so the change log has a
// revision. Filler tokens get random digests (values nobody holds);
// --check_tokens tokens of Deployment `bench-check` get real values, written
// with their Deployment to --values_out for the Check load.
#include <sqlite3.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/token_value.h"
#include "storage/sqlite_token_store.h"

ABSL_FLAG(std::string, data_dir, "", "TokenService data directory (exists)");
ABSL_FLAG(int, tokens, 1000000, "tokens in all");
ABSL_FLAG(int, check_tokens, 1000, "tokens with known values (bench-check)");
ABSL_FLAG(int, list_tokens, 1000, "tokens of Deployment bench-list");
ABSL_FLAG(int, deployments, 1000, "Deployments the filler is spread over");
ABSL_FLAG(std::string, values_out, "", "where to write `value deployment`");

namespace tokens::bench {
namespace {

int Fail(const char* what, sqlite3* db) {
  std::fprintf(stderr, "%s: %s\n", what, db ? sqlite3_errmsg(db) : "");
  return 1;
}

int Load() {
  const std::string path = absl::GetFlag(FLAGS_data_dir) + "/tokens.db";
  {
    SqliteTokenStoreOptions options;
    options.path = path;
    auto store = SqliteTokenStore::Open(options);
    if (!store.ok()) {
      std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
      return 1;
    }
  }
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return Fail("open", db);
  sqlite3_exec(db, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
  if (sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) !=
      SQLITE_OK) {
    return Fail("begin", db);
  }
  sqlite3_stmt* insert = nullptr;
  if (sqlite3_prepare_v2(
          db,
          "INSERT INTO tokens (id, deployment_id, name, short_token, "
          "secret_digest, create_time, update_time, created_by, updated_by) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, 'bench', 'bench')",
          -1, &insert, nullptr) != SQLITE_OK) {
    return Fail("prepare", db);
  }
  std::ofstream values(absl::GetFlag(FLAGS_values_out));
  std::mt19937_64 random(42);
  const int total = absl::GetFlag(FLAGS_tokens);
  const int check = absl::GetFlag(FLAGS_check_tokens);
  const int list = absl::GetFlag(FLAGS_list_tokens);
  const int deployments = absl::GetFlag(FLAGS_deployments);
  const int64_t now = absl::ToUnixMicros(absl::Now());
  for (int i = 0; i < total; ++i) {
    std::string deployment;
    Digest digest;
    std::string hint = "dpt_bench";
    if (i < check) {
      deployment = "bench-check";
      std::string value = *GenerateTokenValue();
      digest = DigestOf(value);
      hint = ShortTokenHint(value);
      values << value << " " << deployment << "\n";
    } else {
      deployment = i < check + list
                       ? "bench-list"
                       : absl::StrFormat("dep-%d", i % deployments);
      for (size_t b = 0; b < digest.size(); b += 8) {
        const uint64_t r = random();
        for (size_t k = 0; k < 8; ++k) digest[b + k] = (r >> (8 * k)) & 0xff;
      }
    }
    const std::string id = absl::StrFormat("tok_bench%017d", i);
    const std::string name = absl::StrFormat("bench token %d", i);
    sqlite3_bind_text(insert, 1, id.data(), id.size(), SQLITE_TRANSIENT);
    sqlite3_bind_text(insert, 2, deployment.data(), deployment.size(),
                      SQLITE_TRANSIENT);
    sqlite3_bind_text(insert, 3, name.data(), name.size(), SQLITE_TRANSIENT);
    sqlite3_bind_text(insert, 4, hint.data(), hint.size(), SQLITE_TRANSIENT);
    sqlite3_bind_blob(insert, 5, digest.data(), digest.size(),
                      SQLITE_TRANSIENT);
    sqlite3_bind_int64(insert, 6, now + i);
    if (sqlite3_step(insert) != SQLITE_DONE) return Fail("insert", db);
    sqlite3_reset(insert);
  }
  sqlite3_finalize(insert);
  if (sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return Fail("commit", db);
  }
  sqlite3_close(db);

  // One ordinary Create so the change log holds a revision.
  SqliteTokenStoreOptions options;
  options.path = path;
  auto store = SqliteTokenStore::Open(options);
  if (!store.ok()) return 1;
  TokenRecord record;
  record.id = "tok_benchlast";
  record.deployment_id = "bench-other";
  record.name = "last";
  record.secret_digest = DigestOf(*GenerateTokenValue());
  record.create_time = absl::Now();
  record.update_time = record.create_time;
  AuditEntry audit;
  audit.time = record.create_time;
  audit.principal = "bench";
  audit.action = "token.create";
  audit.token_id = record.id;
  audit.deployment_id = record.deployment_id;
  audit.outcome = "OK";
  auto revision = (*store)->Create(record, audit);
  if (!revision.ok()) {
    std::fprintf(stderr, "%s\n", revision.status().ToString().c_str());
    return 1;
  }
  std::printf("RESULT loaded=%d\n", total + 1);
  return 0;
}

}  // namespace
}  // namespace tokens::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return tokens::bench::Load();
}
