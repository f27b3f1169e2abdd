#include "common/token_value.h"

#include <algorithm>

// DigestOf uses SHA256_Init/Update/Final: OpenSSL 3 deprecates them, but its
// one-shot SHA256() looks the algorithm up in the provider store on every call
// (EVP_Q_digest), which costs several times the hash of a token value. Same
// digest, same assembly (SHA extensions where the CPU has them).
#define OPENSSL_API_COMPAT 10101

#include <openssl/rand.h>
#include <openssl/sha.h>
#include <zlib.h>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"

namespace tokens {
namespace {

constexpr std::string_view kBase62 =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

bool IsBase62(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
         (c >= 'a' && c <= 'z');
}

// CRC32 of `data` as exactly 6 base62 characters, most significant first.
void EncodeChecksum(std::string_view data, char out[kTokenChecksumLength]) {
  uint32_t crc = static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(data.data()),
            static_cast<uInt>(data.size())));
  for (int i = kTokenChecksumLength - 1; i >= 0; --i) {
    out[i] = kBase62[crc % 62];
    crc /= 62;
  }
}

}  // namespace

absl::StatusOr<std::string> GenerateTokenValue() {
  std::string value(kTokenPrefix);
  // Rejection sampling keeps every character uniform over 62 symbols: bytes >=
  // 248 are discarded (248 = 4 * 62).
  uint8_t buffer[64];
  while (value.size() < kTokenPrefix.size() + kTokenBodyLength) {
    if (RAND_bytes(buffer, sizeof(buffer)) != 1) {
      return absl::InternalError("CSPRNG unavailable");
    }
    for (uint8_t b : buffer) {
      if (b >= 248) continue;
      value += kBase62[b % 62];
      if (value.size() == kTokenPrefix.size() + kTokenBodyLength) break;
    }
  }
  char checksum[kTokenChecksumLength];
  EncodeChecksum(value, checksum);
  value.append(checksum, kTokenChecksumLength);
  return value;
}

bool IsWellFormedTokenValue(std::string_view value) {
  if (value.size() != kTokenLength) return false;
  if (value.substr(0, kTokenPrefix.size()) != kTokenPrefix) return false;
  for (char c : value.substr(kTokenPrefix.size())) {
    if (!IsBase62(c)) return false;
  }
  char checksum[kTokenChecksumLength];
  EncodeChecksum(value.substr(0, kTokenPrefix.size() + kTokenBodyLength),
                 checksum);
  return value.substr(kTokenPrefix.size() + kTokenBodyLength) ==
         std::string_view(checksum, kTokenChecksumLength);
}

Digest DigestOf(std::string_view value) {
  Digest digest;
  SHA256_CTX context;
  SHA256_Init(&context);
  SHA256_Update(&context, value.data(), value.size());
  SHA256_Final(digest.data(), &context);
  return digest;
}

std::string ShortTokenHint(std::string_view value) {
  if (value.size() < kTokenPrefix.size() + 8) return std::string(kTokenPrefix);
  return std::string(value.substr(0, kTokenPrefix.size() + 4)) + "\u2026" +
         std::string(value.substr(value.size() - 4));
}

std::string DigestToBytes(const Digest& digest) {
  return std::string(reinterpret_cast<const char*>(digest.data()),
                     digest.size());
}

bool DigestFromBytes(std::string_view bytes, Digest* digest) {
  if (bytes.size() != digest->size()) return false;
  std::copy(bytes.begin(), bytes.end(), digest->begin());
  return true;
}

std::string DigestPrefixHex(const Digest& digest) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest.data()), 6));
}

absl::StatusOr<std::string> GenerateTokenId(absl::Time now) {
  // The same 32 characters as before, in byte order, so that ids sort by
  // their time part.
  constexpr std::string_view kBase32 = "234567abcdefghijklmnopqrstuvwxyz";
  constexpr int kTimeChars = 10;  // 50 bits of milliseconds: until year 37648
  uint8_t random[kTokenIdChars - kTimeChars];
  if (RAND_bytes(random, sizeof(random)) != 1) {
    return absl::InternalError("CSPRNG unavailable");
  }
  const uint64_t millis =
      static_cast<uint64_t>(std::max<int64_t>(absl::ToUnixMillis(now), 0));
  std::string id = "tok_";
  for (int i = kTimeChars - 1; i >= 0; --i) {
    id += kBase32[(millis >> (5 * i)) & 31];
  }
  for (uint8_t b : random) id += kBase32[b % 32];  // 16 * 5 = 80 bits.
  return id;
}

}  // namespace tokens
