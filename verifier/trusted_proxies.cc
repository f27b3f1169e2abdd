#include "verifier/trusted_proxies.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tokens {
namespace {

// `address` as 16 bytes (IPv4 mapped into ::ffff:0:0/96), or nullopt.
std::optional<std::array<uint8_t, 16>> ParseAddress(std::string_view address) {
  const std::string text(address);
  std::array<uint8_t, 16> bytes{};
  in_addr v4;
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    bytes[10] = 0xff;
    bytes[11] = 0xff;
    std::memcpy(bytes.data() + 12, &v4, 4);
    return bytes;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    std::memcpy(bytes.data(), &v6, 16);
    return bytes;
  }
  return std::nullopt;
}

bool IsMappedV4(const std::array<uint8_t, 16>& bytes) {
  static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0,    0,
                                          0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(bytes.data(), kPrefix, 12) == 0;
}

}  // namespace

absl::StatusOr<TrustedProxies> TrustedProxies::Parse(std::string_view cidrs) {
  TrustedProxies proxies;
  for (absl::string_view entry :
       absl::StrSplit(absl::string_view(cidrs.data(), cidrs.size()), ',',
                      absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    absl::string_view address = entry;
    absl::string_view bits_text;
    if (const size_t slash = entry.find('/'); slash != entry.npos) {
      address = entry.substr(0, slash);
      bits_text = entry.substr(slash + 1);
    }
    auto bad = [&] {
      return absl::InvalidArgumentError(absl::StrCat(
          "--trusted-proxies: \"", entry,
          "\" is not an IP address or CIDR (e.g. 10.0.0.0/8, ::1/128)"));
    };
    std::optional<std::array<uint8_t, 16>> bytes =
        ParseAddress(std::string_view(address.data(), address.size()));
    if (!bytes.has_value()) return bad();
    const bool v4 = address.find(':') == address.npos;
    int bits = v4 ? 32 : 128;
    if (!bits_text.empty() || entry.find('/') != entry.npos) {
      if (!absl::SimpleAtoi(bits_text, &bits) || bits < 0 ||
          bits > (v4 ? 32 : 128)) {
        return bad();
      }
    }
    Range range;
    range.prefix = *bytes;
    range.bits = v4 ? bits + 96 : bits;
    range.v4 = v4;
    proxies.ranges_.push_back(range);
  }
  return proxies;
}

bool TrustedProxies::Contains(std::string_view address) const {
  std::optional<std::array<uint8_t, 16>> bytes = ParseAddress(address);
  if (!bytes.has_value()) return false;
  for (const Range& range : ranges_) {
    // An IPv4 range matches only IPv4 (and IPv4-mapped) addresses, an IPv6
    // range only IPv6 ones.
    if (range.v4 != IsMappedV4(*bytes)) continue;
    const int full = range.bits / 8;
    const int rest = range.bits % 8;
    if (std::memcmp(range.prefix.data(), bytes->data(), full) != 0) continue;
    if (rest != 0) {
      const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
      if ((range.prefix[full] & mask) != ((*bytes)[full] & mask)) continue;
    }
    return true;
  }
  return false;
}

std::string TrustedProxies::EndClient(std::string_view peer_host,
                                      std::string_view forwarded) const {
  if (!Contains(peer_host)) return std::string(peer_host);
  std::vector<absl::string_view> entries = absl::StrSplit(
      absl::string_view(forwarded.data(), forwarded.size()), ',');
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    std::string address =
        ForwardedAddress(std::string_view(it->data(), it->size()));
    if (address.empty()) return {};  // a hop we cannot read: stop believing
    if (!Contains(address)) return address;
  }
  return {};
}

std::string ForwardedAddress(std::string_view entry) {
  absl::string_view text =
      absl::StripAsciiWhitespace(absl::string_view(entry.data(), entry.size()));
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
    text = text.substr(1, text.size() - 2);
  }
  if (absl::ConsumePrefix(&text, "[")) {
    const size_t close = text.find(']');
    if (close == text.npos) return {};
    text = text.substr(0, close);
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    text = text.substr(0, text.find(':'));  // v4:port
  }
  const std::string address(text);
  return ParseAddress(address).has_value() ? address : std::string();
}

}  // namespace tokens
