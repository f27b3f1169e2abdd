#include "storage/postgres_status.h"

#include <cctype>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace tokens {
namespace {

bool IsSqlStateChar(char c) {
  return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'A' && c <= 'Z');
}

// Finds "SEVERITY:  XXXXX: " (the verbose form) in `line`; returns the
// SQLSTATE and removes it from the line.
std::string TakeSqlState(std::string& line) {
  for (const char* severity : {"FATAL:  ", "ERROR:  ", "PANIC:  "}) {
    size_t at = line.find(severity);
    if (at == std::string::npos) continue;
    size_t code = at + std::strlen(severity);
    if (line.size() < code + 7) continue;
    bool all = true;
    for (size_t i = code; i < code + 5; ++i)
      all = all && IsSqlStateChar(line[i]);
    if (!all || line[code + 5] != ':' || line[code + 6] != ' ') continue;
    std::string sqlstate = line.substr(code, 5);
    line.erase(code, 7);
    return sqlstate;
  }
  return "";
}

std::string ConnectionMessage(const PGconn* conn) {
  if (conn == nullptr) return "out of memory";
  const char* message = PQerrorMessage(conn);
  return message == nullptr ? std::string() : std::string(message);
}

}  // namespace

absl::Status StatusFromSqlState(absl::string_view sqlstate,
                                absl::string_view primary_message,
                                absl::string_view what) {
  absl::string_view klass = sqlstate.substr(0, 2);
  std::string detail = klass == "22" ? std::string("invalid data")
                                     : std::string(primary_message);
  if (detail.empty()) detail = "database error";
  std::string message =
      sqlstate.empty()
          ? absl::StrCat(what, ": ", detail)
          : absl::StrCat(what, ": ", detail, " (SQLSTATE ", sqlstate, ")");
  if (sqlstate == "40001" || sqlstate == "40P01") {
    return absl::AbortedError(message);
  }
  if (klass == "08" || klass == "53" || klass == "57" || sqlstate == "55P03" ||
      sqlstate == "25006" || sqlstate == "40003") {
    return absl::UnavailableError(message);
  }
  if (sqlstate == "23505") return absl::AlreadyExistsError(message);
  return absl::InternalError(message);
}

absl::Status StatusFromResult(const PGresult* result, const PGconn* conn,
                              absl::string_view what) {
  const bool broken = conn == nullptr || PQstatus(conn) == CONNECTION_BAD;
  const char* sqlstate = result == nullptr
                             ? nullptr
                             : PQresultErrorField(result, PG_DIAG_SQLSTATE);
  const char* primary =
      result == nullptr ? nullptr
                        : PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  if (broken) {
    std::string reason = primary != nullptr
                             ? std::string(primary)
                             : CleanConnectionMessage(ConnectionMessage(conn));
    if (reason.empty()) reason = "connection lost";
    return absl::UnavailableError(
        absl::StrCat(what, ": database connection lost: ", reason));
  }
  if (sqlstate == nullptr) {
    // libpq's own error (out of memory, protocol trouble): nothing the server
    // said, so the connection message is all there is.
    std::string reason = primary != nullptr
                             ? std::string(primary)
                             : CleanConnectionMessage(ConnectionMessage(conn));
    return absl::InternalError(absl::StrCat(what, ": ", reason));
  }
  return StatusFromSqlState(sqlstate, primary == nullptr ? "" : primary, what);
}

std::string CleanConnectionMessage(absl::string_view message) {
  std::vector<std::string> kept;
  for (absl::string_view raw : absl::StrSplit(message, '\n')) {
    if (raw.empty() || raw[0] == '\t' || raw[0] == ' ') continue;  // Hints.
    std::string line(absl::StripAsciiWhitespace(raw));
    if (line.empty() || absl::StartsWith(line, "LOCATION:") ||
        absl::StartsWith(line, "HINT:") || absl::StartsWith(line, "DETAIL:")) {
      continue;
    }
    TakeSqlState(line);
    kept.push_back(std::move(line));
  }
  return absl::StrJoin(kept, "; ");
}

absl::Status StatusFromConnectFailure(const PGconn* conn) {
  std::string sqlstate;
  std::vector<std::string> lines;
  std::string raw = ConnectionMessage(conn);
  for (absl::string_view part : absl::StrSplit(raw, '\n')) {
    std::string line(part);
    std::string found = TakeSqlState(line);
    if (sqlstate.empty()) sqlstate = found;
  }
  std::string message = CleanConnectionMessage(raw);
  if (message.empty()) message = "cannot connect";
  if (absl::StartsWith(sqlstate, "28") || sqlstate == "3D000" ||
      sqlstate == "42501") {
    return absl::PermissionDeniedError(
        absl::StrCat("database refused the login (check the user, password "
                     "and database name of --database): ",
                     message));
  }
  return absl::UnavailableError(
      absl::StrCat("database unreachable: ", message));
}

absl::Status RetriesExhausted(const absl::Status& last, int attempts) {
  return absl::UnavailableError(absl::StrCat(
      last.message(), " (still failing after ", attempts, " attempts)"));
}

}  // namespace tokens
