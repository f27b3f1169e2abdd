// PageTokenCodec: opaque, tamper-safe page tokens. A token is base64url(payload
// || tag) where tag is the first 16 bytes of HMAC-SHA256(key, payload); a token
// that was altered, forged or made for another listing fails to decode.
// Thread-safe. Replicas on one database share the key (ClusterSync reads it
// from the database and SetKey()s it), so a page token from one replica works
// on another.
#ifndef SERVICES_PAGE_TOKEN_H_
#define SERVICES_PAGE_TOKEN_H_

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "storage/token_store.h"

namespace tokens {

// What a ListTokens page token was made for: it continues only the same
// listing (Deployment, order and filter).
struct TokenListing {
  std::string deployment_id;
  TokenOrder order = TokenOrder::kCreateTime;
  absl::Time expire_before = absl::InfiniteFuture();
};

class PageTokenCodec {
 public:
  // `key` should be at least 32 random bytes, kept across restarts so that page
  // tokens stay valid (TokenServer keeps it in the data directory).
  explicit PageTokenCodec(std::string key) : key_(std::move(key)) {}

  // Replaces the key: tokens made with the old one no longer decode.
  void SetKey(std::string key) {
    absl::MutexLock lock(&mu_);
    key_ = std::move(key);
  }

  // ListTokens of `listing`, continuing after `after`.
  std::string EncodeTokenPage(const TokenListing& listing,
                              const ListCursor& after) const;
  // InvalidArgument naming page_token when the token is not one of ours or
  // was made for another listing (another Deployment, order or
  // expire_before, the audit log).
  absl::StatusOr<ListCursor> DecodeTokenPage(const std::string& token,
                                             const TokenListing& listing) const;

  // ListAuditEvents of `deployment_id`, continuing below audit id
  // `before_id`.
  std::string EncodeAuditPage(const std::string& deployment_id,
                              int64_t before_id) const;
  absl::StatusOr<int64_t> DecodeAuditPage(
      const std::string& token, const std::string& deployment_id) const;

  // The signed envelope around any payload.
  std::string Encode(const std::string& payload) const;
  // The payload; InvalidArgument naming `page_token` when the token is not one
  // of ours.
  absl::StatusOr<std::string> Decode(const std::string& token) const;

 private:
  std::string Tag(const std::string& payload) const;
  mutable absl::Mutex mu_;
  std::string key_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tokens

#endif  // SERVICES_PAGE_TOKEN_H_
