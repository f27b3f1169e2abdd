// Records for the store tests (the conformance suite and each store's own
// suite): a fixed time, a digest per seed, a token and an audit row with every
// field set. Test-only.
#ifndef STORAGE_TEST_RECORDS_H_
#define STORAGE_TEST_RECORDS_H_

#include <string>

#include "absl/time/time.h"
#include "common/token_value.h"
#include "storage/token_store.h"

namespace tokens {

inline const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

inline Digest DigestFor(const std::string& seed) {
  return DigestOf(std::string("dpt_test_value_") + seed);
}

inline TokenRecord MakeToken(const std::string& id,
                             const std::string& deployment,
                             absl::Time create_time = kT0) {
  TokenRecord token;
  token.id = id;
  token.deployment_id = deployment;
  token.name = "name of " + id;
  token.description = "description of " + id;
  token.short_token = "dpt_Ab12...9xYz";
  token.expiration_days = 30;
  token.secret_digest = DigestFor(id);
  token.create_time = create_time;
  token.update_time = create_time;
  token.expire_time = create_time + absl::Hours(24 * 30);
  token.created_by = "admin";
  token.updated_by = "admin";
  return token;
}

inline TokenUsageRecord Usage(const std::string& token_id, absl::Time time,
                              const std::string& verifier = "",
                              const std::string& client = "") {
  TokenUsageRecord usage;
  usage.token_id = token_id;
  usage.last_used_time = time;
  usage.verifier_name = verifier;
  usage.client_address = client;
  return usage;
}

inline AuditEntry MakeAudit(const std::string& action,
                            const std::string& token_id,
                            const std::string& deployment = "") {
  AuditEntry entry;
  entry.time = kT0;
  entry.principal = "admin";
  entry.action = action;
  entry.token_id = token_id;
  entry.deployment_id = deployment;
  entry.outcome = "OK";
  return entry;
}

}  // namespace tokens

#endif  // STORAGE_TEST_RECORDS_H_
