#include "common/validation.h"

#include "absl/strings/str_cat.h"

namespace tokens {
namespace {

absl::Status Invalid(const std::string& field, const std::string& rule) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", rule));
}

// Decodes one code point at s[*i]; returns -1 when the sequence is not valid
// UTF-8.
int32_t DecodeCodePoint(const std::string& s, size_t* i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(*i);
  int length;
  int32_t cp;
  if (c < 0x80) {
    *i += 1;
    return c;
  } else if ((c & 0xE0) == 0xC0) {
    length = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    length = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    length = 4;
    cp = c & 0x07;
  } else {
    return -1;
  }
  if (*i + length > s.size()) return -1;
  for (int k = 1; k < length; ++k) {
    unsigned char cc = byte(*i + k);
    if ((cc & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (cc & 0x3F);
  }
  static constexpr int32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMinForLength[length] || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    return -1;
  }
  *i += length;
  return cp;
}

bool IsControl(int32_t cp) {
  return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
}

// Checks UTF-8 and control characters; returns the length in code points or an
// error.
absl::Status CheckText(const std::string& field, const std::string& s,
                       int max_chars, bool allow_newline_and_tab) {
  int64_t chars = 0;
  for (size_t i = 0; i < s.size();) {
    int32_t cp = DecodeCodePoint(s, &i);
    if (cp < 0) return Invalid(field, "must be valid UTF-8");
    if (IsControl(cp) &&
        !(allow_newline_and_tab && (cp == '\n' || cp == '\t'))) {
      return Invalid(field, "must not contain control characters");
    }
    ++chars;
  }
  if (chars > max_chars) {
    return Invalid(field, absl::StrCat("must be at most ", max_chars,
                                       " characters (got ", chars, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

int64_t Utf8Length(const std::string& s) {
  int64_t chars = 0;
  for (size_t i = 0; i < s.size(); ++chars) {
    if (DecodeCodePoint(s, &i) < 0) return -1;
  }
  return chars;
}

absl::Status ValidateName(const std::string& name) {
  if (name.empty()) return Invalid("name", "is required");
  return CheckText("name", name, kMaxNameChars, false);
}

absl::Status ValidateDescription(const std::string& description) {
  return CheckText("description", description, kMaxDescriptionChars, true);
}

absl::Status ValidateDeploymentId(const std::string& deployment_id) {
  if (deployment_id.empty()) return Invalid("deployment_id", "is required");
  if (deployment_id.size() > kMaxDeploymentIdChars) {
    return Invalid(
        "deployment_id",
        absl::StrCat("must be at most ", kMaxDeploymentIdChars, " characters"));
  }
  for (char c : deployment_id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return Invalid("deployment_id", "must contain only [a-z0-9-]");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateExpirationDays(int64_t days, int server_max) {
  if (days < 0 || days > kMaxExpirationDays) {
    return Invalid("expiration_days",
                   absl::StrCat("must be 0 (never) or 1-", kMaxExpirationDays,
                                " (got ", days, ")"));
  }
  if (days > server_max) {
    return Invalid("expiration_days",
                   absl::StrCat("must be at most ", server_max,
                                " on this server (got ", days, ")"));
  }
  return absl::OkStatus();
}

absl::Status ValidatePageSize(int64_t page_size) {
  if (page_size < 0 || page_size > kMaxPageSize) {
    return Invalid("page_size", absl::StrCat("must be 0-", kMaxPageSize,
                                             " (got ", page_size, ")"));
  }
  return absl::OkStatus();
}

absl::Status ValidateGracePeriodSeconds(int64_t seconds) {
  if (seconds < 0 || seconds > kMaxGracePeriodSeconds) {
    return Invalid("grace_period_seconds",
                   absl::StrCat("must be 0-", kMaxGracePeriodSeconds, " (got ",
                                seconds, ")"));
  }
  return absl::OkStatus();
}

absl::Status ValidateTokenId(const std::string& id) {
  if (id.empty()) return Invalid("id", "is required");
  if (id.size() > 64) return Invalid("id", "must be at most 64 characters");
  for (char c : id) {
    if (c <= 0x20 || c >= 0x7F) {
      return Invalid("id", "must be printable ASCII");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateUsageLabel(const std::string& field,
                                const std::string& value, int max_chars) {
  if (value.size() > static_cast<size_t>(max_chars)) {
    return Invalid(field,
                   absl::StrCat("must be at most ", max_chars, " characters"));
  }
  for (char c : value) {
    if (c <= 0x20 || c >= 0x7F) {
      return Invalid(field, "must be printable ASCII without spaces");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateLeakEntryCount(const std::string& field, int64_t count) {
  if (count < 1 || count > kMaxLeakEntries) {
    return Invalid(field, absl::StrCat("want 1-", kMaxLeakEntries,
                                       " entries, got ", count));
  }
  return absl::OkStatus();
}

absl::Status ValidateDigestBytes(const std::string& field,
                                 const std::vector<std::string>& digests) {
  for (const std::string& bytes : digests) {
    if (bytes.size() != 32) {
      return Invalid(field, absl::StrCat("each must be a 32-byte SHA-256, got ",
                                         bytes.size(), " bytes"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateLeakLocation(const std::string& location) {
  if (location.size() > static_cast<size_t>(kMaxLeakLocationBytes)) {
    return Invalid("location", absl::StrCat("must be at most ",
                                            kMaxLeakLocationBytes, " bytes"));
  }
  return CheckText("location", location, kMaxLeakLocationBytes,
                   /*allow_newline_and_tab=*/true);
}

absl::Status ValidateSelfRotateGraceSeconds(int64_t seconds) {
  if (seconds < 0 || seconds > kMaxSelfRotateGraceSeconds) {
    return Invalid("grace_period_seconds",
                   absl::StrCat("must be 0-", kMaxSelfRotateGraceSeconds,
                                " for RotateSelf (got ", seconds, ")"));
  }
  return absl::OkStatus();
}

absl::Status ValidateExpireBefore(int64_t unix_seconds) {
  if (unix_seconds < 0) {
    return Invalid("expire_before", "must not be before 1970-01-01T00:00:00Z");
  }
  return absl::OkStatus();
}

}  // namespace tokens
