#include "services/page_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tokens {
namespace {
constexpr size_t kTagBytes = 16;
}  // namespace

std::string PageTokenCodec::Tag(const std::string& payload) const {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_length = 0;
  absl::ReaderMutexLock lock(&mu_);
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

namespace {

absl::Status NotThisListing() {
  return absl::InvalidArgumentError(
      "page_token: does not belong to this listing");
}

}  // namespace

// Payloads: "tokens|<deployment>|<create_time micros>|<id>" and
// "audit|<deployment>|<before_id>". Deployment ids hold no '|'.
std::string PageTokenCodec::EncodeTokenPage(const std::string& deployment_id,
                                            const ListCursor& after) const {
  return Encode(absl::StrCat("tokens|", deployment_id, "|",
                             absl::ToUnixMicros(after.create_time), "|",
                             after.id));
}

absl::StatusOr<ListCursor> PageTokenCodec::DecodeTokenPage(
    const std::string& token, const std::string& deployment_id) const {
  absl::StatusOr<std::string> payload = Decode(token);
  if (!payload.ok()) return payload.status();
  std::vector<std::string> parts = absl::StrSplit(*payload, '|');
  int64_t micros = 0;
  if (parts.size() != 4 || parts[0] != "tokens" || parts[1] != deployment_id ||
      !absl::SimpleAtoi(parts[2], &micros)) {
    return NotThisListing();
  }
  return ListCursor{absl::FromUnixMicros(micros), parts[3]};
}

std::string PageTokenCodec::EncodeAuditPage(const std::string& deployment_id,
                                            int64_t before_id) const {
  return Encode(absl::StrCat("audit|", deployment_id, "|", before_id));
}

absl::StatusOr<int64_t> PageTokenCodec::DecodeAuditPage(
    const std::string& token, const std::string& deployment_id) const {
  absl::StatusOr<std::string> payload = Decode(token);
  if (!payload.ok()) return payload.status();
  std::vector<std::string> parts = absl::StrSplit(*payload, '|');
  int64_t before_id = 0;
  if (parts.size() != 3 || parts[0] != "audit" || parts[1] != deployment_id ||
      !absl::SimpleAtoi(parts[2], &before_id)) {
    return NotThisListing();
  }
  return before_id;
}

}  // namespace tokens
