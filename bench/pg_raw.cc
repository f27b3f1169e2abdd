// pg_raw: the raw PostgreSQL reference for CreateToken. --threads threads,
// each on its own libpq connection, INSERT one token row in a loop, every
// INSERT its own transaction (autocommit: the server commits, with the
// cluster's fsync and synchronous_commit, before it answers). The table is
// raw_tokens, created LIKE the store's tokens table (same columns, unique
// digest, indexes), so token_service must have migrated --database first.
// Prints `RESULT qps=... p99_us=...` like loadgen; latencies are of the
// measured window only.
#include <postgresql/libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/histogram.h"
#include "bench/load_engine.h"
#include "common/token_value.h"

ABSL_FLAG(std::string, database, "", "libpq URI of the database");
ABSL_FLAG(int, threads, 32, "threads, one connection each");
ABSL_FLAG(double, duration, 3, "measured seconds");
ABSL_FLAG(double, warmup, 0.5, "warmup seconds");

namespace tokens::bench {
namespace {

constexpr char kInsert[] =
    "INSERT INTO raw_tokens (id, deployment_id, name, short_token, "
    "secret_digest, create_time, update_time, created_by, updated_by) "
    "VALUES ($1, $2, $3, $4, $5, $6::bigint, $6::bigint, 'admin', 'admin')";

PGconn* Connect(const std::string& url) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::fprintf(stderr, "connect: %s", PQerrorMessage(conn));
    PQfinish(conn);
    return nullptr;
  }
  // No NOTICE lines ("raw_tokens already exists") on stderr.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return conn;
}

bool Ok(PGresult* result, PGconn* conn, const char* what) {
  const ExecStatusType status = PQresultStatus(result);
  PQclear(result);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return true;
  std::fprintf(stderr, "%s: %s", what, PQerrorMessage(conn));
  return false;
}

struct Shared {
  std::atomic<bool> recording{false};
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> calls{0};
  std::atomic<bool> failed{false};
  LatencyHistogram histogram;
};

void Worker(const std::string& url, int thread, Shared* shared) {
  PGconn* conn = Connect(url);
  if (conn == nullptr ||
      !Ok(PQprepare(conn, "insert", kInsert, 6, nullptr), conn, "prepare")) {
    shared->failed = true;
    if (conn != nullptr) PQfinish(conn);
    return;
  }
  const std::string deployment = "bench-create";
  for (int64_t n = 0; !shared->stopping.load(); ++n) {
    const int64_t t0 = MonotonicNanos();
    // Unique across runs on the same table.
    const std::string id =
        absl::StrFormat("tok_raw%d_%d_%d", getpid(), thread, n);
    const std::string name = absl::StrFormat("bench token %d", n);
    const std::string value = *GenerateTokenValue();
    const std::string digest = DigestToBytes(DigestOf(value));
    const std::string hint = ShortTokenHint(value);
    const std::string now = absl::StrCat(absl::ToUnixMicros(absl::Now()));
    const char* values[6] = {id.c_str(),   deployment.c_str(), name.c_str(),
                             hint.c_str(), digest.data(),      now.c_str()};
    const int lengths[6] = {0, 0, 0, 0, static_cast<int>(digest.size()), 0};
    const int formats[6] = {0, 0, 0, 0, 1, 0};
    if (!Ok(PQexecPrepared(conn, "insert", 6, values, lengths, formats, 0),
            conn, "insert")) {
      shared->failed = true;
      break;
    }
    if (shared->recording.load()) {
      shared->histogram.Record(static_cast<uint64_t>(MonotonicNanos() - t0));
      shared->calls.fetch_add(1);
    }
  }
  PQfinish(conn);
}

int Run() {
  const std::string url = absl::GetFlag(FLAGS_database);
  PGconn* conn = Connect(url);
  if (conn == nullptr) return 1;
  const bool created =
      Ok(PQexec(conn,
                "CREATE TABLE IF NOT EXISTS raw_tokens (LIKE tokens INCLUDING "
                "ALL)"),
         conn, "CREATE TABLE raw_tokens (run token_service on it first)");
  PQfinish(conn);
  if (!created) return 1;

  Shared shared;
  std::vector<std::thread> threads;
  for (int i = 0; i < absl::GetFlag(FLAGS_threads); ++i) {
    threads.emplace_back(Worker, url, i, &shared);
  }
  absl::SleepFor(absl::Seconds(absl::GetFlag(FLAGS_warmup)));
  shared.recording = true;
  const int64_t start = MonotonicNanos();
  absl::SleepFor(absl::Seconds(absl::GetFlag(FLAGS_duration)));
  shared.recording = false;
  const int64_t end = MonotonicNanos();
  shared.stopping = true;
  for (std::thread& t : threads) t.join();
  if (shared.failed.load()) return 1;

  LoadResult result;
  result.calls = shared.calls.load();
  result.qps = static_cast<double>(result.calls) /
               (static_cast<double>(end - start) / 1e9);
  result.p50_us = static_cast<double>(shared.histogram.Quantile(0.5)) / 1e3;
  result.p90_us = static_cast<double>(shared.histogram.Quantile(0.9)) / 1e3;
  result.p99_us = static_cast<double>(shared.histogram.Quantile(0.99)) / 1e3;
  result.p999_us = static_cast<double>(shared.histogram.Quantile(0.999)) / 1e3;
  std::printf("RESULT %s\n", FormatResult(result).c_str());
  return result.calls > 0 ? 0 : 1;
}

}  // namespace
}  // namespace tokens::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return tokens::bench::Run();
}
