// PostgresTokenStore's ClusterState methods: shared secrets in `settings`,
// callers in `callers`.
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/postgres_connection.h"
#include "storage/postgres_token_store.h"

namespace tokens {
namespace {

constexpr PgStatement kInsertSecret = {
    "insert_secret",
    "INSERT INTO settings (name, value) VALUES ($1::text, $2::bytea) "
    "ON CONFLICT (name) DO NOTHING"};

constexpr PgStatement kSelectSecret = {
    "select_secret", "SELECT value FROM settings WHERE name = $1::text"};

// Blocks AddCaller and other initialisers until this transaction ends, so
// "no caller yet" cannot change under it.
constexpr PgStatement kLockCallers = {
    "lock_callers", "LOCK TABLE callers IN SHARE ROW EXCLUSIVE MODE"};

constexpr PgStatement kAnyCaller = {"any_caller",
                                    "SELECT EXISTS (SELECT 1 FROM callers)"};

constexpr PgStatement kInsertCaller = {
    "insert_caller",
    "INSERT INTO callers (name, role, key_digest) "
    "VALUES ($1::text, $2::text, $3::text)"};

constexpr PgStatement kListCallers = {
    "list_callers", "SELECT name, role, key_digest FROM callers ORDER BY name"};

constexpr PgStatement kDeleteCaller = {
    "delete_caller", "DELETE FROM callers WHERE name = $1::text"};

absl::Status CheckCaller(const CallerRecord& caller) {
  if (caller.name.empty()) {
    return absl::InvalidArgumentError("caller name is empty");
  }
  if (!IsCallerRoleName(caller.role)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "caller role must be ", kCallerRoleList, ", got '", caller.role, "'"));
  }
  bool hex = caller.key_digest_hex.size() == 64;
  for (char c : caller.key_digest_hex) {
    hex = hex && (absl::ascii_isdigit(static_cast<unsigned char>(c)) ||
                  (c >= 'a' && c <= 'f'));
  }
  if (!hex) {
    return absl::InvalidArgumentError(
        "caller key digest must be 64 lowercase hex digits");
  }
  return absl::OkStatus();
}

// Never names the digest.
absl::Status CallerExists(const std::string& name) {
  return absl::AlreadyExistsError(
      absl::StrCat("caller ", name, " or its key already exists"));
}

std::vector<PgParam> CallerParams(const CallerRecord& caller) {
  return {PgParam::Text(caller.name), PgParam::Text(caller.role),
          PgParam::Text(caller.key_digest_hex)};
}

}  // namespace

absl::StatusOr<std::string> PostgresTokenStore::GetOrCreateSecret(
    const std::string& name, const std::string& candidate) {
  if (name.empty() || name == kRetentionSetting) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", name, "' cannot name a secret"));
  }
  std::string secret;
  RETURN_IF_ERROR(Run([&](PgConnection& conn, bool*) -> absl::Status {
    // Two statements in autocommit: the SELECT takes a new snapshot, so it
    // sees the row of a replica whose INSERT ours waited for. Inserting again
    // on a retry does nothing.
    RETURN_IF_ERROR(conn.Exec(kInsertSecret,
                              {PgParam::Text(name), PgParam::Bytes(candidate)})
                        .status());
    ASSIGN_OR_RETURN(PgResult row,
                     conn.Exec(kSelectSecret, {PgParam::Text(name)}));
    if (row.rows() != 1) {
      return absl::InternalError(absl::StrCat("secret ", name, " vanished"));
    }
    ASSIGN_OR_RETURN(secret, row.Bytes(0, 0));
    return absl::OkStatus();
  }));
  return secret;
}

absl::StatusOr<bool> PostgresTokenStore::InitializeCallers(
    const std::vector<CallerRecord>& callers) {
  for (const CallerRecord& caller : callers)
    RETURN_IF_ERROR(CheckCaller(caller));
  if (callers.empty()) return false;
  bool inserted = false;
  absl::Status status = InTransaction([&](PgConnection& conn) -> absl::Status {
    inserted = false;
    RETURN_IF_ERROR(conn.Exec(kLockCallers).status());
    ASSIGN_OR_RETURN(PgResult any, conn.Exec(kAnyCaller));
    if (any.rows() == 1 && any.Text(0, 0) == "t") return absl::OkStatus();
    for (const CallerRecord& caller : callers) {
      absl::Status added =
          conn.Exec(kInsertCaller, CallerParams(caller)).status();
      if (added.code() == absl::StatusCode::kAlreadyExists) {
        return CallerExists(caller.name);
      }
      RETURN_IF_ERROR(added);
    }
    inserted = true;
    return absl::OkStatus();
  });
  RETURN_IF_ERROR(status);
  return inserted;
}

absl::StatusOr<std::vector<CallerRecord>> PostgresTokenStore::ListCallers() {
  std::vector<CallerRecord> callers;
  RETURN_IF_ERROR(Run([&](PgConnection& conn, bool*) -> absl::Status {
    callers.clear();
    ASSIGN_OR_RETURN(PgResult rows, conn.Exec(kListCallers));
    for (int i = 0; i < rows.rows(); ++i) {
      callers.push_back({rows.Text(i, 0), rows.Text(i, 1), rows.Text(i, 2)});
    }
    return absl::OkStatus();
  }));
  return callers;
}

absl::Status PostgresTokenStore::AddCaller(const CallerRecord& caller) {
  RETURN_IF_ERROR(CheckCaller(caller));
  absl::Status status = Run([&](PgConnection& conn, bool* in_doubt) {
    *in_doubt = true;  // Autocommit: the statement is its own COMMIT.
    return conn.Exec(kInsertCaller, CallerParams(caller)).status();
  });
  if (status.code() == absl::StatusCode::kAlreadyExists) {
    return CallerExists(caller.name);
  }
  return status;
}

absl::Status PostgresTokenStore::RemoveCaller(const std::string& name) {
  int64_t removed = 0;
  RETURN_IF_ERROR(Run([&](PgConnection& conn, bool* in_doubt) -> absl::Status {
    *in_doubt = true;  // Autocommit: the statement is its own COMMIT.
    ASSIGN_OR_RETURN(PgResult result,
                     conn.Exec(kDeleteCaller, {PgParam::Text(name)}));
    removed = result.affected();
    return absl::OkStatus();
  }));
  if (removed == 0) {
    return absl::NotFoundError(absl::StrCat("caller ", name, " not found"));
  }
  return absl::OkStatus();
}

}  // namespace tokens
