// Fuzzes the change-event apply path: the input is a sequence of
// tokens.v1.WatchTokensResponse messages (each preceded by one length byte)
// handed to FeedClient::HandleMessage, exactly as the stream delivers them.
// Invariants: the cache's revision never goes backwards; a cache that was not
// synced becomes synced only through a complete snapshot; every digest found
// maps to a token that still lists it; the revoked values stay within their
// bound, and a digest is answered from them only when the live table lacks
// it.
#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "common/clock.h"
#include "common/fake_clock.h"
#include "proto/tokens/v1/tokens.pb.h"
#include "verifier/feed_client.h"
#include "verifier/metrics.h"
#include "verifier/token_cache.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::shared_ptr<grpc::Channel> channel = grpc::CreateChannel(
      "127.0.0.1:1", grpc::InsecureChannelCredentials());  // never used
  tokens::FakeClock clock(absl::FromUnixSeconds(1700000000));
  // A small bound, so that inputs reach eviction.
  tokens::TokenCache cache(tokens::RevokedOptions{8, absl::Hours(1)});
  tokens::Metrics metrics;
  tokens::FeedClient feed(channel, {}, &cache, &metrics, &clock, &clock);

  int64_t revision = 0;
  size_t at = 0;
  while (at < size) {
    const size_t length = data[at++];
    const size_t take = length < size - at ? length : size - at;
    tokens::v1::WatchTokensResponse message;
    if (message.ParseFromArray(data + at, static_cast<int>(take))) {
      const bool was_synced = cache.state().synced;
      const bool completes =
          message.kind() == tokens::v1::WatchTokensResponse::SNAPSHOT &&
          message.snapshot_complete();
      feed.HandleMessage(message);
      const tokens::CacheState state = cache.state();
      if (!was_synced && state.synced && !completes) std::abort();
      // A snapshot may move the revision anywhere (the service restarted from
      // scratch); changes never move it back.
      if (!completes && state.revision < revision) std::abort();
      revision = state.revision;
      if (state.revoked_count > 8) std::abort();
      for (const tokens::v1::RevokedValue& value : message.revoked()) {
        tokens::Digest digest;
        if (!tokens::DigestFromBytes(value.digest(), &digest)) continue;
        const tokens::CacheLookup found = cache.LookupWithRevoked(digest);
        if (found.token.has_value() && found.revoked.has_value()) {
          std::abort();
        }
      }
      for (const tokens::v1::TokenChange& change : message.changes()) {
        tokens::Digest digest;
        if (!tokens::DigestFromBytes(change.secret_digest(), &digest)) {
          continue;
        }
        const auto found = cache.Lookup(digest);
        if (found.has_value() && found->token_id.empty() &&
            !change.token_id().empty()) {
          std::abort();
        }
      }
    }
    at += take;
  }
  return 0;
}
