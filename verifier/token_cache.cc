#include "verifier/token_cache.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"

namespace tokens {
namespace {

using record_layout::FromMicros;
using record_layout::kMicrosNever;
using record_layout::RecordSlots;
using record_layout::ToMicros;

// Ids up to this many bytes (a TokenService id is 30) live in the record;
// longer ones in a side map.
constexpr size_t kInlineIdBytes = 34;

size_t DefaultIdHash(std::string_view id) {
  return absl::Hash<absl::string_view>{}(
      absl::string_view(id.data(), id.size()));
}

}  // namespace

struct TokenTable::Impl {
  // One token. Trivially copyable: the vector grows by memcpy.
  struct Record {
    Digest digest;  // the current value's, when has_current
    int64_t expire_micros = kMicrosNever;
    uint32_t deployment = 0;  // index into deployment_names
    uint8_t id_size = 0;      // RecordSlots' inline id
    // False only when the current digest moved to another token and the
    // rotated-away one is still in its grace period.
    bool has_current = false;
    char id[kInlineIdBytes];
  };
  static_assert(sizeof(Record) == 80, "keep the record compact");

  // A value rotated away and still valid until valid_until_micros.
  struct Previous {
    Digest digest;
    int64_t valid_until_micros;
  };

  // The sets below hold references to records: a record index for by_id, and
  // (index << 1 | is_previous) for by_digest. They hash and compare through
  // the records, so they point back to this Impl, which therefore never moves.
  static uint32_t CurrentRef(uint32_t index) { return index << 1; }
  static uint32_t PreviousRef(uint32_t index) { return index << 1 | 1; }

  struct DigestRefHash {
    using is_transparent = void;
    size_t operator()(const Digest& digest) const {
      return DigestHash{}(digest);
    }
    size_t operator()(uint32_t ref) const {
      return DigestHash{}(impl->DigestOfRef(ref));
    }
    const Impl* impl;
  };
  struct DigestRefEq {
    using is_transparent = void;
    bool operator()(uint32_t a, uint32_t b) const {
      return impl->DigestOfRef(a) == impl->DigestOfRef(b);
    }
    bool operator()(const Digest& a, uint32_t b) const {
      return a == impl->DigestOfRef(b);
    }
    bool operator()(uint32_t a, const Digest& b) const {
      return impl->DigestOfRef(a) == b;
    }
    const Impl* impl;
  };
  struct IdRefHash {
    using is_transparent = void;
    size_t operator()(std::string_view id) const { return impl->id_hash(id); }
    size_t operator()(uint32_t index) const {
      return impl->id_hash(impl->IdOf(index));
    }
    const Impl* impl;
  };
  struct IdRefEq {
    using is_transparent = void;
    bool operator()(uint32_t a, uint32_t b) const {
      return impl->IdOf(a) == impl->IdOf(b);
    }
    bool operator()(std::string_view a, uint32_t b) const {
      return a == impl->IdOf(b);
    }
    bool operator()(uint32_t a, std::string_view b) const {
      return impl->IdOf(a) == b;
    }
    const Impl* impl;
  };

  explicit Impl(TokenIdHash hash)
      : id_hash(hash),
        by_digest(0, DigestRefHash{this}, DigestRefEq{this}),
        by_id(0, IdRefHash{this}, IdRefEq{this}) {}
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  const Digest& DigestOfRef(uint32_t ref) const {
    const uint32_t index = ref >> 1;
    return (ref & 1) != 0 ? previous.at(index).digest : records[index].digest;
  }

  std::string_view IdOf(uint32_t index) const { return records.IdOf(index); }

  uint32_t InternDeployment(const std::string& deployment_id) {
    auto [it, inserted] = deployment_index.try_emplace(deployment_id, 0);
    if (!inserted) {
      ++deployment_refs[it->second];
      return it->second;
    }
    uint32_t index;
    if (!free_deployments.empty()) {
      index = free_deployments.back();
      free_deployments.pop_back();
      deployment_names[index] = deployment_id;
      deployment_refs[index] = 1;
    } else {
      index = static_cast<uint32_t>(deployment_names.size());
      deployment_names.push_back(deployment_id);
      deployment_refs.push_back(1);
    }
    it->second = index;
    return index;
  }

  void ReleaseDeployment(uint32_t index) {
    if (--deployment_refs[index] > 0) return;
    deployment_index.erase(deployment_names[index]);
    std::string().swap(deployment_names[index]);
    free_deployments.push_back(index);
  }

  // A record for a token not held yet, without digests, in by_id.
  uint32_t NewRecord(const TokenChange& change) {
    const uint32_t index = records.Take();
    Record& record = records[index];
    record.expire_micros = ToMicros(change.expire_time);
    record.deployment = InternDeployment(change.deployment_id);
    records.SetId(index, change.token_id);
    by_id.insert(index);
    return index;
  }

  // Forgets a record that holds no digest any more.
  void FreeRecord(uint32_t index) {
    by_id.erase(index);  // before the id goes: the set hashes through it
    ReleaseDeployment(records[index].deployment);
    records.Free(index);
  }

  void RemoveToken(std::string_view token_id) {
    auto it = by_id.find(token_id);
    if (it == by_id.end()) return;
    const uint32_t index = *it;
    if (records[index].has_current) by_digest.erase(records[index].digest);
    auto previous_it = previous.find(index);
    if (previous_it != previous.end()) {
      by_digest.erase(previous_it->second.digest);
      previous.erase(previous_it);
    }
    FreeRecord(index);
  }

