#include "storage/postgres_rows.h"

#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/token_hygiene.h"

namespace tokens {
namespace {

absl::Status RowError(const char* what) {
  return absl::InternalError(absl::StrCat("malformed ", what, " in database"));
}

}  // namespace

PgParam TimeParam(absl::Time t, absl::Time none) {
  return t == none ? PgParam::Null() : PgParam::Int(EncodeTime(t));
}

PgParam DigestParam(const Digest& digest) {
  return PgParam::Bytes(DigestToBytes(digest));
}

PgParam OptionalDigestParam(const std::optional<Digest>& digest) {
  return digest.has_value() ? DigestParam(*digest) : PgParam::Null();
}

absl::StatusOr<absl::Time> ReadTime(const PgResult& result, int row, int column,
                                    absl::Time none) {
  if (result.IsNull(row, column)) return none;
  ASSIGN_OR_RETURN(int64_t micros, result.Int(row, column));
  return DecodeTime(micros);
}

absl::Status ReadDigest(const PgResult& result, int row, int column,
                        Digest* digest) {
  if (result.IsNull(row, column)) return RowError("digest");
  ASSIGN_OR_RETURN(std::string bytes, result.Bytes(row, column));
  if (!DigestFromBytes(bytes, digest)) return RowError("digest");
  return absl::OkStatus();
}

absl::Status ReadOptionalDigest(const PgResult& result, int row, int column,
                                std::optional<Digest>* digest) {
  if (result.IsNull(row, column)) {
    digest->reset();
    return absl::OkStatus();
  }
  Digest value{};
  RETURN_IF_ERROR(ReadDigest(result, row, column, &value));
  *digest = value;
  return absl::OkStatus();
}

void AppendTokenParams(const TokenRecord& token, std::vector<PgParam>* params) {
  params->push_back(PgParam::Text(token.id));
  params->push_back(PgParam::Text(token.deployment_id));
  params->push_back(PgParam::Text(token.name));
  params->push_back(PgParam::Text(token.description));
  params->push_back(PgParam::Text(token.short_token));
  params->push_back(PgParam::Int(token.expiration_days));
  params->push_back(DigestParam(token.secret_digest));
  params->push_back(OptionalDigestParam(token.previous_digest));
  params->push_back(
      TimeParam(token.previous_valid_until, absl::InfinitePast()));
  params->push_back(TimeParam(token.create_time, absl::InfinitePast()));
  params->push_back(TimeParam(token.update_time, absl::InfinitePast()));
  params->push_back(TimeParam(token.expire_time, absl::InfiniteFuture()));
  params->push_back(TimeParam(token.last_rotate_time, absl::InfinitePast()));
  params->push_back(TimeParam(token.last_used_time, absl::InfinitePast()));
  params->push_back(PgParam::Text(token.created_by));
  params->push_back(PgParam::Text(token.updated_by));
  params->push_back(PgParam::Text(token.last_used_verifier));
  params->push_back(PgParam::Text(token.last_used_client));
  params->push_back(TimeParam(token.last_reuse_time, absl::InfinitePast()));
  params->push_back(PgParam::Bool(token.self_rotate));
}

absl::StatusOr<TokenRecord> TokenFromRow(const PgResult& result, int row,
                                         int first_column) {
  const int c = first_column;
  TokenRecord token;
  token.id = result.Text(row, c + 0);
  token.deployment_id = result.Text(row, c + 1);
  token.name = result.Text(row, c + 2);
  token.description = result.Text(row, c + 3);
  token.short_token = result.Text(row, c + 4);
  ASSIGN_OR_RETURN(int64_t days, result.Int(row, c + 5));
  token.expiration_days = static_cast<int32_t>(days);
  RETURN_IF_ERROR(ReadDigest(result, row, c + 6, &token.secret_digest));
  RETURN_IF_ERROR(
      ReadOptionalDigest(result, row, c + 7, &token.previous_digest));
  ASSIGN_OR_RETURN(token.previous_valid_until,
                   ReadTime(result, row, c + 8, absl::InfinitePast()));
  ASSIGN_OR_RETURN(token.create_time,
                   ReadTime(result, row, c + 9, absl::InfinitePast()));
  ASSIGN_OR_RETURN(token.update_time,
                   ReadTime(result, row, c + 10, absl::InfinitePast()));
  ASSIGN_OR_RETURN(token.expire_time,
                   ReadTime(result, row, c + 11, absl::InfiniteFuture()));
  ASSIGN_OR_RETURN(token.last_rotate_time,
                   ReadTime(result, row, c + 12, absl::InfinitePast()));
  ASSIGN_OR_RETURN(token.last_used_time,
                   ReadTime(result, row, c + 13, absl::InfinitePast()));
  token.created_by = result.Text(row, c + 14);
  token.updated_by = result.Text(row, c + 15);
  token.last_used_verifier = result.Text(row, c + 16);
  token.last_used_client = result.Text(row, c + 17);
  ASSIGN_OR_RETURN(token.last_reuse_time,
                   ReadTime(result, row, c + 18, absl::InfinitePast()));
  token.self_rotate = result.Text(row, c + 19) == "t";
  return token;
}

absl::StatusOr<TokenChange> ChangeFromRow(const PgResult& result, int row,
                                          int first_column) {
  const int c = first_column;
  TokenChange change;
  ASSIGN_OR_RETURN(change.revision, result.Int(row, c + 0));
  const std::string type = result.Text(row, c + 1);
  if (type == "upsert") {
    change.type = TokenChange::Type::kUpsert;
  } else if (type == "delete") {
    change.type = TokenChange::Type::kDelete;
  } else {
    return RowError("change type");
  }
  change.token_id = result.Text(row, c + 2);
  change.deployment_id = result.Text(row, c + 3);
  if (change.type == TokenChange::Type::kUpsert) {
    RETURN_IF_ERROR(ReadDigest(result, row, c + 4, &change.digest));
  }
  ASSIGN_OR_RETURN(change.expire_time,
                   ReadTime(result, row, c + 5, absl::InfiniteFuture()));
  RETURN_IF_ERROR(
      ReadOptionalDigest(result, row, c + 6, &change.previous_digest));
  ASSIGN_OR_RETURN(change.previous_valid_until,
                   ReadTime(result, row, c + 7, absl::InfinitePast()));
  if (!result.IsNull(row, c + 8)) {
    ASSIGN_OR_RETURN(std::string revoked, result.Bytes(row, c + 8));
    ASSIGN_OR_RETURN(
        change.revoked,
        DecodeRevokedValues(revoked, change.token_id, change.deployment_id));
  }
  return change;
}

absl::StatusOr<RevokedValue> RevokedFromRow(const PgResult& result, int row,
                                            int first_column) {
  const int c = first_column;
  RevokedValue value;
  RETURN_IF_ERROR(ReadDigest(result, row, c + 0, &value.digest));
  value.token_id = result.Text(row, c + 1);
  value.deployment_id = result.Text(row, c + 2);
  ASSIGN_OR_RETURN(int64_t micros, result.Int(row, c + 3));
  value.revoke_time = DecodeTime(micros);
  return value;
}

absl::StatusOr<AuditEntry> AuditFromRow(const PgResult& result, int row,
                                        int first_column) {
  const int c = first_column;
  AuditEntry entry;
  ASSIGN_OR_RETURN(entry.id, result.Int(row, c + 0));
  ASSIGN_OR_RETURN(entry.time,
                   ReadTime(result, row, c + 1, absl::InfinitePast()));
  entry.principal = result.Text(row, c + 2);
  entry.action = result.Text(row, c + 3);
  entry.token_id = result.Text(row, c + 4);
  entry.deployment_id = result.Text(row, c + 5);
  entry.outcome = result.Text(row, c + 6);
  entry.detail = result.Text(row, c + 7);
  return entry;
}

void AppendAuditParams(const AuditEntry& audit, std::vector<PgParam>* params) {
  params->push_back(TimeParam(audit.time, absl::InfinitePast()));
  params->push_back(PgParam::Text(audit.principal));
  params->push_back(PgParam::Text(audit.action));
  params->push_back(PgParam::Text(audit.token_id));
  params->push_back(PgParam::Text(audit.deployment_id));
  params->push_back(PgParam::Text(audit.outcome));
  params->push_back(PgParam::Text(audit.detail));
}

TokenChange UpsertChange(const TokenRecord& token) {
  TokenChange change;
  change.type = TokenChange::Type::kUpsert;
  change.token_id = token.id;
  change.deployment_id = token.deployment_id;
  change.digest = token.secret_digest;
  change.expire_time = token.expire_time;
  change.previous_digest = token.previous_digest;
  change.previous_valid_until = token.previous_valid_until;
  return change;
}

TokenChange DeleteChange(const std::string& token_id,
                         const std::string& deployment_id) {
  TokenChange change;
  change.type = TokenChange::Type::kDelete;
  change.token_id = token_id;
  change.deployment_id = deployment_id;
  return change;
}

void PgArrayLiteral::Separate() {
  if (!empty_) elements_.push_back(',');
  empty_ = false;
}

void PgArrayLiteral::AddText(absl::string_view text) {
  Separate();
  elements_.push_back('"');
  for (char c : text) {
    if (c == '"' || c == '\\') elements_.push_back('\\');
    elements_.push_back(c);
  }
  elements_.push_back('"');
}

void PgArrayLiteral::AddInt(int64_t value) {
  Separate();
  absl::StrAppend(&elements_, value);
}

void PgArrayLiteral::AddBool(bool value) {
  Separate();
  elements_ += value ? "t" : "f";
}

void PgArrayLiteral::AddBytes(absl::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  Separate();
  // "\\x..." inside the literal is the bytea text \x... once unescaped.
  elements_.append("\"\\\\x");
  for (char c : bytes) {
    const unsigned char byte = static_cast<unsigned char>(c);
    elements_.push_back(kHex[byte >> 4]);
    elements_.push_back(kHex[byte & 0xf]);
  }
  elements_.push_back('"');
}

void PgArrayLiteral::AddNull() {
  Separate();
  elements_.append("NULL");
}

void PgArrayLiteral::AddTime(absl::Time t, absl::Time none) {
  if (t == none) {
    AddNull();
  } else {
    AddInt(EncodeTime(t));
  }
}

PgParam PgArrayLiteral::Param() const {
  return PgParam::Text(absl::StrCat("{", elements_, "}"));
}

}  // namespace tokens
