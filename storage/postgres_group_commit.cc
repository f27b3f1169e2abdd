#include "storage/postgres_group_commit.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/token_value.h"
#include "storage/postgres_rows.h"
#include "storage/token_hygiene.h"

namespace tokens {
namespace {

#define PG_CHANGE_COLUMNS                                                 \
  "revision, type, token_id, deployment_id, secret_digest, expire_time, " \
  "previous_digest, previous_valid_until, revoked"

// The last statement of every write transaction (see postgres_token_store.h):
// takes the revision counter row, logs the changes with consecutive revisions
// (those already past the retention window are not even written), trims the
// log and queues the notification. $1 = number of changes, $2 = retention,
// $3.. = the changes as arrays, in order.
constexpr PgStatement kLogChanges = {
    "log_changes",
    "WITH r AS (UPDATE revision_counter SET value = value + $1::bigint, "
    "trimmed_through = GREATEST(trimmed_through, value + $1::bigint - "
    "$2::bigint) RETURNING value, trimmed_through), "
    "c AS (SELECT r.value - $1::bigint + u.ord AS revision, u.type, "
    "u.token_id, u.deployment_id, u.secret_digest, u.expire_time, "
    "u.previous_digest, u.previous_valid_until, u.revoked, "
    "r.trimmed_through "
    "FROM r, unnest($3::text[], $4::text[], $5::text[], $6::bytea[], "
    "$7::bigint[], $8::bytea[], $9::bigint[], $10::bytea[]) WITH ORDINALITY "
    "AS u(type, token_id, deployment_id, secret_digest, expire_time, "
    "previous_digest, previous_valid_until, revoked, ord)), "
    "l AS (INSERT INTO change_log (" PG_CHANGE_COLUMNS
    ") SELECT " PG_CHANGE_COLUMNS
    " FROM c WHERE revision > trimmed_through), "
    "d AS (DELETE FROM change_log WHERE revision <= "
    "(SELECT trimmed_through FROM r)) "
    "SELECT value, pg_notify('token_changes', value::text) FROM r"};

#undef PG_CHANGE_COLUMNS

// Consecutive creates of a batch in one statement: the token rows (in batch
// order; a taken id or digest, also one taken earlier in the same statement,
// inserts nothing), the audit rows of those inserted (queued in the
// notification outbox when $28, the same for every create of the statement),
// and the ordinals (1-based positions in the arrays) of the inserted ones.
constexpr PgStatement kCreateTokens = {
    "create_tokens",
    "WITH v AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], "
    "$4::text[], $5::text[], $6::integer[], $7::bytea[], $8::bytea[], "
    "$9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], "
    "$13::bigint[], $14::bigint[], $15::text[], $16::text[], $17::text[], "
    "$18::text[], $19::bigint[], $20::bigint[], $21::text[], $22::text[], "
    "$23::text[], $24::text[], $25::text[], $26::text[], $27::boolean[]) "
    "WITH ORDINALITY AS "
    "v(id, deployment_id, name, description, "
    "short_token, expiration_days, secret_digest, previous_digest, "
    "previous_valid_until, create_time, update_time, expire_time, "
    "last_rotate_time, last_used_time, created_by, updated_by, "
    "last_used_verifier, last_used_client, last_reuse_time, a_time, "
    "a_principal, a_action, a_token_id, a_deployment_id, a_outcome, "
    "a_detail, self_rotate, ord)), "
    "t AS (INSERT INTO tokens (id, deployment_id, name, description, "
    "short_token, expiration_days, secret_digest, previous_digest, "
    "previous_valid_until, create_time, update_time, expire_time, "
    "last_rotate_time, last_used_time, created_by, updated_by, "
    "last_used_verifier, last_used_client, last_reuse_time, self_rotate) "
    "SELECT id, deployment_id, name, description, short_token, "
    "expiration_days, secret_digest, previous_digest, previous_valid_until, "
    "create_time, update_time, expire_time, last_rotate_time, "
    "last_used_time, created_by, updated_by, last_used_verifier, "
    "last_used_client, last_reuse_time, self_rotate FROM v ORDER BY ord "
    "ON CONFLICT DO NOTHING RETURNING id, secret_digest), "
    "i AS (SELECT DISTINCT ON (v.id) v.* FROM v JOIN t ON t.id = v.id "
    "AND t.secret_digest = v.secret_digest ORDER BY v.id, v.ord), "
    "a AS (INSERT INTO audit_log (time, principal, action, token_id, "
    "deployment_id, outcome, detail) SELECT a_time, a_principal, a_action, "
    "a_token_id, a_deployment_id, a_outcome, a_detail FROM i ORDER BY ord "
    "RETURNING id, time), "
    "o AS (INSERT INTO notification_outbox (audit_id, next_attempt) "
    "SELECT id, COALESCE(time, -9223372036854775807 - 1) FROM a "
    "WHERE $28::boolean) "
    "SELECT ord FROM i ORDER BY ord"};

std::vector<PgParam> CreateParams(const std::vector<const PgWrite*>& creates) {
  constexpr int kColumns = 27;
  std::vector<PgArrayLiteral> columns(kColumns);
  for (const PgWrite* write : creates) {
    const TokenRecord& t = *write->create;
    const AuditEntry& a = *write->create_audit;
    columns[0].AddText(t.id);
    columns[1].AddText(t.deployment_id);
    columns[2].AddText(t.name);
    columns[3].AddText(t.description);
    columns[4].AddText(t.short_token);
    columns[5].AddInt(t.expiration_days);
    columns[6].AddBytes(DigestToBytes(t.secret_digest));
    if (t.previous_digest.has_value()) {
      columns[7].AddBytes(DigestToBytes(*t.previous_digest));
    } else {
      columns[7].AddNull();
    }
    columns[8].AddTime(t.previous_valid_until, absl::InfinitePast());
    columns[9].AddTime(t.create_time, absl::InfinitePast());
    columns[10].AddTime(t.update_time, absl::InfinitePast());
    columns[11].AddTime(t.expire_time, absl::InfiniteFuture());
    columns[12].AddTime(t.last_rotate_time, absl::InfinitePast());
    columns[13].AddTime(t.last_used_time, absl::InfinitePast());
    columns[14].AddText(t.created_by);
    columns[15].AddText(t.updated_by);
    columns[16].AddText(t.last_used_verifier);
    columns[17].AddText(t.last_used_client);
    columns[18].AddTime(t.last_reuse_time, absl::InfinitePast());
    columns[19].AddTime(a.time, absl::InfinitePast());
    columns[20].AddText(a.principal);
    columns[21].AddText(a.action);
    columns[22].AddText(a.token_id);
    columns[23].AddText(a.deployment_id);
    columns[24].AddText(a.outcome);
    columns[25].AddText(a.detail);
    columns[26].AddBool(t.self_rotate);
  }
  std::vector<PgParam> params;
  params.reserve(kColumns + 1);
  for (const PgArrayLiteral& column : columns) params.push_back(column.Param());
  params.push_back(PgParam::Bool(!creates.empty() && creates[0]->notify));
  return params;
}

// What one round trip of a batch sends: a write's own statement, or one
// statement for a run of creates.
struct Step {
  std::vector<size_t> writes;  // Indexes into the batch.
  bool merged = false;
};

std::vector<Step> PlanSteps(const std::vector<const PgWrite*>& writes) {
  std::vector<Step> steps;
  for (size_t i = 0; i < writes.size(); ++i) {
    const bool create = writes[i]->create != nullptr;
    // Creates share a statement when their audit rows are queued alike.
    if (create && !steps.empty() && steps.back().merged &&
        writes[steps.back().writes[0]]->notify == writes[i]->notify) {
      steps.back().writes.push_back(i);
      continue;
    }
    steps.push_back({{i}, create && writes.size() > 1});
  }
  return steps;
}

std::vector<PgParam> LogParams(const std::vector<TokenChange>& changes,
                               int64_t retention) {
  PgArrayLiteral type, token_id, deployment_id, digest, expire_time,
      previous_digest, previous_valid_until, revoked;
  for (const TokenChange& change : changes) {
    const bool upsert = change.type == TokenChange::Type::kUpsert;
    type.AddText(upsert ? "upsert" : "delete");
    token_id.AddText(change.token_id);
    deployment_id.AddText(change.deployment_id);
    if (upsert) {
      digest.AddBytes(DigestToBytes(change.digest));
    } else {
      digest.AddNull();
    }
    if (!upsert || change.expire_time == absl::InfiniteFuture()) {
      expire_time.AddNull();
    } else {
      expire_time.AddInt(EncodeTime(change.expire_time));
    }
    if (upsert && change.previous_digest.has_value()) {
      previous_digest.AddBytes(DigestToBytes(*change.previous_digest));
    } else {
      previous_digest.AddNull();
    }
    if (!upsert || change.previous_valid_until == absl::InfinitePast()) {
      previous_valid_until.AddNull();
    } else {
      previous_valid_until.AddInt(EncodeTime(change.previous_valid_until));
    }
    if (change.revoked.empty()) {
      revoked.AddNull();
    } else {
      revoked.AddBytes(EncodeRevokedValues(change.revoked));
    }
  }
  return {PgParam::Int(static_cast<int64_t>(changes.size())),
          PgParam::Int(retention),
          type.Param(),
          token_id.Param(),
          deployment_id.Param(),
          digest.Param(),
          expire_time.Param(),
          previous_digest.Param(),
          previous_valid_until.Param(),
          revoked.Param()};
}

// Ends the (failed or empty) transaction of a pipeline.
absl::Status RollBack(PgPipeline& pipeline) {
  RETURN_IF_ERROR(pipeline.SendSql("ROLLBACK"));
  RETURN_IF_ERROR(pipeline.Sync());
  RETURN_IF_ERROR(pipeline.Next("rollback").status());
  return pipeline.NextSync();
}

}  // namespace

struct PgGroupCommit::Pending {
  const PgWrite* write = nullptr;
  absl::Status status;
  int64_t revision = 0;
  bool taken = false;  // A leader has it.
  bool done = false;   // Its outcome is set.
};

namespace {

struct Turn {
  const bool* done;
  const bool* taken;
  const int* leaders;
  int max_leaders;
};

bool MayProceed(Turn* turn) {
  return *turn->done || (!*turn->taken && *turn->leaders < turn->max_leaders);
}

}  // namespace

PgGroupCommit::PgGroupCommit(Runner run, std::function<int64_t()> retention,
                             int max_leaders)
    : run_(std::move(run)),
      retention_(std::move(retention)),
      max_leaders_(std::max(1, max_leaders)) {}

absl::StatusOr<int64_t> PgGroupCommit::Write(const PgWrite& write) {
  Pending self;
  self.write = &write;
  mu_.Lock();
  queue_.push_back(&self);
  Turn turn{&self.done, &self.taken, &leaders_, max_leaders_};
  while (true) {
    mu_.Await(absl::Condition(&MayProceed, &turn));
    if (self.done) break;
    // Lead a batch: the oldest queued writes (this one among them unless the
    // queue is longer than a batch; then it leads or joins a later one).
    ++leaders_;
    const size_t count = std::min<size_t>(queue_.size(), kMaxBatch);
    std::vector<Pending*> batch(queue_.begin(), queue_.begin() + count);
    queue_.erase(queue_.begin(), queue_.begin() + count);
    for (Pending* pending : batch) pending->taken = true;
    mu_.Unlock();
    Commit(batch);
    mu_.Lock();
    for (Pending* pending : batch) pending->done = true;
    --leaders_;
  }
  mu_.Unlock();
  if (!self.status.ok()) return self.status;
  return self.revision;
}

void PgGroupCommit::Commit(const std::vector<Pending*>& batch) {
  bool split = false;
  absl::Status status = run_([&](PgConnection& conn, bool* in_doubt) {
    split = false;
    return Execute(conn, batch, in_doubt, &split);
  });
  if (split) {
    for (Pending* pending : batch) {
      const std::vector<Pending*> one = {pending};
      bool unused = false;
      absl::Status alone = run_([&](PgConnection& conn, bool* in_doubt) {
        return Execute(conn, one, in_doubt, &unused);
      });
      if (!alone.ok()) pending->status = alone;
    }
    return;
  }
  if (!status.ok()) {
    for (Pending* pending : batch) pending->status = status;
  }
}

absl::Status PgGroupCommit::Execute(PgConnection& conn,
                                    const std::vector<Pending*>& batch,
                                    bool* in_doubt, bool* split) {
  std::vector<const PgWrite*> writes;
  for (Pending* pending : batch) {
    pending->status = absl::OkStatus();
    pending->revision = 0;
    writes.push_back(pending->write);
  }
  const std::vector<Step> steps = PlanSteps(writes);
  for (const Step& step : steps) {
    RETURN_IF_ERROR(conn.Prepare(
        step.merged ? kCreateTokens : writes[step.writes[0]]->statement));
  }
  RETURN_IF_ERROR(conn.Prepare(kLogChanges));

  PgPipeline pipeline(conn);
  // Round trip 1: the token rows and audit rows.
  RETURN_IF_ERROR(pipeline.SendSql("BEGIN"));
  for (const Step& step : steps) {
    if (step.merged) {
      std::vector<const PgWrite*> creates;
      for (size_t i : step.writes) creates.push_back(writes[i]);
      RETURN_IF_ERROR(pipeline.Send(kCreateTokens, CreateParams(creates)));
    } else {
      const PgWrite& write = *writes[step.writes[0]];
      RETURN_IF_ERROR(pipeline.Send(write.statement, write.params));
    }
  }
  RETURN_IF_ERROR(pipeline.Sync());
  absl::Status failed = pipeline.Next("begin").status();
  std::vector<TokenChange> changes;
  std::vector<Pending*> logged;
  auto take = [&](Pending* pending, absl::StatusOr<TokenChange> change) {
    if (!change.ok()) {
      pending->status = change.status();
      return;
    }
    changes.push_back(*std::move(change));
    logged.push_back(pending);
  };
  for (const Step& step : steps) {
    const char* what = step.merged ? kCreateTokens.name
                                   : writes[step.writes[0]]->statement.name;
    absl::StatusOr<PgResult> result = pipeline.Next(what);
    if (!result.ok()) {
      if (failed.ok()) failed = result.status();
      continue;
    }
    if (!failed.ok()) continue;
    if (!step.merged) {
      Pending* pending = batch[step.writes[0]];
      take(pending, pending->write->on_result(*result));
      continue;
    }
    std::vector<bool> inserted(step.writes.size(), false);
    for (int row = 0; row < result->rows(); ++row) {
      absl::StatusOr<int64_t> ord = result->Int(row, 0);
      if (!ord.ok() || *ord < 1 ||
          *ord > static_cast<int64_t>(step.writes.size())) {
        failed = absl::InternalError("create_tokens: bad ordinal");
        break;
      }
      inserted[static_cast<size_t>(*ord - 1)] = true;
    }
    if (!failed.ok()) continue;
    for (size_t k = 0; k < step.writes.size(); ++k) {
      Pending* pending = batch[step.writes[k]];
      take(pending, pending->write->on_create(inserted[k]));
    }
  }
  RETURN_IF_ERROR(pipeline.NextSync());
  if (!failed.ok()) {
    if (!conn.ok()) return failed;
    RETURN_IF_ERROR(RollBack(pipeline));
    if (batch.size() > 1) {
      *split = true;
      return absl::OkStatus();
    }
    const PgWrite& write = *batch[0]->write;
    return write.on_error ? write.on_error(failed) : failed;
  }
  if (changes.empty()) return RollBack(pipeline);  // Nothing was written.

  // Round trip 2: the revision counter, the change log, COMMIT.
  RETURN_IF_ERROR(pipeline.Send(kLogChanges, LogParams(changes, retention_())));
  *in_doubt = true;
  RETURN_IF_ERROR(pipeline.SendSql("COMMIT"));
  RETURN_IF_ERROR(pipeline.Sync());
  absl::StatusOr<PgResult> counter = pipeline.Next(kLogChanges.name);
  absl::Status committed = pipeline.Next("commit").status();
  RETURN_IF_ERROR(pipeline.NextSync());
  if (!counter.ok()) {
    // COMMIT was skipped: nothing was committed.
    *in_doubt = !conn.ok();
    if (conn.ok()) RETURN_IF_ERROR(RollBack(pipeline));
    return counter.status();
  }
  RETURN_IF_ERROR(committed);
  if (counter->rows() != 1) {
    return absl::InternalError("no revision counter row");
  }
  ASSIGN_OR_RETURN(const int64_t last, counter->Int(0, 0));
  int64_t revision = last - static_cast<int64_t>(logged.size());
  for (Pending* pending : logged) pending->revision = ++revision;
  return absl::OkStatus();
}

}  // namespace tokens
