#include "common/token_change_proto.h"

#include "common/json_log.h"
#include "common/proto_time.h"

namespace tokens {

void ToProto(const RevokedValue& value, v1::RevokedValue* out) {
  out->set_digest(DigestToBytes(value.digest));
  out->set_token_id(value.token_id);
  out->set_deployment_id(value.deployment_id);
  if (value.revoke_time != absl::InfinitePast() &&
      value.revoke_time != absl::InfiniteFuture()) {
    TimeToProto(value.revoke_time, out->mutable_revoke_time());
  }
}

bool RevokedValueFromProto(const v1::RevokedValue& value, RevokedValue* out) {
  Digest digest;
  if (!DigestFromBytes(value.digest(), &digest)) {
    JsonLog("sync.bad_digest", "warn").Str("token_id", value.token_id());
    return false;
  }
  out->digest = digest;
  out->token_id = value.token_id();
  out->deployment_id = value.deployment_id();
  out->revoke_time = value.has_revoke_time()
                         ? TimeFromProto(value.revoke_time())
                         : absl::InfinitePast();
  return true;
}

void ToProto(const TokenChange& change, v1::TokenChange* out) {
  out->set_revision(change.revision);
  out->set_token_id(change.token_id);
  out->set_deployment_id(change.deployment_id);
  for (const RevokedValue& value : change.revoked) {
    ToProto(value, out->add_revoked());
  }
  if (change.type == TokenChange::Type::kDelete) {
    out->set_type(v1::TokenChange::DELETE);
    return;
  }
  out->set_type(v1::TokenChange::UPSERT);
  out->set_secret_digest(DigestToBytes(change.digest));
  if (change.expire_time != absl::InfiniteFuture()) {
    TimeToProto(change.expire_time, out->mutable_expire_time());
  }
  if (change.previous_digest) {
    out->set_previous_digest(DigestToBytes(*change.previous_digest));
    TimeToProto(change.previous_valid_until,
                out->mutable_previous_valid_until());
  }
}

TokenChange TokenChangeFromProto(const v1::TokenChange& change) {
  TokenChange out;
  out.revision = change.revision();
  out.token_id = change.token_id();
  out.deployment_id = change.deployment_id();
  out.type = change.type() == v1::TokenChange::UPSERT
                 ? TokenChange::Type::kUpsert
                 : TokenChange::Type::kDelete;
  for (const v1::RevokedValue& value : change.revoked()) {
    RevokedValue revoked;
    if (RevokedValueFromProto(value, &revoked)) {
      out.revoked.push_back(std::move(revoked));
    }
  }
  if (out.type == TokenChange::Type::kDelete) return out;

  if (!DigestFromBytes(change.secret_digest(), &out.digest)) {
    JsonLog("sync.bad_digest", "warn").Str("token_id", change.token_id());
    out.type = TokenChange::Type::kDelete;
    return out;
  }
  if (change.has_expire_time()) {
    out.expire_time = TimeFromProto(change.expire_time());
  }
  Digest previous;
  if (!change.previous_digest().empty() &&
      DigestFromBytes(change.previous_digest(), &previous)) {
    out.previous_digest = previous;
    // A previous digest without an end would verify forever: treat it as
    // already over.
    out.previous_valid_until =
        change.has_previous_valid_until()
            ? TimeFromProto(change.previous_valid_until())
            : absl::InfinitePast();
  }
  return out;
}

}  // namespace tokens
