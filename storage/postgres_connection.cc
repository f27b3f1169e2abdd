#include "storage/postgres_connection.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "storage/postgres_status.h"

namespace tokens {
namespace {

// Session settings of every connection: a statement (or a lock wait) never
// runs past statement_timeout, a session that stopped talking inside a
// transaction (a frozen process holding the revision counter) is ended, and
// no statement is JIT-compiled. The store's statements are all short index
// lookups, but the planner has no statistics for the one-row revision_counter
// (it guesses ~1800 rows), so ReadChanges' join with it looked expensive
// enough to compile: ~80 ms of JIT for a 0.4 ms query, every feed read.
constexpr int64_t kIdleInTransactionTimeoutMs = 15000;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// PQexecPrepared's parameter arrays for `params` (which must outlive it).
class ParamArrays {
 public:
  explicit ParamArrays(const std::vector<PgParam>& params) {
    values_.reserve(params.size());
    lengths_.reserve(params.size());
    formats_.reserve(params.size());
    for (const PgParam& param : params) {
      const bool has = param.value.has_value();
      values_.push_back(has ? param.value->data() : nullptr);
      lengths_.push_back(has ? static_cast<int>(param.value->size()) : 0);
      formats_.push_back(param.binary ? 1 : 0);
    }
  }
  int count() const { return static_cast<int>(values_.size()); }
  const char* const* values() const { return values_.data(); }
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }

 private:
  std::vector<const char*> values_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
};

// NOTICEs (such as "relation already exists, skipping") are not errors and
// must not reach stderr, which is the service's JSON log.
void IgnoreNotice(void*, const char*) {}

int ToPollTimeout(absl::Duration remaining) {
  int64_t ms = absl::ToInt64Milliseconds(remaining);
  return static_cast<int>(std::clamp<int64_t>(ms, 0, 60 * 60 * 1000));
}

}  // namespace

PgParam PgParam::Text(absl::string_view text) {
  PgParam param;
  param.value = std::string(text);
  return param;
}

PgParam PgParam::Int(int64_t value) {
  PgParam param;
  param.value = absl::StrCat(value);
  return param;
}

PgParam PgParam::Bool(bool value) {
  PgParam param;
  param.value = value ? "t" : "f";
  return param;
}

PgParam PgParam::Bytes(absl::string_view bytes) {
  PgParam param;
  param.value = std::string(bytes);
  param.binary = true;
  return param;
}

PgParam PgParam::OptionalText(const std::optional<std::string>& text) {
  return text.has_value() ? Text(*text) : Null();
}

PgResult& PgResult::operator=(PgResult&& other) noexcept {
  if (this != &other) {
    if (result_ != nullptr) PQclear(result_);
    result_ = std::exchange(other.result_, nullptr);
  }
  return *this;
}

PgResult::~PgResult() {
  if (result_ != nullptr) PQclear(result_);
}

int64_t PgResult::affected() const {
  int64_t count = 0;
  return absl::SimpleAtoi(PQcmdTuples(result_), &count) ? count : 0;
}

std::string PgResult::Text(int row, int column) const {
  return std::string(PQgetvalue(result_, row, column),
                     static_cast<size_t>(PQgetlength(result_, row, column)));
}

absl::StatusOr<int64_t> PgResult::Int(int row, int column) const {
  int64_t value = 0;
  if (IsNull(row, column) ||
      !absl::SimpleAtoi(PQgetvalue(result_, row, column), &value)) {
    return absl::InternalError("malformed integer in database");
  }
  return value;
}

absl::StatusOr<std::string> PgResult::Bytes(int row, int column) const {
  const char* text = PQgetvalue(result_, row, column);
  const size_t length = static_cast<size_t>(PQgetlength(result_, row, column));
  if (length < 2 || text[0] != '\\' || text[1] != 'x' || length % 2 != 0) {
    return absl::InternalError("malformed bytea in database");
  }
  std::string bytes;
  bytes.reserve((length - 2) / 2);
  for (size_t i = 2; i < length; i += 2) {
    int high = HexValue(text[i]);
    int low = HexValue(text[i + 1]);
    if (high < 0 || low < 0) {
      return absl::InternalError("malformed bytea in database");
    }
    bytes.push_back(static_cast<char>(high * 16 + low));
  }
  return bytes;
}

