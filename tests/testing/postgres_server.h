// PostgresServer: a throwaway PostgreSQL cluster for tests.
//
// Launch() runs initdb in a fresh directory (under TEST_TMPDIR when the server
// user can reach it, else under /tmp), then starts `postgres` as a child
// process listening on 127.0.0.1 on a free port, with settings fit for tests
// (fsync off, max_connections 200, small shared_buffers, trust
// authentication except for the role kPasswordRole, which must log in with
// kPassword), and waits until it accepts connections. Running as root, initdb
// and postgres run as the `postgres` user and the directory is chowned to it.
// The server dies with the test process (PR_SET_PDEATHSIG), so a crashed test
// leaves no server behind; the destructor stops it (immediate) and removes
// the directory.
//
// Shared() is one server per test binary, created on first use; use
// CreateDatabase() for a fresh database per test. Call Shared() from the
// test's main thread (the server dies with the thread that started it).
//
// Not thread-safe except CreateDatabase(), Uri() and port().
#ifndef TESTS_TESTING_POSTGRES_SERVER_H_
#define TESTS_TESTING_POSTGRES_SERVER_H_

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tokens::testing {

class PostgresServer {
 public:
  // pg_ctl's shutdown modes: kFast ends sessions and checkpoints, kImmediate
  // kills everything (crash recovery on the next Start).
  enum class StopMode { kFast, kImmediate };

  // A role that authenticates with a password (scram-sha-256), for tests of
  // refused logins.
  static constexpr char kPasswordRole[] = "password_user";
  static constexpr char kPassword[] = "right-password";

  static absl::StatusOr<std::unique_ptr<PostgresServer>> Launch();
  // The binary's shared server (launched on first use, stopped at exit).
  static absl::StatusOr<PostgresServer*> Shared();

  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // A new, empty database; returns its URI
  // (postgresql://postgres@127.0.0.1:PORT/dbname).
  absl::StatusOr<std::string> CreateDatabase();
  // The URI of `database` as the superuser.
  std::string Uri(const std::string& database) const;
  int port() const { return port_; }

  // Stops the server (waits until it is gone); Start() starts it again on the
  // same port and data; Restart() is both.
  absl::Status Stop(StopMode mode = StopMode::kFast);
  absl::Status Start();
  absl::Status Restart(StopMode mode = StopMode::kFast);
  bool running() const { return pid_ > 0; }

  // The server's log so far.
  std::string Log() const;

 private:
  PostgresServer() = default;
  absl::Status Initialize();
  absl::Status WaitUntilReady();

  std::string root_;  // Holds data/, the socket directory and the logs.
  std::string bin_dir_;
  std::string socket_dir_;  // Empty: no unix socket (path too long).
  int port_ = 0;
  uid_t uid_ = 0;  // The server's user (postgres when we are root).
  gid_t gid_ = 0;
  pid_t pid_ = -1;
  std::atomic<int> databases_{0};
};

// Runs `sql` (one or more statements) on the database at `uri`.
absl::Status ExecuteSql(const std::string& uri, const std::string& sql);
// The first column of the first row of `sql`'s result ("" for NULL).
absl::StatusOr<std::string> QuerySql(const std::string& uri,
                                     const std::string& sql);

}  // namespace tokens::testing

#endif  // TESTS_TESTING_POSTGRES_SERVER_H_