  // A digest belongs to one token. Should the feed ever move one to another
  // token id, the old owner must forget it too (and is forgotten when it has
  // no digest left), or a later delete of the new owner would leave it behind.
  void Claim(const Digest& digest) {
    auto it = by_digest.find(digest);
    if (it == by_digest.end()) return;
    const uint32_t ref = *it;
    const uint32_t owner = ref >> 1;
    by_digest.erase(it);
    if ((ref & 1) != 0) {
      previous.erase(owner);
    } else {
      records[owner].has_current = false;
    }
    if (!records[owner].has_current && !previous.contains(owner)) {
      FreeRecord(owner);
    }
  }

  TokenIdHash id_hash;
  RecordSlots<Record> records;
  absl::flat_hash_map<uint32_t, Previous> previous;

  // Deployment ids, interned and counted by the records that use them.
  std::vector<std::string> deployment_names;
  std::vector<uint32_t> deployment_refs;
  std::vector<uint32_t> free_deployments;
  absl::flat_hash_map<std::string, uint32_t> deployment_index;

  absl::flat_hash_set<uint32_t, DigestRefHash, DigestRefEq> by_digest;
  absl::flat_hash_set<uint32_t, IdRefHash, IdRefEq> by_id;
};

TokenTable::TokenTable(TokenIdHash id_hash)
    : id_hash_(id_hash != nullptr ? id_hash : &DefaultIdHash),
      impl_(std::make_unique<Impl>(id_hash_)) {}

TokenTable::~TokenTable() = default;
TokenTable::TokenTable(TokenTable&& other) noexcept = default;
TokenTable& TokenTable::operator=(TokenTable&& other) noexcept = default;

void TokenTable::Apply(const TokenChange& change) {
  if (impl_ == nullptr) impl_ = std::make_unique<Impl>(id_hash_);
  Impl& t = *impl_;
  t.RemoveToken(change.token_id);
  if (change.type == TokenChange::Type::kDelete) return;

  const uint32_t index = t.NewRecord(change);
  if (change.previous_digest.has_value() &&
      *change.previous_digest != change.digest) {
    t.Claim(*change.previous_digest);
    t.previous[index] = Impl::Previous{*change.previous_digest,
                                       ToMicros(change.previous_valid_until)};
    t.by_digest.insert(Impl::PreviousRef(index));
  }
  t.Claim(change.digest);
  t.records[index].digest = change.digest;
  t.records[index].has_current = true;
  t.by_digest.insert(Impl::CurrentRef(index));
}

std::optional<CachedToken> TokenTable::Find(const Digest& digest) const {
  if (impl_ == nullptr) return std::nullopt;
  const Impl& t = *impl_;
  auto it = t.by_digest.find(digest);
  if (it == t.by_digest.end()) return std::nullopt;
  const uint32_t index = *it >> 1;
  const Impl::Record& record = t.records[index];
  CachedToken token;
  token.token_id = std::string(t.IdOf(index));
  token.deployment_id = t.deployment_names[record.deployment];
  token.expire_time = FromMicros(record.expire_micros);
  if ((*it & 1) != 0) {
    token.is_previous = true;
    token.valid_until = FromMicros(t.previous.at(index).valid_until_micros);
  }
  return token;
}

size_t TokenTable::token_count() const {
  return impl_ == nullptr ? 0 : impl_->by_id.size();
}

size_t TokenTable::digest_count() const {
  return impl_ == nullptr ? 0 : impl_->by_digest.size();
}

TokenCache::TokenCache(RevokedOptions revoked)
    : options_(revoked), revoked_(options_.max_values) {}

void TokenCache::ReplaceAll(TokenTable table, RevokedSet revoked,
                            int64_t revision) {
  TokenTable old;
  RevokedSet old_revoked(0);
  {
    absl::MutexLock lock(&mu_);
    old = std::exchange(table_, std::move(table));
    old_revoked = std::exchange(revoked_, std::move(revoked));
    // A counter: evictions of the sets swapped out still count.
    revoked_evicted_before_ += old_revoked.evicted();
    synced_ = true;
    revision_ = revision;
  }
  // `old` and `old_revoked` are destroyed here, outside the lock, so readers
  // never wait on their deallocation.
}

void TokenCache::ReplaceAll(TokenTable table, int64_t revision) {
  ReplaceAll(std::move(table), NewRevokedSet(), revision);
}

int TokenCache::ApplyChanges(absl::Span<const TokenChange> changes,
                             int64_t at_revision) {
  absl::MutexLock lock(&mu_);
  int applied = 0;
  for (const TokenChange& change : changes) {
    if (change.revision <= revision_) continue;
    table_.Apply(change);
    for (const RevokedValue& value : change.revoked) revoked_.Insert(value);
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

size_t TokenCache::PruneRevoked(absl::Time now) {
  absl::MutexLock lock(&mu_);
  return revoked_.PruneRevokedBefore(now - options_.retention);
}

std::optional<CachedToken> TokenCache::Lookup(const Digest& digest) const {
  absl::ReaderMutexLock lock(&mu_);
  return table_.Find(digest);
}

CacheLookup TokenCache::LookupWithRevoked(const Digest& digest) const {
  CacheLookup result;
  absl::ReaderMutexLock lock(&mu_);
  result.token = table_.Find(digest);
  if (!result.token.has_value()) result.revoked = revoked_.Find(digest);
  return result;
}

CacheState TokenCache::state() const {
  absl::ReaderMutexLock lock(&mu_);
  CacheState state;
  state.synced = synced_;
  state.revision = revision_;
  state.last_heartbeat = last_heartbeat_;
  state.token_count = table_.token_count();
  state.revoked_count = revoked_.size();
  state.revoked_evicted = revoked_evicted_before_ + revoked_.evicted();
  return state;
}

}  // namespace tokens
