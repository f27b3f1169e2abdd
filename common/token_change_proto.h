// The wire form of a feed change, both ways: TokenChange (common/
// token_change.h) <-> tokens.v1.TokenChange. The watch cache encodes with
// ToProto; the verifier's feed client decodes with TokenChangeFromProto.
// Pure functions, thread-safe.
#ifndef COMMON_TOKEN_CHANGE_PROTO_H_
#define COMMON_TOKEN_CHANGE_PROTO_H_

#include "common/token_change.h"
#include "proto/tokens/v1/tokens.pb.h"

namespace tokens {

// Infinite times stay unset; a delete carries no digests.
void ToProto(const TokenChange& change, v1::TokenChange* out);

// A damaged current digest becomes a delete (fail closed: the value stops
// verifying) and is logged; a previous digest without an end is already over.
TokenChange TokenChangeFromProto(const v1::TokenChange& change);

}  // namespace tokens

#endif  // COMMON_TOKEN_CHANGE_PROTO_H_
