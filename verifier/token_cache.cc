#include "verifier/token_cache.h"

#include <algorithm>
#include <utility>

namespace tokens {

void TokenTable::Apply(const CacheChange& change) {
  RemoveToken(change.token_id);
  if (change.type == CacheChange::Type::kDelete) return;

  CachedToken current;
  current.token_id = change.token_id;
  current.deployment_id = change.deployment_id;
  current.expire_time = change.expire_time;
  if (change.previous_digest.has_value() &&
      *change.previous_digest != change.digest) {
    CachedToken previous = current;
    previous.is_previous = true;
    previous.valid_until = change.previous_valid_until;
    Insert(*change.previous_digest, std::move(previous));
  }
  Insert(change.digest, std::move(current));
}

const CachedToken* TokenTable::Find(const Digest& digest) const {
  auto it = by_digest_.find(digest);
  return it == by_digest_.end() ? nullptr : &it->second;
}

void TokenTable::RemoveToken(const std::string& token_id) {
  auto it = digests_by_id_.find(token_id);
  if (it == digests_by_id_.end()) return;
  for (const Digest& digest : it->second) by_digest_.erase(digest);
  digests_by_id_.erase(it);
}

void TokenTable::Insert(const Digest& digest, CachedToken entry) {
  // A digest belongs to one token. Should the feed ever move one to another
  // token id, the old owner must forget it too, or a later delete of the new
  // owner would leave it behind.
  auto existing = by_digest_.find(digest);
  if (existing != by_digest_.end() &&
      existing->second.token_id != entry.token_id) {
    auto owner = digests_by_id_.find(existing->second.token_id);
    if (owner != digests_by_id_.end()) {
      auto& list = owner->second;
      list.erase(std::remove(list.begin(), list.end(), digest), list.end());
      if (list.empty()) digests_by_id_.erase(owner);
    }
  }
  digests_by_id_[entry.token_id].push_back(digest);
  by_digest_.insert_or_assign(digest, std::move(entry));
}

void TokenCache::ReplaceAll(TokenTable table, int64_t revision) {
  TokenTable old;
  {
    absl::MutexLock lock(&mu_);
    old = std::exchange(table_, std::move(table));
    synced_ = true;
    revision_ = revision;
  }
  // `old` is destroyed here, outside the lock, so readers never wait on its
  // deallocation.
}

int TokenCache::ApplyChanges(absl::Span<const CacheChange> changes,
                             int64_t at_revision) {
  absl::MutexLock lock(&mu_);
  int applied = 0;
  for (const CacheChange& change : changes) {
    if (change.revision <= revision_) continue;
    table_.Apply(change);
    revision_ = change.revision;
    ++applied;
  }
  revision_ = std::max(revision_, at_revision);
  return applied;
}

void TokenCache::RecordHeartbeat(absl::Time now) {
  absl::MutexLock lock(&mu_);
  last_heartbeat_ = std::max(last_heartbeat_, now);
}

std::optional<CachedToken> TokenCache::Lookup(const Digest& digest) const {
  absl::ReaderMutexLock lock(&mu_);
  const CachedToken* entry = table_.Find(digest);
  if (entry == nullptr) return std::nullopt;
  return *entry;
}

CacheState TokenCache::state() const {
  absl::ReaderMutexLock lock(&mu_);
  CacheState state;
  state.synced = synced_;
  state.revision = revision_;
  state.last_heartbeat = last_heartbeat_;
  state.token_count = table_.token_count();
  return state;
}

}  // namespace tokens
