#include "tests/testing/postgres_server.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <postgresql/libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/testing/server_process.h"

namespace tokens::testing {
namespace {

// Longest path of a unix socket (sockaddr_un.sun_path, with its NUL).
constexpr size_t kMaxSocketPath = 107;

std::string FindBinDir() {
  const char* env = std::getenv("PG_BINDIR");
  if (env != nullptr && *env != '\0') return env;
  for (int version : {17, 16, 15, 14, 13}) {
    std::string dir = absl::StrCat("/usr/lib/postgresql/", version, "/bin");
    if (access((dir + "/initdb").c_str(), X_OK) == 0) return dir;
  }
  return "";
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Forks a child that becomes uid/gid (when we are root), dies with its
// parent when `die_with_parent`, and execs `argv` with output to `log_path`.
pid_t Spawn(std::vector<std::string> argv, const std::string& log_path,
            uid_t uid, gid_t gid, bool die_with_parent) {
  std::vector<std::string> env = {"PATH=/usr/bin:/bin", "LC_ALL=C", "LANG=C"};
  std::vector<char*> c_argv = CStrings(argv);
  std::vector<char*> c_env = CStrings(env);
  const pid_t parent = getpid();
  const int log_fd =
      open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd >= 0 && geteuid() == 0 && fchown(log_fd, uid, gid) != 0) {
    // The server still writes to it: the descriptor is open already.
  }
  const bool switch_user = geteuid() == 0;
  pid_t pid = fork();
  if (pid != 0) {
    if (log_fd >= 0) close(log_fd);
    return pid;
  }
  // The child: only async-signal-safe calls from here on.
  int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd >= 0) dup2(null_fd, 0);
  if (log_fd >= 0) {
    dup2(log_fd, 1);
    dup2(log_fd, 2);
  }
  if (switch_user) {
    if (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
      _exit(126);
    }
  }
  // After setuid, which clears it.
  if (die_with_parent) {
    prctl(PR_SET_PDEATHSIG, SIGQUIT);
    if (getppid() != parent) _exit(125);
  }
  execve(c_argv[0], c_argv.data(), c_env.data());
  _exit(127);
}

int WaitExit(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Whether uid/gid may enter `dir` (a child process checks as that user).
bool Reachable(const std::string& dir, uid_t uid, gid_t gid) {
  if (geteuid() != 0) return access(dir.c_str(), W_OK | X_OK) == 0;
  pid_t pid = fork();
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
      _exit(1);
    }
    _exit(access(dir.c_str(), W_OK | X_OK) == 0 ? 0 : 1);
  }
  return pid > 0 && WaitExit(pid) == 0;
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::Status WriteWholeFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

PGconn* ConnectTo(const std::string& uri, absl::Status* status) {
  PGconn* conn = PQconnectdb(uri.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    *status = absl::UnavailableError(
        absl::StrCat("cannot connect to ", uri, ": ", PQerrorMessage(conn)));
    PQfinish(conn);
    return nullptr;
  }
  return conn;
}

PostgresServer* shared_server = nullptr;

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::Launch() {
  std::unique_ptr<PostgresServer> server(new PostgresServer);
  absl::Status status = server->Initialize();
  if (!status.ok()) return status;
  return server;
}

absl::StatusOr<PostgresServer*> PostgresServer::Shared() {
  static const absl::StatusOr<PostgresServer*>* const shared = [] {
    absl::StatusOr<std::unique_ptr<PostgresServer>> server = Launch();
    if (!server.ok()) {
      return new absl::StatusOr<PostgresServer*>(server.status());
    }
    shared_server = server->release();
    std::atexit([] {
      delete shared_server;
      shared_server = nullptr;
    });
    return new absl::StatusOr<PostgresServer*>(shared_server);
  }();
  return *shared;
}

absl::Status PostgresServer::Initialize() {
  bin_dir_ = FindBinDir();
  if (bin_dir_.empty()) {
    return absl::FailedPreconditionError(
        "PostgreSQL server binaries not found (install postgresql-15, or set "
        "PG_BINDIR)");
  }
  uid_ = geteuid();
  gid_ = getegid();
  if (uid_ == 0) {
    struct passwd* user = getpwnam("postgres");
    if (user == nullptr) {
      return absl::FailedPreconditionError(
          "running as root, but there is no postgres user to run the server");
    }
    uid_ = user->pw_uid;
    gid_ = user->pw_gid;
  }
  // Under TEST_TMPDIR when the server user can get there (root's cache
  // directory usually is private), else in /tmp.
  const char* test_tmpdir = std::getenv("TEST_TMPDIR");
  std::string base = "/tmp";
  if (test_tmpdir != nullptr && Reachable(test_tmpdir, uid_, gid_)) {
    base = test_tmpdir;
  }
  std::string pattern = absl::StrCat(base, "/pg-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp in ", base, " failed"));
  }
  root_ = pattern;
  socket_dir_ = root_ + "/s";
  if (mkdir(socket_dir_.c_str(), 0700) != 0 ||
      (geteuid() == 0 && (chown(root_.c_str(), uid_, gid_) != 0 ||
                          chown(socket_dir_.c_str(), uid_, gid_) != 0))) {
    return absl::InternalError(absl::StrCat("cannot prepare ", root_));
  }
  if (socket_dir_.size() + std::strlen("/.s.PGSQL.65535") >= kMaxSocketPath) {
    socket_dir_.clear();
  }
  std::string address = FreeLoopbackAddress();
  if (!absl::SimpleAtoi(absl::StripPrefix(address, "127.0.0.1:"), &port_)) {
    return absl::InternalError("no free port");
  }

  const std::string data = root_ + "/data";
  pid_t initdb = Spawn({bin_dir_ + "/initdb", "-D", data, "-A", "trust", "-U",
                        "postgres", "-E", "UTF8", "--locale=C", "--no-sync"},
                       root_ + "/initdb.log", uid_, gid_,
                       /*die_with_parent=*/true);
  if (initdb < 0 || WaitExit(initdb) != 0) {
    return absl::InternalError(
        absl::StrCat("initdb failed: ", ReadWholeFile(root_ + "/initdb.log")));
  }
  absl::Status written = WriteWholeFile(
      data + "/pg_hba.conf",
      absl::StrCat("local all all trust\n", "host all ", kPasswordRole,
                   " 127.0.0.1/32 scram-sha-256\n",
                   "host all all 127.0.0.1/32 trust\n"));
  if (!written.ok()) return written;
  absl::Status started = Start();
  if (!started.ok()) return started;
  return ExecuteSql(Uri("postgres"),
                    absl::StrCat("CREATE ROLE ", kPasswordRole,
                                 " LOGIN PASSWORD '", kPassword, "'"));
}

