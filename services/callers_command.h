// `token_service callers ...`: manages who may call a TokenService deployment
// on PostgreSQL, in the database every replica reads (ClusterSync picks a
// change up within --cluster-sync-interval), so no file is edited on any
// replica:
//
//   token_service callers list   --database URL
//   token_service callers add    NAME admin|verifier --database URL
//                                (prints the new key once, on stdout)
//   token_service callers remove NAME --database URL
//
// With the SQLite default the callers are the data directory's `credentials`
// file (docs/operations.md).
#ifndef SERVICES_CALLERS_COMMAND_H_
#define SERVICES_CALLERS_COMMAND_H_

#include <cstdio>
#include <string>
#include <vector>

namespace tokens {

// `args` are the words after `callers`. Returns the exit code: 0, 1 when the
// database fails, 2 for bad usage (the message names what is wrong).
int RunCallersCommand(const std::vector<std::string>& args,
                      const std::string& database, std::FILE* out,
                      std::FILE* err);

}  // namespace tokens

#endif  // SERVICES_CALLERS_COMMAND_H_
