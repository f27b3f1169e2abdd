// The encodings TokenTable and RevokedSet share to keep a record per value
// compact: a digest's hash, times as microseconds, records in one vector with
// ids inline up to a size (RecordSlots).
// Pure functions and constants, thread-safe.
#ifndef VERIFIER_RECORD_LAYOUT_H_
#define VERIFIER_RECORD_LAYOUT_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "common/token_value.h"

namespace tokens {

// Hashes a digest by its first 8 bytes: a SHA-256 output is already uniformly
// distributed.
struct DigestHash {
  size_t operator()(const Digest& digest) const {
    uint64_t h;
    std::memcpy(&h, digest.data(), sizeof(h));
    return static_cast<size_t>(h);
  }
};

namespace record_layout {

// A record's id size that means "too long to be inline: in a side map".
inline constexpr uint8_t kLongId = 0xFF;

inline constexpr int64_t kMicrosNever = std::numeric_limits<int64_t>::max();
inline constexpr int64_t kMicrosAlways = std::numeric_limits<int64_t>::min();

// Rounds down, so that an expiry, a grace end or a revocation never moves
// later. The infinities map to the ends of the range.
inline int64_t ToMicros(absl::Time t) {
  if (t == absl::InfiniteFuture()) return kMicrosNever;
  if (t == absl::InfinitePast()) return kMicrosAlways;
  return absl::ToUnixMicros(t);
}

inline absl::Time FromMicros(int64_t micros) {
  if (micros == kMicrosNever) return absl::InfiniteFuture();
  if (micros == kMicrosAlways) return absl::InfinitePast();
  return absl::FromUnixMicros(micros);
}

// A table's records in one vector, by index, a freed index taken again
// first, with each record's id: inline in the record (its `char id[N]` and
// `uint8_t id_size` members) up to N bytes, else in a side map by index.
// `Record` is trivially copyable, so the vector grows by memcpy. Not
// thread-safe.
template <typename Record>
class RecordSlots {
 public:
  static constexpr size_t kInlineIdBytes = sizeof(Record::id);
  static_assert(kInlineIdBytes < kLongId, "kLongId must not be a valid size");

  Record& operator[](uint32_t index) { return records_[index]; }
  const Record& operator[](uint32_t index) const { return records_[index]; }

  // The index of a new Record{}.
  uint32_t Take() {
    uint32_t index;
    if (!free_.empty()) {
      index = free_.back();
      free_.pop_back();
    } else {
      index = static_cast<uint32_t>(records_.size());
      records_.emplace_back();
    }
    records_[index] = Record{};
    return index;
  }

  // Frees `index` (and its id) for a later Take.
  void Free(uint32_t index) {
    if (records_[index].id_size == kLongId) long_ids_.erase(index);
    records_[index] = Record{};
    free_.push_back(index);
  }

  std::string_view IdOf(uint32_t index) const {
    const Record& record = records_[index];
    if (record.id_size == kLongId) return long_ids_.at(index);
    return std::string_view(record.id, record.id_size);
  }

  void SetId(uint32_t index, std::string_view id) {
    Record& record = records_[index];
    if (record.id_size == kLongId) long_ids_.erase(index);
    if (id.size() <= kInlineIdBytes) {
      record.id_size = static_cast<uint8_t>(id.size());
      std::copy(id.begin(), id.end(), record.id);
    } else {
      record.id_size = kLongId;
      long_ids_[index] = std::string(id);
    }
  }

 private:
  std::vector<Record> records_;
  std::vector<uint32_t> free_;
  absl::flat_hash_map<uint32_t, std::string> long_ids_;
};

}  // namespace record_layout
}  // namespace tokens

#endif  // VERIFIER_RECORD_LAYOUT_H_
