#include "common/peer_throttle.h"

#include <algorithm>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"

namespace tokens {

std::string PeerHost(std::string_view peer) {
  for (std::string_view scheme : {"ipv4:", "ipv6:"}) {
    if (peer.substr(0, scheme.size()) == scheme) {
      peer.remove_prefix(scheme.size());
      break;
    }
  }
  std::string host(peer);
  // gRPC may percent-encode the brackets of an IPv6 address.
  for (auto [encoded, plain] :
       {std::pair<std::string_view, char>{"%5B", '['}, {"%5D", ']'}}) {
    for (size_t at = host.find(encoded); at != std::string::npos;
         at = host.find(encoded)) {
      host.replace(at, encoded.size(), 1, plain);
    }
  }
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    if (close != std::string::npos) return host.substr(1, close - 1);
    return host;
  }
  // IPv4 with a port has exactly one colon; a bare IPv6 address has several.
  const size_t colon = host.find(':');
  if (colon != std::string::npos &&
      host.find(':', colon + 1) == std::string::npos) {
    host.resize(colon);
  }
  return host;
}

PeerThrottle::PeerThrottle(PeerThrottleOptions options, const Clock* clock)
    : options_(options),
      max_per_shard_(std::max<size_t>(1, options.max_peers / kShards)),
      clock_(clock) {}

PeerThrottle::Shard& PeerThrottle::ShardOf(std::string_view peer) {
  return shards_[absl::Hash<absl::string_view>()(
                     absl::string_view(peer.data(), peer.size())) %
                 kShards];
}

void PeerThrottle::Refill(Entry& entry, absl::Time now) const {
  if (now > entry.updated) {
    entry.tokens =
        std::min(options_.burst,
                 entry.tokens + absl::ToDoubleSeconds(now - entry.updated) *
                                    options_.refill_per_second);
    entry.updated = now;
  }
}

bool PeerThrottle::Allow(std::string_view peer) {
  Shard& shard = ShardOf(peer);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.peers.find(absl::string_view(peer.data(), peer.size()));
  if (it == shard.peers.end()) return true;
  Refill(it->second, clock_->Now());
  if (it->second.tokens >= 1) return true;
  throttled_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void PeerThrottle::ChargeFailure(std::string_view peer) {
  const absl::Time now = clock_->Now();
  Shard& shard = ShardOf(peer);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.peers.find(absl::string_view(peer.data(), peer.size()));
  if (it == shard.peers.end()) {
    if (shard.peers.size() >= max_per_shard_) {
      shard.peers.erase(shard.order.back());
      shard.order.pop_back();
    }
    shard.order.emplace_front(peer);
    it = shard.peers
             .emplace(shard.order.front(),
                      Entry{options_.burst, now, shard.order.begin()})
             .first;
  } else {
    shard.order.splice(shard.order.begin(), shard.order, it->second.lru);
  }
  Refill(it->second, now);
  it->second.tokens = std::max(0.0, it->second.tokens - 1);
}

size_t PeerThrottle::tracked_peers() const {
  size_t total = 0;
  for (const Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    total += shard.peers.size();
  }
  return total;
}

}  // namespace tokens