PostgresServer::~PostgresServer() {
  if (running()) Stop(StopMode::kImmediate).IgnoreError();
  std::error_code ignored;
  if (!root_.empty()) std::filesystem::remove_all(root_, ignored);
}

std::string PostgresServer::Uri(const std::string& database) const {
  return absl::StrCat("postgresql://postgres@127.0.0.1:", port_, "/", database);
}

absl::StatusOr<std::string> PostgresServer::CreateDatabase() {
  const std::string name = absl::StrCat("test_", ++databases_);
  absl::Status status =
      ExecuteSql(Uri("postgres"), absl::StrCat("CREATE DATABASE ", name));
  if (!status.ok()) return status;
  return Uri(name);
}

absl::Status PostgresServer::Start() {
  if (running()) return absl::OkStatus();
  const std::string port = absl::StrCat(port_);
  std::vector<std::string> argv = {
      bin_dir_ + "/postgres",
      "-D",
      root_ + "/data",
      "-p",
      port,
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      absl::StrCat("unix_socket_directories=", socket_dir_),
      "-c",
      "fsync=off",
      "-c",
      "full_page_writes=off",
      "-c",
      "max_connections=200",
      "-c",
      "shared_buffers=16MB",
      "-c",
      "wal_level=minimal",
      "-c",
      "max_wal_senders=0",
      "-c",
      "max_parallel_workers_per_gather=0",
      "-c",
      "log_min_messages=warning",
  };
  pid_ = Spawn(argv, root_ + "/postgres.log", uid_, gid_,
               /*die_with_parent=*/true);
  if (pid_ < 0) return absl::InternalError("fork failed");
  return WaitUntilReady();
}

absl::Status PostgresServer::WaitUntilReady() {
  const std::string conninfo =
      absl::StrCat("host=127.0.0.1 port=", port_,
                   " user=postgres dbname=postgres connect_timeout=2");
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (PQping(conninfo.c_str()) != PQPING_OK) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::InternalError(
          absl::StrCat("postgres exited during start-up; log:\n", Log()));
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("postgres did not accept connections; log:\n", Log()));
    }
    // Polling a condition, not waiting for time to pass.
    poll(nullptr, 0, 10);
  }
  return absl::OkStatus();
}

absl::Status PostgresServer::Stop(StopMode mode) {
  if (!running()) return absl::OkStatus();
  kill(pid_, mode == StopMode::kFast ? SIGINT : SIGQUIT);
  WaitExit(pid_);
  pid_ = -1;
  return absl::OkStatus();
}

absl::Status PostgresServer::Restart(StopMode mode) {
  absl::Status stopped = Stop(mode);
  if (!stopped.ok()) return stopped;
  return Start();
}

std::string PostgresServer::Log() const {
  return ReadWholeFile(root_ + "/postgres.log");
}

absl::Status ExecuteSql(const std::string& uri, const std::string& sql) {
  absl::Status status;
  PGconn* conn = ConnectTo(uri, &status);
  if (conn == nullptr) return status;
  PGresult* result = PQexec(conn, sql.c_str());
  ExecStatusType code = PQresultStatus(result);
  if (code != PGRES_COMMAND_OK && code != PGRES_TUPLES_OK) {
    status = absl::InternalError(
        absl::StrCat(sql, ": ", PQresultErrorMessage(result)));
  }
  PQclear(result);
  PQfinish(conn);
  return status;
}

absl::StatusOr<std::string> QuerySql(const std::string& uri,
                                     const std::string& sql) {
  absl::Status status;
  PGconn* conn = ConnectTo(uri, &status);
  if (conn == nullptr) return status;
  PGresult* result = PQexec(conn, sql.c_str());
  std::string value;
  if (PQresultStatus(result) != PGRES_TUPLES_OK) {
    status = absl::InternalError(
        absl::StrCat(sql, ": ", PQresultErrorMessage(result)));
  } else if (PQntuples(result) > 0 && PQnfields(result) > 0) {
    value = PQgetvalue(result, 0, 0);
  }
  PQclear(result);
  PQfinish(conn);
  if (!status.ok()) return status;
  return value;
}

}  // namespace tokens::testing
