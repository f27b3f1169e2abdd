// How PostgresTokenStore's values travel to and from PostgreSQL: times,
// digests, token, change and audit rows, and array literals for statements
// that take many rows at once. Used only inside storage/.
//
// Times are bigint microseconds since the epoch and NULL for a column's "none"
// value, exactly as SqliteTokenStore stores them, so both stores return
// identical records: InfiniteFuture and InfinitePast that are not the "none"
// value become INT64_MAX and INT64_MIN and come back as themselves.
#ifndef STORAGE_POSTGRES_ROWS_H_
#define STORAGE_POSTGRES_ROWS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/token_change.h"
#include "common/token_value.h"
#include "storage/postgres_connection.h"
#include "storage/stored_time.h"
#include "storage/token_store.h"

namespace tokens {

// NULL when `t` is the column's "none" value.
PgParam TimeParam(absl::Time t, absl::Time none);
PgParam DigestParam(const Digest& digest);
PgParam OptionalDigestParam(const std::optional<Digest>& digest);

absl::StatusOr<absl::Time> ReadTime(const PgResult& result, int row, int column,
                                    absl::Time none);
absl::Status ReadDigest(const PgResult& result, int row, int column,
                        Digest* digest);
absl::Status ReadOptionalDigest(const PgResult& result, int row, int column,
                                std::optional<Digest>* digest);

// The 19 token columns, in the order of PG_TOKEN_COLUMNS in
// postgres_token_store.cc: id, deployment_id, name, description, short_token,
// expiration_days, secret_digest, previous_digest, previous_valid_until,
// create_time, update_time, expire_time, last_rotate_time, last_used_time,
// created_by, updated_by, last_used_verifier, last_used_client,
// last_reuse_time, self_rotate.
inline constexpr int kPgTokenColumnCount = 20;
void AppendTokenParams(const TokenRecord& token, std::vector<PgParam>* params);
absl::StatusOr<TokenRecord> TokenFromRow(const PgResult& result, int row,
                                         int first_column);

// revision, type, token_id, deployment_id, secret_digest, expire_time,
// previous_digest, previous_valid_until, revoked (token_hygiene.h's encoding).
absl::StatusOr<TokenChange> ChangeFromRow(const PgResult& result, int row,
                                          int first_column);

// digest, token_id, deployment_id, revoke_time.
absl::StatusOr<RevokedValue> RevokedFromRow(const PgResult& result, int row,
                                            int first_column);

// id, time, principal, action, token_id, deployment_id, outcome, detail.
absl::StatusOr<AuditEntry> AuditFromRow(const PgResult& result, int row,
                                        int first_column);
// time, principal, action, token_id, deployment_id, outcome, detail.
void AppendAuditParams(const AuditEntry& audit, std::vector<PgParam>* params);

// The change a write logs for `token` (revision left 0) or for its deletion.
TokenChange UpsertChange(const TokenRecord& token);
TokenChange DeleteChange(const std::string& token_id,
                         const std::string& deployment_id);

// Builds a one-dimensional array literal ({...}) sent as a text parameter.
class PgArrayLiteral {
 public:
  void AddText(absl::string_view text);
  void AddInt(int64_t value);
  void AddBool(bool value);
  void AddBytes(absl::string_view bytes);  // A bytea element (hex form).
  void AddNull();
  // NULL when `t` is the column's "none" value (as TimeParam).
  void AddTime(absl::Time t, absl::Time none);
  PgParam Param() const;

 private:
  void Separate();
  std::string elements_;
  bool empty_ = true;
};

}  // namespace tokens

#endif  // STORAGE_POSTGRES_ROWS_H_
