// naive_verifier: the "no cache" reference. Serves tokens.v1.Verifier.Check
// like the verifier, but decides each request by asking the database: one
// SELECT by secret digest on TokenService's tokens.db (its unique index),
// through one connection behind a mutex with the store's pragmas, exactly as
// SqliteTokenStore serves a read. Policy and answer are the verifier's own
// (shape check, expiry, Deployment, operation catalog).
//
// This is a lower bound on the naive design's cost: a real one would also pay
// a second gRPC hop to TokenService per Check. Bench-only; it is the one place
// outside storage/ that runs SQL, read-only.
#include <grpcpp/grpcpp.h>
#include <sqlite3.h>

#include <cstdio>
#include <limits>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/bench_server.h"
#include "common/shutdown_signal.h"
#include "common/token_value.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"
#include "verifier/operation_catalog.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "gRPC address");
ABSL_FLAG(std::string, db, "", "TokenService's tokens.db");

namespace tokens::bench {

class NaiveVerifier : public v1::Verifier::CallbackService {
 public:
  explicit NaiveVerifier(sqlite3* db) : db_(db) {
    sqlite3_prepare_v2(db_,
                       "SELECT id, deployment_id, expire_time FROM tokens "
                       "WHERE secret_digest = ?1",
                       -1, &select_, nullptr);
  }

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const v1::CheckRequest* request,
                                  v1::CheckResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    if (request->deployment_id().empty() || request->operation().empty()) {
      reactor->Finish(
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "missing field"));
      return reactor;
    }
    response->set_reason(Decide(*request, response));
    response->set_allowed(response->reason() == v1::ALLOWED);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  v1::Reason Decide(const v1::CheckRequest& request,
                    v1::CheckResponse* response) {
    const std::string& token = request.token();
    if (token.size() > kMaxTokenLength || !IsWellFormedTokenValue(token)) {
      return v1::MALFORMED_TOKEN;
    }
    const Digest digest = DigestOf(token);
    std::string id, deployment;
    int64_t expire = std::numeric_limits<int64_t>::max();
    {
      absl::MutexLock lock(&mu_);
      sqlite3_bind_blob(select_, 1, digest.data(), digest.size(),
                        SQLITE_STATIC);
      const bool found = sqlite3_step(select_) == SQLITE_ROW;
      if (found) {
        id = reinterpret_cast<const char*>(sqlite3_column_text(select_, 0));
        deployment =
            reinterpret_cast<const char*>(sqlite3_column_text(select_, 1));
        if (sqlite3_column_type(select_, 2) != SQLITE_NULL) {
          expire = sqlite3_column_int64(select_, 2);
        }
      }
      sqlite3_reset(select_);
      if (!found) return v1::UNKNOWN_TOKEN;
    }
    response->set_token_id(id);
    if (absl::ToUnixMicros(absl::Now()) >= expire) return v1::EXPIRED;
    if (request.deployment_id() != deployment) return v1::WRONG_DEPLOYMENT;
    const OperationInfo* op = FindOperation(request.operation());
    if (op == nullptr) return v1::UNKNOWN_OPERATION;
    return DeploymentTokenMayPerform(*op) ? v1::ALLOWED
                                          : v1::OPERATION_NOT_PERMITTED;
  }

  absl::Mutex mu_;
  sqlite3* const db_;
  sqlite3_stmt* select_ = nullptr;
};

}  // namespace tokens::bench

int main(int argc, char** argv) {
  tokens::BlockShutdownSignals();
  absl::ParseCommandLine(argc, argv);

  sqlite3* db = nullptr;
  if (sqlite3_open_v2(absl::GetFlag(FLAGS_db).c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    std::fprintf(stderr, "cannot open %s\n", absl::GetFlag(FLAGS_db).c_str());
    return 1;
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_exec(db, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
  sqlite3_exec(db, "PRAGMA synchronous=FULL", nullptr, nullptr, nullptr);
  tokens::bench::NaiveVerifier service(db);
  const int exit_code =
      tokens::bench::ServeUntilShutdown(&service, absl::GetFlag(FLAGS_listen));
  sqlite3_close(db);
  return exit_code;
}
