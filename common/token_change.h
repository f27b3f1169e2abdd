// TokenChange: one change of the feed in plain C++, the state a verifier must
// hold for a token after `revision`. One shape from end to end: the store
// writes and reads it (the change log, snapshots), the watch cache encodes it
// to its wire form tokens.v1.TokenChange (services/proto_convert.h), and the
// verifier decodes that back into it and applies it to its cache.
#ifndef COMMON_TOKEN_CHANGE_H_
#define COMMON_TOKEN_CHANGE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/token_value.h"

namespace tokens {

// A token value that no longer verifies, because it was rotated away or its
// token was deleted. Stores and verifiers remember these for a retention
// period so that a verifier can answer REVOKED_TOKEN (and report the reuse)
// instead of UNKNOWN_TOKEN. Never a value, only its digest.
struct RevokedValue {
  Digest digest{};
  std::string token_id;
  std::string deployment_id;
  // When it stopped verifying: the rotation or deletion, or the end of a
  // rotation's grace period (which may still be in the future: until then the
  // value is a token's previous_digest and verifies).
  absl::Time revoke_time = absl::InfinitePast();
};

struct TokenChange {
  enum class Type { kUpsert, kDelete };
  int64_t revision = 0;
  Type type = Type::kUpsert;
  std::string token_id;
  std::string deployment_id;
  // kUpsert only: the current value's digest and when it expires
  // (InfiniteFuture = never).
  Digest digest{};
  absl::Time expire_time = absl::InfiniteFuture();
  // kUpsert only: a value replaced by a rotation with a grace period, and when
  // it stops verifying.
  std::optional<Digest> previous_digest;
  absl::Time previous_valid_until = absl::InfinitePast();
  // The values this change revoked: a rotation's replaced value (and a
  // previous value it dropped), or every value of a deleted token.
  std::vector<RevokedValue> revoked;
};

}  // namespace tokens

#endif  // COMMON_TOKEN_CHANGE_H_
