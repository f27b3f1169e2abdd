// Token values: generation, the offline shape check, and the digest that is
// stored instead.
//
// A value is `dpt_` + 43 base62 characters (256 bits from OpenSSL's CSPRNG) + 6
// base62 characters of CRC32 over the prefix and body (GitHub's scheme): 53
// characters in all. The checksum lets anyone reject a mistyped or made-up
// value without a lookup. All functions are thread-safe.
#ifndef COMMON_TOKEN_VALUE_H_
#define COMMON_TOKEN_VALUE_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tokens {

inline constexpr std::string_view kTokenPrefix = "dpt_";
inline constexpr size_t kTokenBodyLength = 43;
inline constexpr size_t kTokenChecksumLength = 6;
inline constexpr size_t kTokenLength =
    4 + kTokenBodyLength + kTokenChecksumLength;  // 53
// Values longer than this are rejected before any other work.
inline constexpr size_t kMaxTokenLength = 64;

// SHA-256 of a token value: what is stored, fed to verifiers and cached.
using Digest = std::array<uint8_t, 32>;

// Returns a fresh value from the CSPRNG, or Internal if OpenSSL cannot supply
// randomness.
absl::StatusOr<std::string> GenerateTokenValue();

// True when `value` has the exact shape of a token: prefix, length, alphabet
// and checksum. Does no lookup and allocates nothing.
bool IsWellFormedTokenValue(std::string_view value);

// SHA-256 of the value.
Digest DigestOf(std::string_view value);

// A non-secret hint such as `dpt_Ab12…9xYz` (first 4 and last 4 characters of
// the random body and checksum); the 8 characters shown leave >= 200 bits
// unknown.
std::string ShortTokenHint(std::string_view value);

// Digest as bytes in a std::string (for protobuf `bytes` fields and SQLite
// blobs), and back.
std::string DigestToBytes(const Digest& digest);
bool DigestFromBytes(std::string_view bytes, Digest* digest);
// First 12 hex characters: enough to correlate log lines, useless to an
// attacker.
std::string DigestPrefixHex(const Digest& digest);

// A new token id: `tok_` + 26 lowercase base32 characters, the first 10 the
// time `now` in milliseconds and the other 16 random (80 bits), so that ids
// of tokens created later sort later (the stores' id indexes then grow at
// their end instead of at random pages). Ids are names, not secrets.
inline constexpr int kTokenIdChars = 26;
absl::StatusOr<std::string> GenerateTokenId(absl::Time now);

}  // namespace tokens

#endif  // COMMON_TOKEN_VALUE_H_