absl::StatusOr<std::unique_ptr<PgConnection>> PgConnection::Connect(
    const PgConnectOptions& options, int cancel_fd) {
  const int64_t keepalive_budget_ms =
      absl::ToInt64Milliseconds(options.statement_timeout) + 10000;
  // Entries before dbname are defaults the URL may override; entries after it
  // override the URL.
  const std::vector<std::pair<std::string, std::string>> settings = {
      {"fallback_application_name", "token_service"},
      {"keepalives", "1"},
      {"keepalives_idle", "10"},
      {"keepalives_interval", "5"},
      {"keepalives_count", "3"},
      {"tcp_user_timeout", absl::StrCat(keepalive_budget_ms)},
      {"dbname", options.url},
      {"client_encoding", "UTF8"},
  };
  std::vector<const char*> keywords;
  std::vector<const char*> values;
  for (const auto& [keyword, value] : settings) {
    keywords.push_back(keyword.c_str());
    values.push_back(value.c_str());
  }
  keywords.push_back(nullptr);
  values.push_back(nullptr);

  PGconn* conn = PQconnectStartParams(keywords.data(), values.data(),
                                      /*expand_dbname=*/1);
  if (conn == nullptr) {
    return absl::UnavailableError("database unreachable: out of memory");
  }
  // Verbose messages carry the SQLSTATE, which tells a refused login from an
  // unreachable server whatever the server's language.
  PQsetErrorVerbosity(conn, PQERRORS_VERBOSE);
  PQsetNoticeProcessor(conn, &IgnoreNotice, nullptr);
  std::unique_ptr<PgConnection> connection(new PgConnection(conn));
  if (PQstatus(conn) == CONNECTION_BAD) return StatusFromConnectFailure(conn);

  const absl::Time deadline = absl::Now() + options.connect_timeout;
  PostgresPollingStatusType state = PGRES_POLLING_WRITING;
  while (state != PGRES_POLLING_OK) {
    if (state == PGRES_POLLING_FAILED) return StatusFromConnectFailure(conn);
    pollfd fds[2] = {
        {PQsocket(conn),
         static_cast<short>(state == PGRES_POLLING_READING ? POLLIN : POLLOUT),
         0},
        {cancel_fd, POLLIN, 0}};
    const absl::Duration remaining = deadline - absl::Now();
    if (remaining <= absl::ZeroDuration()) {
      return absl::UnavailableError(absl::StrCat(
          "database unreachable: no connection within ",
          absl::FormatDuration(options.connect_timeout), " (connect timeout)"));
    }
    int ready = poll(fds, cancel_fd >= 0 ? 2 : 1, ToPollTimeout(remaining) + 1);
    if (ready < 0 && errno != EINTR) {
      return absl::UnavailableError("database unreachable: poll failed");
    }
    if (ready <= 0) continue;
    if (cancel_fd >= 0 && (fds[1].revents & POLLIN) != 0) {
      return absl::CancelledError("connecting cancelled");
    }
    state = PQconnectPoll(conn);
  }

  const std::string session =
      absl::StrCat("SET statement_timeout = ",
                   absl::ToInt64Milliseconds(options.statement_timeout),
                   "; SET idle_in_transaction_session_timeout = ",
                   kIdleInTransactionTimeoutMs, "; SET jit = off");
  absl::Status set = connection->ExecScript(session.c_str(), "session setup");
  if (!set.ok()) return set;
  return connection;
}

PgConnection::~PgConnection() { PQfinish(conn_); }

bool PgConnection::Reusable() const {
  return PQstatus(conn_) == CONNECTION_OK &&
         PQtransactionStatus(conn_) == PQTRANS_IDLE &&
         PQpipelineStatus(conn_) == PQ_PIPELINE_OFF;
}

absl::StatusOr<PgResult> PgConnection::Check(PGresult* result,
                                             absl::string_view what) {
  ExecStatusType status =
      result == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(result);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
    return PgResult(result);
  }
  absl::Status error = StatusFromResult(result, conn_, what);
  if (result != nullptr) PQclear(result);
  return error;
}

absl::Status PgConnection::Prepare(const PgStatement& statement) {
  if (prepared_.contains(statement.name)) return absl::OkStatus();
  absl::StatusOr<PgResult> prepared =
      Check(PQprepare(conn_, statement.name, statement.sql, 0, nullptr),
            statement.name);
  if (!prepared.ok()) return prepared.status();
  prepared_.insert(statement.name);
  return absl::OkStatus();
}

absl::StatusOr<PgResult> PgConnection::Exec(
    const PgStatement& statement, const std::vector<PgParam>& params) {
  absl::Status prepared = Prepare(statement);
  if (!prepared.ok()) return prepared;
  ParamArrays arrays(params);
  return Check(
      PQexecPrepared(conn_, statement.name, arrays.count(), arrays.values(),
                     arrays.lengths(), arrays.formats(), /*resultFormat=*/0),
      statement.name);
}

PgPipeline::PgPipeline(PgConnection& conn) : conn_(conn) {
  entered_ = PQenterPipelineMode(conn_.conn_) == 1;
}

PgPipeline::~PgPipeline() {
  if (!entered_) return;
  // Statements sent without a Sync after them would never be answered.
  if (unsynced_ && PQpipelineSync(conn_.conn_) == 1) ++pending_;
  // Read what is left (after an error the caller may stop early). Each
  // statement's results end with a null; a sync's result does not. A null
  // that ends no statement: nothing is left, whatever the count says.
  bool after_statement = false;
  while (pending_ > 0 && PQstatus(conn_.conn_) == CONNECTION_OK) {
    PGresult* result = PQgetResult(conn_.conn_);
    if (result == nullptr) {
      if (!after_statement) break;
      after_statement = false;
      continue;
    }
    after_statement = PQresultStatus(result) != PGRES_PIPELINE_SYNC;
    --pending_;
    PQclear(result);
  }
  PQexitPipelineMode(conn_.conn_);
}

