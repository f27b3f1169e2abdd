// Conversions between store records and tokens.v1 messages. Pure functions.
#ifndef SERVICES_PROTO_CONVERT_H_
#define SERVICES_PROTO_CONVERT_H_

#include "absl/time/time.h"
#include "common/proto_time.h"
#include "common/token_change_proto.h"
#include "proto/tokens/v1/tokens.pb.h"
#include "storage/token_store.h"

namespace tokens {

void ToProto(const TokenRecord& record, v1::Token* out);
void ToProto(const AuditEntry& entry, v1::AuditEvent* out);

}  // namespace tokens

#endif  // SERVICES_PROTO_CONVERT_H_
