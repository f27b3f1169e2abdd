#include "cli/output.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tokens::cli {
namespace {

std::string Plural(int64_t n, const char* unit) {
  return absl::StrCat(n, " ", unit, n == 1 ? "" : "s");
}

// Display width of UTF-8 text: code points, not bytes (names may be UTF-8).
size_t Width(const std::string& text) {
  size_t width = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) ++width;
  }
  return width;
}

std::string OrDash(const std::string& text) {
  return text.empty() ? std::string("-") : text;
}

}  // namespace

absl::StatusOr<OutputFormat> ParseOutputFormat(
    const std::string& text, const std::vector<std::string>& allowed) {
  if (std::find(allowed.begin(), allowed.end(), text) != allowed.end()) {
    if (text == "table") return OutputFormat::kTable;
    if (text == "json") return OutputFormat::kJson;
    if (text == "value") return OutputFormat::kValue;
    if (text == "id") return OutputFormat::kId;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("-o must be one of: ", absl::StrJoin(allowed, ", ")));
}

std::string Rfc3339(absl::Time time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", time, absl::UTCTimeZone());
}

std::string RelativeTime(absl::Time time, absl::Time now) {
  const absl::Duration delta = time - now;
  const absl::Duration size = absl::AbsDuration(delta);
  std::string amount;
  if (size < absl::Seconds(45))
    return delta > absl::ZeroDuration() ? "in a few seconds" : "just now";
  auto rounded = [&](absl::Duration unit) {
    return static_cast<int64_t>(std::llround(absl::FDivDuration(size, unit)));
  };
  if (size < absl::Minutes(45)) {
    amount = Plural(std::max<int64_t>(1, rounded(absl::Minutes(1))), "minute");
  } else if (size < absl::Hours(36)) {
    amount = Plural(rounded(absl::Hours(1)), "hour");
  } else {
    amount = Plural(rounded(absl::Hours(24)), "day");
  }
  return delta > absl::ZeroDuration() ? absl::StrCat("in ", amount)
                                      : absl::StrCat(amount, " ago");
}

std::string TimeWithRelative(const google::protobuf::Timestamp& timestamp,
                             bool is_set, absl::Time now,
                             const std::string& unset_text) {
  if (!is_set) return unset_text;
  const absl::Time time = TimeFromProto(timestamp);
  return absl::StrCat(Rfc3339(time), " (", RelativeTime(time, now), ")");
}

std::string ExpiryText(const v1::Token& token, absl::Time now) {
  if (!token.has_expire_time()) return "never";
  const absl::Time time = TimeFromProto(token.expire_time());
  if (time <= now) {
    return absl::StrCat(Rfc3339(time), " (expired ", RelativeTime(time, now),
                        ")");
  }
  return absl::StrCat(Rfc3339(time), " (", RelativeTime(time, now), ")");
}

std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths(header.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], Width(row[i]));
    }
  };
  measure(header);
  for (const auto& row : rows) measure(row);
  std::string out;
  auto append = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - Width(row[i]) + 2, ' ');
    }
    out += line;
    out += '\n';
  };
  append(header);
  for (const auto& row : rows) append(row);
  return out;
}

std::string RenderFields(
    const std::vector<std::pair<std::string, std::string>>& fields) {
  size_t width = 0;
  for (const auto& [key, value] : fields) width = std::max(width, key.size());
  std::string out;
  for (const auto& [key, value] : fields) {
    absl::StrAppend(&out, key, ":", std::string(width - key.size() + 2, ' '),
                    value, "\n");
  }
  return out;
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.always_print_enums_as_ints = false;
  options.preserve_proto_field_names = true;
  std::string out;
  // Only fails for Any fields with unknown types; tokens.v1 has none.
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  if (out.empty() || out.back() != '\n') out += '\n';
  return out;
}

namespace {

// "verifier (client ADDRESS)" of the most recent use, or "-".
std::string LastUsedBy(const v1::Token& token) {
  if (!token.has_last_used_by()) return "-";
  const v1::TokenUse& use = token.last_used_by();
  std::string out = OrDash(use.verifier());
  if (!use.client_address().empty()) {
    absl::StrAppend(&out, " (client ", use.client_address(), ")");
  }
  return out;
}

}  // namespace

std::string TokenDetails(const v1::Token& token, absl::Time now) {
  return RenderFields({
      {"id", token.id()},
      {"deployment", token.deployment_id()},
      {"name", token.name()},
      {"description", OrDash(token.description())},
      {"short token", token.short_token()},
      {"expires", ExpiryText(token, now)},
      {"created", TimeWithRelative(token.create_time(), token.has_create_time(),
                                   now, "-")},
      {"created by", OrDash(token.created_by())},
      {"updated", TimeWithRelative(token.update_time(), token.has_update_time(),
                                   now, "-")},
      {"updated by", OrDash(token.updated_by())},
      {"last rotated",
       TimeWithRelative(token.last_rotate_time(), token.has_last_rotate_time(),
                        now, "never")},
      {"last used", TimeWithRelative(token.last_used_time(),
                                     token.has_last_used_time(), now, "never")},
      {"last used by", LastUsedBy(token)},
      {"last reuse",
       TimeWithRelative(token.last_reuse_time(), token.has_last_reuse_time(),
                        now, "never")},
      {"self rotate", token.self_rotate() ? "yes (token rotate --self)" : "no"},
  });
}

std::string TokenTable(const std::vector<v1::Token>& tokens, absl::Time now) {
  std::vector<std::vector<std::string>> rows;
  for (const v1::Token& token : tokens) {
    rows.push_back({
        token.id(),
        token.name(),
        token.short_token(),
        token.has_create_time() ? Rfc3339(TimeFromProto(token.create_time()))
                                : "-",
        ExpiryText(token, now),
        token.has_last_used_time()
            ? RelativeTime(TimeFromProto(token.last_used_time()), now)
            : "never",
    });
  }
  return RenderTable({"ID", "NAME", "TOKEN", "CREATED", "EXPIRES", "LAST USED"},
                     rows);
}

std::string AuditTable(const std::vector<v1::AuditEvent>& events) {
  std::vector<std::vector<std::string>> rows;
  for (const v1::AuditEvent& event : events) {
    rows.push_back({
        event.has_time() ? Rfc3339(TimeFromProto(event.time())) : "-",
        event.principal(),
        event.action(),
        OrDash(event.token_id()),
        event.outcome(),
        OrDash(event.detail()),
    });
  }
  return RenderTable(
      {"TIME", "PRINCIPAL", "ACTION", "TOKEN", "OUTCOME", "DETAIL"}, rows);
}

}  // namespace tokens::cli
