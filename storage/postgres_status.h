// The one place where libpq errors become absl::Status, for PostgresTokenStore
// and its helpers. Used only inside storage/.
//
//   40001 serialization_failure, 40P01 deadlock   -> Aborted (the store retries
//                                                    the transaction a bounded
//                                                    number of times, then
//                                                    RetriesExhausted makes it
//                                                    Unavailable)
//   class 08 (connection), 57P01/57P02/57P03
//   (shutdown, cannot connect now), class 53
//   (insufficient resources), 55P03 (lock not
//   available), class 57 (also 57014, statement
//   timeout), 25006 (read-only: a standby during
//   failover), a connection that is
//   CONNECTION_BAD                              -> Unavailable
//   23505 unique_violation                      -> AlreadyExists
//   everything else                             -> Internal
//
// Connecting: class 28 (bad credentials), 3D000 (no such database) and 42501
// (no CONNECT privilege) are PermissionDenied; every other failure to connect
// (refused, timed out, server starting or shutting down) is Unavailable.
//
// Messages name what failed and carry PostgreSQL's primary message and
// SQLSTATE; never DETAIL (which quotes key values), never a parameter value,
// never a digest or a password. Data exceptions (class 22), whose primary
// message may quote the value, carry only the SQLSTATE.
#ifndef STORAGE_POSTGRES_STATUS_H_
#define STORAGE_POSTGRES_STATUS_H_

#include <postgresql/libpq-fe.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tokens {

// The status for an error with `sqlstate` (5 characters; empty when the server
// sent none) and PostgreSQL's primary message, raised while doing `what`.
absl::Status StatusFromSqlState(absl::string_view sqlstate,
                                absl::string_view primary_message,
                                absl::string_view what);

// The status for a failed statement: `result` may be null (libpq could not
// even build one). A connection that is CONNECTION_BAD afterwards is always
// Unavailable, whatever the result says.
absl::Status StatusFromResult(const PGresult* result, const PGconn* conn,
                              absl::string_view what);

// The status for a connection attempt that failed (`conn` may be null). Reads
// the SQLSTATE from the message, so set PQERRORS_VERBOSE on `conn` before
// connecting (PgConnection does).
absl::Status StatusFromConnectFailure(const PGconn* conn);

// The one-line, value-free form of a libpq connection error message: drops
// LOCATION and hint lines and the SQLSTATE that verbose messages carry.
std::string CleanConnectionMessage(absl::string_view message);

// True for Aborted, the statuses a transaction is retried on.
inline bool IsRetryableStatus(const absl::Status& status) {
  return status.code() == absl::StatusCode::kAborted;
}

// What a caller gets when the last of `attempts` tries still was Aborted:
// Unavailable with the same message.
absl::Status RetriesExhausted(const absl::Status& last, int attempts);

}  // namespace tokens

#endif  // STORAGE_POSTGRES_STATUS_H_
