#include "services/proto_convert.h"

#include "common/token_value.h"

namespace tokens {

void ToProto(const TokenRecord& record, v1::Token* out) {
  out->set_id(record.id);
  out->set_deployment_id(record.deployment_id);
  out->set_name(record.name);
  out->set_description(record.description);
  out->set_short_token(record.short_token);
  out->set_expiration_days(record.expiration_days);
  TimeToProto(record.create_time, out->mutable_create_time());
  TimeToProto(record.update_time, out->mutable_update_time());
  if (record.expire_time != absl::InfiniteFuture()) {
    TimeToProto(record.expire_time, out->mutable_expire_time());
  }
  if (record.last_rotate_time != absl::InfinitePast()) {
    TimeToProto(record.last_rotate_time, out->mutable_last_rotate_time());
  }
  if (record.last_used_time != absl::InfinitePast()) {
    TimeToProto(record.last_used_time, out->mutable_last_used_time());
  }
  out->set_created_by(record.created_by);
  out->set_updated_by(record.updated_by);
  if (!record.last_used_verifier.empty() || !record.last_used_client.empty()) {
    out->mutable_last_used_by()->set_verifier(record.last_used_verifier);
    out->mutable_last_used_by()->set_client_address(record.last_used_client);
  }
  if (record.last_reuse_time != absl::InfinitePast()) {
    TimeToProto(record.last_reuse_time, out->mutable_last_reuse_time());
  }
  out->set_self_rotate(record.self_rotate);
}

void ToProto(const AuditEntry& entry, v1::AuditEvent* out) {
  out->set_id(entry.id);
  TimeToProto(entry.time, out->mutable_time());
  out->set_principal(entry.principal);
  out->set_action(entry.action);
  out->set_token_id(entry.token_id);
  out->set_deployment_id(entry.deployment_id);
  out->set_outcome(entry.outcome);
  out->set_detail(entry.detail);
}

}  // namespace tokens