absl::Status PgPipeline::Send(const PgStatement& statement,
                              const std::vector<PgParam>& params) {
  if (!entered_) return StatusFromResult(nullptr, conn_.conn_, "pipeline");
  ParamArrays arrays(params);
  if (PQsendQueryPrepared(conn_.conn_, statement.name, arrays.count(),
                          arrays.values(), arrays.lengths(), arrays.formats(),
                          /*resultFormat=*/0) != 1) {
    return StatusFromResult(nullptr, conn_.conn_, statement.name);
  }
  ++pending_;
  unsynced_ = true;
  return absl::OkStatus();
}

absl::Status PgPipeline::SendSql(const char* sql) {
  if (!entered_) return StatusFromResult(nullptr, conn_.conn_, "pipeline");
  if (PQsendQueryParams(conn_.conn_, sql, 0, nullptr, nullptr, nullptr, nullptr,
                        0) != 1) {
    return StatusFromResult(nullptr, conn_.conn_, sql);
  }
  ++pending_;
  unsynced_ = true;
  return absl::OkStatus();
}

absl::Status PgPipeline::Sync() {
  if (!entered_) return StatusFromResult(nullptr, conn_.conn_, "pipeline");
  if (PQpipelineSync(conn_.conn_) != 1) {
    return StatusFromResult(nullptr, conn_.conn_, "pipeline sync");
  }
  ++pending_;
  unsynced_ = false;
  return absl::OkStatus();
}

absl::StatusOr<PgResult> PgPipeline::Next(absl::string_view what) {
  PGresult* result = PQgetResult(conn_.conn_);
  if (result == nullptr) return StatusFromResult(nullptr, conn_.conn_, what);
  --pending_;
  // Each statement's results end with a null.
  if (PGresult* extra = PQgetResult(conn_.conn_)) {
    PQclear(extra);
    PQclear(result);
    return absl::InternalError(
        absl::StrCat(what, ": more than one result in a pipeline"));
  }
  if (PQresultStatus(result) == PGRES_PIPELINE_ABORTED) {
    PQclear(result);
    return absl::AbortedError(
        absl::StrCat(what, ": skipped after an earlier error"));
  }
  return conn_.Check(result, what);
}

absl::Status PgPipeline::NextSync() {
  PGresult* result = PQgetResult(conn_.conn_);
  if (result == nullptr) return StatusFromResult(nullptr, conn_.conn_, "sync");
  --pending_;
  const bool sync = PQresultStatus(result) == PGRES_PIPELINE_SYNC;
  PQclear(result);
  if (!sync) return absl::InternalError("pipeline out of step");
  return absl::OkStatus();
}

absl::Status PgConnection::ExecScript(const char* sql, absl::string_view what) {
  return Check(PQexec(conn_, sql), what).status();
}

PgPool::PgPool(PgConnectOptions options, int size, SetUp set_up)
    : options_(std::move(options)), size_(size), set_up_(std::move(set_up)) {}

PgPool::~PgPool() {
  absl::MutexLock lock(&mu_);
  idle_.clear();
}

bool PgPool::CanLend() const { return !idle_.empty() || open_ < size_; }

absl::StatusOr<PgPool::Lease> PgPool::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    if (!mu_.AwaitWithTimeout(
            absl::Condition(this, &PgPool::CanLend),
            options_.connect_timeout + options_.statement_timeout)) {
      return absl::UnavailableError(
          absl::StrCat("all ", size_, " database connections stayed busy"));
    }
    if (!idle_.empty()) {
      std::unique_ptr<PgConnection> conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn), /*reused=*/true);
    }
    ++open_;
  }
  absl::StatusOr<std::unique_ptr<PgConnection>> conn =
      PgConnection::Connect(options_);
  absl::Status status = conn.status();
  if (status.ok()) status = set_up_(**conn);
  if (!status.ok()) {
    absl::MutexLock lock(&mu_);
    --open_;
    return status;
  }
  return Lease(this, *std::move(conn), /*reused=*/false);
}

void PgPool::DropIdle() {
  std::vector<std::unique_ptr<PgConnection>> dropped;
  absl::MutexLock lock(&mu_);
  dropped.swap(idle_);
  open_ -= static_cast<int>(dropped.size());
}

void PgPool::Release(std::unique_ptr<PgConnection> conn) {
  const bool keep = conn->Reusable();
  absl::MutexLock lock(&mu_);
  if (keep) {
    idle_.push_back(std::move(conn));
  } else {
    // A parameter outlives the body's locals: `conn` closes after the unlock.
    --open_;
  }
}

PgPool::Lease::~Lease() {
  if (pool_ != nullptr && conn_ != nullptr) pool_->Release(std::move(conn_));
}

}  // namespace tokens
