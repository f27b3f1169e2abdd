#include "services/page_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "absl/strings/escaping.h"

namespace tokens {
namespace {
constexpr size_t kTagBytes = 16;
}  // namespace

std::string PageTokenCodec::Tag(const std::string& payload) const {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_length = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(payload.data()), payload.size(),
       mac, &mac_length);
  return std::string(reinterpret_cast<const char*>(mac), kTagBytes);
}

std::string PageTokenCodec::Encode(const std::string& payload) const {
  std::string out;
  absl::WebSafeBase64Escape(payload + Tag(payload), &out);
  return out;
}

absl::StatusOr<std::string> PageTokenCodec::Decode(
    const std::string& token) const {
  std::string raw;
  if (token.size() > 4096 || !absl::WebSafeBase64Unescape(token, &raw) ||
      raw.size() < kTagBytes) {
    return absl::InvalidArgumentError("page_token: not a valid page token");
  }
  std::string payload = raw.substr(0, raw.size() - kTagBytes);
  std::string tag = Tag(payload);
  if (CRYPTO_memcmp(tag.data(), raw.data() + payload.size(), kTagBytes) != 0) {
    return absl::InvalidArgumentError("page_token: not a valid page token");
  }
  return payload;
}

}  // namespace tokens
