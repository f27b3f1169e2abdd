// The wire form of a feed change, both ways: TokenChange (common/
// token_change.h) <-> tokens.v1.TokenChange. The watch cache encodes with
// ToProto; the verifier's feed client decodes with TokenChangeFromProto.
// Pure functions, thread-safe.
#ifndef COMMON_TOKEN_CHANGE_PROTO_H_
#define COMMON_TOKEN_CHANGE_PROTO_H_

#include "common/token_change.h"
#include "proto/tokens/v1/tokens.pb.h"

namespace tokens {

// Infinite times stay unset; a delete carries no digests of its own (only its
// revoked values).
void ToProto(const TokenChange& change, v1::TokenChange* out);

void ToProto(const RevokedValue& value, v1::RevokedValue* out);

// False (and `out` untouched) when the digest is damaged: the entry is
// dropped and logged, which only costs a REVOKED_TOKEN turning into
// UNKNOWN_TOKEN. An unset revoke_time means "revoked long ago".
bool RevokedValueFromProto(const v1::RevokedValue& value, RevokedValue* out);

// A damaged current digest becomes a delete (fail closed: the value stops
// verifying) and is logged; a previous digest without an end is already over.
// Revoked values are decoded with RevokedValueFromProto.
TokenChange TokenChangeFromProto(const v1::TokenChange& change);

}  // namespace tokens

#endif  // COMMON_TOKEN_CHANGE_PROTO_H_
