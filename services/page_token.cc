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

// A time as a page token holds it: Unix microseconds, or "past"/"future" for
// the infinite ones.
std::string TimeField(absl::Time t) {
  if (t == absl::InfinitePast()) return "past";
  if (t == absl::InfiniteFuture()) return "future";
  return absl::StrCat(absl::ToUnixMicros(t));
}

bool ParseTimeField(absl::string_view field, absl::Time* out) {
  if (field == "past") {
    *out = absl::InfinitePast();
    return true;
  }
  if (field == "future") {
    *out = absl::InfiniteFuture();
    return true;
  }
  int64_t micros = 0;
  if (!absl::SimpleAtoi(field, &micros)) return false;
  *out = absl::FromUnixMicros(micros);
  return true;
}

// The listing's part of a token page payload.
std::string ListingFields(const TokenListing& listing) {
  return absl::StrCat(listing.deployment_id, "|",
                      static_cast<int>(listing.order), "|",
                      TimeField(listing.expire_before));
}

}  // namespace

// Payloads: "tokens|<deployment>|<order>|<expire_before>|<key time>|<key
// name, base64url>|<id>" and "audit|<deployment>|<before_id>". Deployment
// and token ids hold no '|'; a name may, hence its encoding.
std::string PageTokenCodec::EncodeTokenPage(const TokenListing& listing,
                                            const ListCursor& after) const {
  return Encode(absl::StrCat(
      "tokens|", ListingFields(listing), "|", TimeField(after.time), "|",
      absl::WebSafeBase64Escape(after.name), "|", after.id));
}

absl::StatusOr<ListCursor> PageTokenCodec::DecodeTokenPage(
    const std::string& token, const TokenListing& listing) const {
  absl::StatusOr<std::string> payload = Decode(token);
  if (!payload.ok()) return payload.status();
  std::vector<std::string> parts = absl::StrSplit(*payload, '|');
  ListCursor cursor;
  if (parts.size() != 7 || parts[0] != "tokens" ||
      absl::StrCat(parts[1], "|", parts[2], "|", parts[3]) !=
          ListingFields(listing) ||
      !ParseTimeField(parts[4], &cursor.time) ||
      !absl::WebSafeBase64Unescape(parts[5], &cursor.name)) {
    return NotThisListing();
  }
  cursor.id = parts[6];
  return cursor;
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
