// PgConnection, PgResult and PgPool: a small RAII layer over libpq for
// PostgresTokenStore. Used only inside storage/.
//
// Every statement the store runs is a PgStatement: a constant name and SQL
// text with $n placeholders. Parameters travel separately (PQexecPrepared):
// text, except bytea parameters, which are sent binary. Each connection
// prepares a statement on its first use and reuses it after.
//
// No call blocks forever: connecting is bounded by connect_timeout (our own
// deadline around PQconnectPoll, so it can also be cancelled), every statement
// by the server's statement_timeout, and a server that vanished from the
// network by TCP keepalives and tcp_user_timeout.
//
// A PgConnection is used by one thread at a time; PgPool is thread-safe.
#ifndef STORAGE_POSTGRES_CONNECTION_H_
#define STORAGE_POSTGRES_CONNECTION_H_

#include <postgresql/libpq-fe.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tokens {

// A statement with a constant name (its prepared-statement name, also used in
// error messages) and SQL text.
struct PgStatement {
  const char* name;
  const char* sql;
};

// One parameter; no value is NULL.
struct PgParam {
  std::optional<std::string> value;
  bool binary = false;  // Bytes(): sent as binary bytea.

  static PgParam Null() { return PgParam(); }
  static PgParam Text(absl::string_view text);
  static PgParam Int(int64_t value);
  static PgParam Bool(bool value);
  static PgParam Bytes(absl::string_view bytes);
  static PgParam OptionalText(const std::optional<std::string>& text);
};

// A successful result (command or rows), owned.
class PgResult {
 public:
  explicit PgResult(PGresult* result) : result_(result) {}
  PgResult(PgResult&& other) noexcept
      : result_(std::exchange(other.result_, nullptr)) {}
  PgResult& operator=(PgResult&& other) noexcept;
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;
  ~PgResult();

  int rows() const { return PQntuples(result_); }
  // Rows changed by an INSERT/UPDATE/DELETE.
  int64_t affected() const;
  bool IsNull(int row, int column) const {
    return PQgetisnull(result_, row, column) != 0;
  }
  std::string Text(int row, int column) const;
  // Internal error when the column does not hold an integer.
  absl::StatusOr<int64_t> Int(int row, int column) const;
  // A bytea column (text form "\x..."), decoded.
  absl::StatusOr<std::string> Bytes(int row, int column) const;

 private:
  PGresult* result_;
};

struct PgConnectOptions {
  // A libpq URI or key=value string (already checked with PQconninfoParse).
  std::string url;
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration statement_timeout = absl::Seconds(30);
};

class PgConnection {
 public:
  // Connects and sets the session up (timeouts, UTF8). Unavailable when the
  // server cannot be reached, PermissionDenied when it refuses the login (see
  // postgres_status.h). When `cancel_fd` >= 0 becomes readable the attempt is
  // abandoned with Cancelled.
  static absl::StatusOr<std::unique_ptr<PgConnection>> Connect(
      const PgConnectOptions& options, int cancel_fd = -1);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs `statement` (prepared on this connection on its first use).
  absl::StatusOr<PgResult> Exec(const PgStatement& statement,
                                const std::vector<PgParam>& params = {});
  // Prepares `statement` on this connection unless it already is.
  absl::Status Prepare(const PgStatement& statement);
  // Runs SQL without parameters through the simple protocol; it may hold
  // several statements (migrations, BEGIN, COMMIT).
  absl::Status ExecScript(const char* sql, absl::string_view what);

  // False once the connection broke (CONNECTION_BAD).
  bool ok() const { return PQstatus(conn_) == CONNECTION_OK; }
  // Connected, not inside a transaction and not in pipeline mode: fit to go
  // back to a pool.
  bool Reusable() const;
  PGconn* raw() { return conn_; }

 private:
  friend class PgPipeline;
  explicit PgConnection(PGconn* conn) : conn_(conn) {}
  absl::StatusOr<PgResult> Check(PGresult* result, absl::string_view what);

  PGconn* const conn_;
  absl::flat_hash_set<std::string> prepared_;
};

// Pipeline mode (libpq 14+): statements are sent back to back and their
// results read afterwards, one round trip for all. After an error the server
// skips the rest up to the next Sync (their results say so). Statements must be
// prepared first (PgConnection::Prepare). Leaves pipeline mode when destroyed;
// a connection that cannot is not Reusable and is closed by its pool.
class PgPipeline {
 public:
  explicit PgPipeline(PgConnection& conn);
  ~PgPipeline();
  PgPipeline(const PgPipeline&) = delete;
  PgPipeline& operator=(const PgPipeline&) = delete;

  absl::Status Send(const PgStatement& statement,
                    const std::vector<PgParam>& params);
  // A statement without parameters (BEGIN, COMMIT).
  absl::Status SendSql(const char* sql);
  // Ends a group of statements and flushes it to the server.
  absl::Status Sync();
  // The result of the next statement sent, in order. A statement skipped
  // after an earlier error gives Aborted with "skipped" in the message.
  absl::StatusOr<PgResult> Next(absl::string_view what);
  // Consumes the result of the next Sync().
  absl::Status NextSync();

 private:
  PgConnection& conn_;
  bool entered_ = false;
  int pending_ = 0;        // Statements and syncs whose results are unread.
  bool unsynced_ = false;  // Statements sent since the last Sync.
};

// Up to `size` connections, made on demand and kept while they work. A
// connection that broke or was left inside a transaction is closed instead of
// being returned, so after an outage the next Acquire connects afresh.
class PgPool {
 public:
  // Runs on each new connection before its first use; a failure closes it and
  // fails that Acquire.
  using SetUp = std::function<absl::Status(PgConnection&)>;

  PgPool(PgConnectOptions options, int size, SetUp set_up);
  ~PgPool();
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;

  // A connection on loan; goes back to the pool when destroyed.
  class Lease {
   public:
    Lease(Lease&& other) noexcept
        : pool_(std::exchange(other.pool_, nullptr)),
          conn_(std::move(other.conn_)),
          reused_(other.reused_) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    PgConnection& operator*() { return *conn_; }
    PgConnection* operator->() { return conn_.get(); }
    // True when the connection served earlier calls (it may have gone stale
    // since), false when it was made for this one.
    bool reused() const { return reused_; }

   private:
    friend class PgPool;
    Lease(PgPool* pool, std::unique_ptr<PgConnection> conn, bool reused)
        : pool_(pool), conn_(std::move(conn)), reused_(reused) {}
    PgPool* pool_;
    std::unique_ptr<PgConnection> conn_;
    bool reused_;
  };

  // An idle connection, or a new one while fewer than `size` are open; waits
  // (at most connect_timeout + statement_timeout) while all are busy.
  absl::StatusOr<Lease> Acquire() ABSL_LOCKS_EXCLUDED(mu_);
  // Closes every idle connection (they are likely stale after one was found
  // broken).
  void DropIdle() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Release(std::unique_ptr<PgConnection> conn) ABSL_LOCKS_EXCLUDED(mu_);
  bool CanLend() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const PgConnectOptions options_;
  const int size_;
  const SetUp set_up_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<PgConnection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;  // Idle and on loan.
};

}  // namespace tokens

#endif  // STORAGE_POSTGRES_CONNECTION_H_
