#include "verifier/revoked_set.h"

#include <algorithm>
#include <limits>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "verifier/record_layout.h"

namespace tokens {
namespace {

using record_layout::FromMicros;
using record_layout::RecordSlots;
using record_layout::ToMicros;

// Ids up to this many bytes (a TokenService id is 30) live in the record;
// longer ones in a side map.
constexpr size_t kInlineIdBytes = 35;

}  // namespace

struct RevokedSet::Impl {
  // One revoked value. Trivially copyable: the vector grows by memcpy.
  struct Record {
    Digest digest;
    int64_t revoke_micros = 0;
    uint32_t heap_pos = 0;  // where this record is in `heap`
    uint8_t id_size = 0;    // RecordSlots' inline id
    char id[kInlineIdBytes];
  };
  static_assert(sizeof(Record) == 80, "keep the record compact");

  // by_digest holds record indices and hashes and compares through the
  // records, so it points back to this Impl, which therefore never moves.
  struct RefHash {
    using is_transparent = void;
    size_t operator()(const Digest& digest) const {
      return DigestHash{}(digest);
    }
    size_t operator()(uint32_t index) const {
      return DigestHash{}(impl->records[index].digest);
    }
    const Impl* impl;
  };
  struct RefEq {
    using is_transparent = void;
    bool operator()(uint32_t a, uint32_t b) const {
      return impl->records[a].digest == impl->records[b].digest;
    }
    bool operator()(const Digest& a, uint32_t b) const {
      return a == impl->records[b].digest;
    }
    bool operator()(uint32_t a, const Digest& b) const {
      return impl->records[a].digest == b;
    }
    const Impl* impl;
  };

  Impl() : by_digest(0, RefHash{this}, RefEq{this}) {}
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // The min-heap of record indices by revoke time.
  bool Older(uint32_t a, uint32_t b) const {
    return records[a].revoke_micros < records[b].revoke_micros;
  }
  void Place(size_t pos, uint32_t index) {
    heap[pos] = index;
    records[index].heap_pos = static_cast<uint32_t>(pos);
  }
  void SiftUp(size_t pos) {
    const uint32_t index = heap[pos];
    while (pos > 0) {
      const size_t parent = (pos - 1) / 2;
      if (!Older(index, heap[parent])) break;
      Place(pos, heap[parent]);
      pos = parent;
    }
    Place(pos, index);
  }
  void SiftDown(size_t pos) {
    const uint32_t index = heap[pos];
    const size_t n = heap.size();
    while (true) {
      size_t child = 2 * pos + 1;
      if (child >= n) break;
      if (child + 1 < n && Older(heap[child + 1], heap[child])) ++child;
      if (!Older(heap[child], index)) break;
      Place(pos, heap[child]);
      pos = child;
    }
    Place(pos, index);
  }
  void Remove(uint32_t index) {
    by_digest.erase(index);  // before the record goes: the set hashes it
    const size_t pos = records[index].heap_pos;
    const uint32_t last = heap.back();
    heap.pop_back();
    if (last != index) {
      Place(pos, last);
      SiftUp(pos);
      SiftDown(records[last].heap_pos);
    }
    records.Free(index);
  }

  RecordSlots<Record> records;
  std::vector<uint32_t> heap;
  absl::flat_hash_set<uint32_t, RefHash, RefEq> by_digest;
  uint64_t evicted = 0;
};

RevokedSet::RevokedSet(size_t max_values)
    : max_values_(
          std::min<size_t>(max_values, std::numeric_limits<uint32_t>::max())),
      impl_(std::make_unique<Impl>()) {}

RevokedSet::~RevokedSet() = default;
RevokedSet::RevokedSet(RevokedSet&& other) noexcept = default;
RevokedSet& RevokedSet::operator=(RevokedSet&& other) noexcept = default;

void RevokedSet::Insert(const RevokedValue& value) {
  if (max_values_ == 0) return;
  if (impl_ == nullptr) impl_ = std::make_unique<Impl>();
  Impl& s = *impl_;
  const int64_t micros = ToMicros(value.revoke_time);
  if (auto it = s.by_digest.find(value.digest); it != s.by_digest.end()) {
    const uint32_t index = *it;
    s.records.SetId(index, value.token_id);
    s.records[index].revoke_micros = micros;
    const size_t pos = s.records[index].heap_pos;
    s.SiftUp(pos);
    s.SiftDown(s.records[index].heap_pos);
    return;
  }
  if (s.heap.size() >= max_values_) {
    ++s.evicted;
    // Older than everything held: it would be the first to go.
    if (micros < s.records[s.heap.front()].revoke_micros) return;
    s.Remove(s.heap.front());
  }
  const uint32_t index = s.records.Take();
  Impl::Record& record = s.records[index];
  record.digest = value.digest;
  record.revoke_micros = micros;
  s.records.SetId(index, value.token_id);
  s.by_digest.insert(index);
  s.heap.push_back(index);
  s.SiftUp(s.heap.size() - 1);
}

std::optional<RevokedEntry> RevokedSet::Find(const Digest& digest) const {
  if (impl_ == nullptr) return std::nullopt;
  const Impl& s = *impl_;
  auto it = s.by_digest.find(digest);
  if (it == s.by_digest.end()) return std::nullopt;
  RevokedEntry entry;
  entry.token_id = std::string(s.records.IdOf(*it));
  entry.revoke_time = FromMicros(s.records[*it].revoke_micros);
  return entry;
}

size_t RevokedSet::PruneRevokedBefore(absl::Time cutoff) {
  if (impl_ == nullptr) return 0;
  Impl& s = *impl_;
  const int64_t cutoff_micros = ToMicros(cutoff);
  size_t pruned = 0;
  while (!s.heap.empty() &&
         s.records[s.heap.front()].revoke_micros < cutoff_micros) {
    s.Remove(s.heap.front());
    ++pruned;
  }
  return pruned;
}

size_t RevokedSet::size() const {
  return impl_ == nullptr ? 0 : impl_->heap.size();
}

uint64_t RevokedSet::evicted() const {
  return impl_ == nullptr ? 0 : impl_->evicted;
}

}  // namespace tokens
