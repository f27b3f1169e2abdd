#!/usr/bin/env bash
# The issue-12 benchmarks: TokenService as stateless replicas on PostgreSQL,
# each figure next to its reference in the same run, on a throwaway
# PostgreSQL 15 cluster on disk with fsync and synchronous_commit on:
#
#   create       loadgen --mode=create (32 in flight) against a token_service
#                on --database, and bench/pg_raw: 32 libpq threads, one
#                INSERT (its own transaction, committed) each call, on a table
#                LIKE tokens in the same database; runs alternate.
#   propagation  replicas A and B on one database, a verifier on B only;
#                replica_bench creates tokens alternately through A and B and
#                times CreateToken returning -> the UPSERT on B's WatchTokens
#                stream, and -> the verifier answering Check ALLOWED. Through
#                B (same replica) is the reference.
#   failover     a verifier given --token-service A,B, on A; replica_bench
#                kill -9s A, creates a token through B and polls Check until it
#                is ALLOWED, polling the verifier's /metrics (token_verifier_
#                ready) every 5 ms. Each trial restarts A and the verifier.
#
#   bench/replicas_bench.sh --bin DIR [--smoke] [--work DIR]
#       [--only create]    only the CreateToken figure (prints its line; no
#                          table, no section)
#       [--reps N]         CreateToken runs of each (default 5, 1 with --smoke)
#       [--section FILE]   writes the Markdown section there
#       [--splice DOC]     replaces the section in DOC (between its markers,
#                          else before "## How each figure")
#
# run_bench.sh calls it (so `make bench` and bench_smoke_test run it); alone it
# takes about a minute. Runs PostgreSQL as the postgres user when run as root.
# Fails on any failed call, timeout or missing number; a missed target is
# reported, not fatal. Prints the table on stdout.
set -euo pipefail
# The helpers shared with run_bench.sh and mesh_bench.sh.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

work="" section="" splice="" only="" reps=""
parse_args "work section splice only reps" "$@"
case "$only" in
  "" | create) ;;
  *) echo "--only takes create" >&2; exit 2 ;;
esac
[ -z "$reps" ] || [[ "$reps" =~ ^[1-9][0-9]*$ ]] || { echo "--reps takes a positive number" >&2; exit 2; }
need_binaries bench/loadgen bench/pg_raw bench/replica_bench services/token_service \
  verifier/token_verifier
pg_bin=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
[ -x "$pg_bin/initdb" ] || { echo "no PostgreSQL in $pg_bin (install postgresql-15)" >&2; exit 2; }

if [ "$smoke" = 1 ]; then
  reps=${reps:-1}; create_duration=0.5; warmup=0.2; changes=5; trials=1; settle=0.2
else
  reps=${reps:-5}; create_duration=2; warmup=0.5; changes=200; trials=5; settle=0.5
fi
# On disk (not tmpfs): the CreateToken figures are about commits.
[ -n "$work" ] || work="${TEST_TMPDIR:-$(mktemp -d)}/replicas"
new_work

# As run_bench.sh: servers and load generators on separate CPUs; TokenService
# and PostgreSQL are not pinned.
pin_cpus

as_postgres=()
[ "$(id -u)" -eq 0 ] && as_postgres=(runuser -u postgres --)
pg_root=""
pg_tmp=0
# Instead of lib.sh's cleanup (its EXIT trap calls this one): kill -9 the
# servers, then stop PostgreSQL.
cleanup() {
  kill_servers -KILL
  if [ -n "$pg_root" ] && [ -f "$pg_root/data/postmaster.pid" ]; then
    "${as_postgres[@]}" "$pg_bin/pg_ctl" -D "$pg_root/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  [ "$pg_tmp" = 1 ] && rm -rf "$pg_root"
  return 0
}
trap 'exit 1' INT TERM

# client NAME CMD...: runs a client on the client CPUs; prints its RESULT line.
client() {
  local name="$1" line; shift
  line=$(on_client "$@" 2>>"$work/$name.log" | grep '^RESULT') || {
    echo "$name failed:" >&2; tail -5 "$work/$name.log" >&2; exit 1; }
  echo "$line"
}

# wait_verifier HTTP_ADDR TARGET: until /readyz is 200 and the feed is on TARGET.
wait_verifier() {
  for _ in $(seq 1 3000); do
    if curl -fs "http://$1/readyz" >/dev/null 2>&1 &&
      curl -fs "http://$1/metrics" 2>/dev/null | grep -qF "token_verifier_feed_target_info{target=\"$2\"} 1"; then
      return 0
    fi
    sleep 0.01
  done
  echo "the verifier never became ready on $2" >&2; exit 1
}

##### PostgreSQL: a throwaway cluster on disk, fsync and synchronous_commit on.
pg_root="$work/pg"
mkdir -p "$pg_root"
if [ "$(id -u)" -eq 0 ]; then
  chown postgres "$pg_root"
  # Under TEST_TMPDIR (root's private cache) the postgres user cannot reach it.
  if ! runuser -u postgres -- test -w "$pg_root"; then
    pg_root=$(mktemp -d /tmp/replicas-bench-pg.XXXXXX)
    pg_tmp=1
    chown postgres "$pg_root"
  fi
fi
fs_type=$(df --output=fstype "$pg_root" | tail -1)
if [ "$fs_type" = tmpfs ] && [ "$smoke" = 0 ]; then
  echo "$pg_root is on tmpfs; set --work to a directory on disk" >&2; exit 2
fi
"${as_postgres[@]}" "$pg_bin/initdb" -N -D "$pg_root/data" -U postgres -A trust \
  >"$work/initdb.log" 2>&1 || { echo "initdb failed:" >&2; tail -5 "$work/initdb.log" >&2; exit 1; }
pg_port=""
for _ in $(seq 1 10); do
  port=$((20000 + RANDOM % 30000))
  if "${as_postgres[@]}" "$pg_bin/pg_ctl" -D "$pg_root/data" -l "$pg_root/server.log" -w -t 30 \
    -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=on \
-c synchronous_commit=on -c max_connections=200" start >/dev/null 2>&1; then
    pg_port=$port; break
  fi
done
[ -n "$pg_port" ] || { echo "PostgreSQL did not start:" >&2; tail -5 "$pg_root/server.log" >&2; exit 1; }
psql() { "${as_postgres[@]}" "$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -qtAX "$@"; }
psql -c "CREATE DATABASE create_bench" -c "CREATE DATABASE replicas" postgres
pg_settings=$(psql -c "SELECT 'fsync=' || current_setting('fsync') || ', synchronous_commit=' ||
  current_setting('synchronous_commit') || ', wal_sync_method=' || current_setting('wal_sync_method') ||
  ', PostgreSQL ' || current_setting('server_version')" postgres)
url="postgresql://postgres@127.0.0.1:$pg_port"
log "PostgreSQL on 127.0.0.1:$pg_port, data on $fs_type: $pg_settings"

##### CreateToken, 32 clients, vs raw libpq on the same server.
new_dir "$work/create"
start service_create "$bin/services/token_service" --database "$url/create_bench" \
  --listen 127.0.0.1:0 --data-dir "$work/create"
create_addr=$ADDR; create_pid=$PID
cq=(); c99=(); rq=(); r99=()
for _ in $(seq 1 "$reps"); do
  line=$(client loadgen "$bin/bench/loadgen" --mode=create --target="$create_addr" \
    --key_file="$work/create/admin.key" --inflight=32 --duration="$create_duration" --warmup="$warmup")
  cq+=("$(field qps "$line")"); c99+=("$(field p99_us "$line")")
  line=$(client pg_raw "$bin/bench/pg_raw" --database="$url/create_bench" --threads=32 \
    --duration="$create_duration" --warmup="$warmup")
  rq+=("$(field qps "$line")"); r99+=("$(field p99_us "$line")")
done
# Where the service's transactions wait: pg_stat_activity of its connections,
# sampled during one more run (not counted). Full runs only.
: >"$work/waits.txt"
if [ "$smoke" = 0 ]; then
  wait_sql="SELECT coalesce(wait_event_type || ':' || wait_event, 'on CPU') || '|' || state || '|' ||
    left(regexp_replace(query, '\s+', ' ', 'g'), 48) FROM pg_stat_activity
    WHERE datname = 'create_bench' AND backend_type = 'client backend' AND state <> 'idle'
    AND pid <> pg_backend_pid()"
  (sleep 1; for _ in $(seq 1 30); do psql -c "$wait_sql" create_bench; sleep 0.03; done) \
    >"$work/waits.txt" &
  sampler=$!
  client loadgen "$bin/bench/loadgen" --mode=create --target="$create_addr" \
    --key_file="$work/create/admin.key" --inflight=32 --duration=3 --warmup=0.5 >/dev/null
  wait "$sampler"
fi
stop "$create_pid"
log "CreateToken on PostgreSQL ${cq[*]} /s; raw libpq ${rq[*]} /s"
record create_qps "$(median "${cq[@]}")"; record create_p99 "$(median "${c99[@]}")"
record raw_qps "$(median "${rq[@]}")"; record raw_p99 "$(median "${r99[@]}")"
create_runs="${cq[*]}"; raw_runs="${rq[*]}"
if [ "$only" = create ]; then
  check_numbers
  create_ratio=$(calc "$(v create_qps) / $(v raw_qps)")
  ratios=()
  for i in "${!cq[@]}"; do ratios+=("$(calc "${cq[$i]} / ${rq[$i]}")"); done
  echo "CreateToken on PostgreSQL: service $(v create_qps) /s, raw libpq $(v raw_qps) /s (medians of $reps)," \
    "ratio of medians $create_ratio; per-run ratios ${ratios[*]} (median $(median "${ratios[@]}"))"
  exit 0
fi

##### Two replicas on one database; a verifier on B only.
new_dir "$work/a"; new_dir "$work/b"
start replica_a "$bin/services/token_service" --database "$url/replicas" \
  --listen 127.0.0.1:0 --data-dir "$work/a"
a_addr=$ADDR; a_pid=$PID
# replica_bench kill -9s A: no "Killed" line from bash for it.
disown "$a_pid"
start replica_b "$bin/services/token_service" --database "$url/replicas" \
  --listen 127.0.0.1:0 --data-dir "$work/b"
b_addr=$ADDR
keys="$work/a"  # The first replica on the empty database wrote the keys.
start verifier_b "${server_prefix[@]}" "$bin/verifier/token_verifier" --listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --failed-check-burst=0 --token-service="$b_addr" \
  --key-file="$keys/verifier.key"
verifier_pid=$PID
wait_verifier "$HTTP_ADDR" "$b_addr"
line=$(client propagation "$bin/bench/replica_bench" --mode=propagation --cross="$a_addr" \
  --watch="$b_addr" --verifier="$ADDR" --admin_key_file="$keys/admin.key" \
  --verifier_key_file="$keys/verifier.key" --changes="$changes")
log "propagation: $line"
for k in cross same verifier_cross verifier_same; do
  for q in n p50_ms p99_ms max_ms; do record "${k}_$q" "$(field "${k}_$q" "$line")"; done
done
record propagation_not_ready "$(field not_ready_checks "$line")"
stop "$verifier_pid"

##### Failover: kill -9 A under a verifier on A,B.
recovery=(); not_ready=0; samples=0; metrics_failures=0; failovers=()
for trial in $(seq 1 "$trials"); do
  if [ "$trial" -gt 1 ]; then
    start "replica_a$trial" "$bin/services/token_service" --database "$url/replicas" \
      --listen 127.0.0.1:0 --data-dir "$work/a"
    a_addr=$ADDR; a_pid=$PID
    disown "$a_pid"
  fi
  start "verifier_ab$trial" "${server_prefix[@]}" "$bin/verifier/token_verifier" \
    --listen=127.0.0.1:0 --http-listen=127.0.0.1:0 --failed-check-burst=0 \
    --token-service="$a_addr,$b_addr" --key-file="$keys/verifier.key"
  verifier_pid=$PID; verifier_addr=$ADDR; verifier_http=$HTTP_ADDR
  wait_verifier "$verifier_http" "$a_addr"
  line=$(client failover "$bin/bench/replica_bench" --mode=failover --create="$b_addr" \
    --verifier="$verifier_addr" --verifier_http="$verifier_http" --expect_target="$a_addr" \
    --kill_pid="$a_pid" --admin_key_file="$keys/admin.key" --settle="$settle")
  log "failover $trial: $line"
  [ "$(field target_after "$line")" = "$b_addr" ] || {
    echo "after the failover the verifier is not on $b_addr: $line" >&2; exit 1; }
  recovery+=("$(field recovery_ms "$line")")
  failovers+=("$(field failovers "$line")")
  not_ready=$((not_ready + $(field not_ready_checks "$line") + $(field not_ready_samples "$line")))
  samples=$((samples + $(field ready_samples "$line")))
  metrics_failures=$((metrics_failures + $(field metrics_failures "$line")))
  stop "$a_pid"; stop "$verifier_pid"
done
record failover_trials "$trials"
record failover_median_ms "$(median "${recovery[@]}")"
record failover_max_ms "$(printf '%s\n' "${recovery[@]}" | sort -g | tail -1)"
record failover_not_ready "$not_ready"
record failover_samples "$samples"
record failover_metrics_failures "$metrics_failures"

##### The table.
create_ratio=$(calc "$(v create_qps) / $(v raw_qps)")
cross_ratio=$(calc "$(v cross_p99_ms) / $(v same_p99_ms)")
verifier_ratio=$(calc "$(v verifier_cross_p99_ms) / $(v verifier_same_p99_ms)")
table=$(cat <<EOF
| figure | target | measured | reference (same run) | ratio | verdict |
|---|---|---|---|---|---|
| CreateToken on PostgreSQL (fsync, synchronous_commit on), 32 concurrent clients | ≥ 2 × raw libpq | $(v create_qps) /s (p99 $(v create_p99) µs) | raw libpq, 32 threads, one INSERT per transaction: $(v raw_qps) /s (p99 $(v raw_p99) µs) | $create_ratio | $(ok "$create_ratio >= 2") |
| cross-replica propagation: CreateToken through A returns → on B's WatchTokens stream, $(v cross_n) changes | p99 ≤ 100 ms | p99 $(v cross_p99_ms) ms (p50 $(v cross_p50_ms), max $(v cross_max_ms)) | through B, seen on B: p99 $(v same_p99_ms) ms (p50 $(v same_p50_ms)) | $cross_ratio | $(ok "$(v cross_p99_ms) <= 100") |
| the same, until the verifier on B answers Check ALLOWED | p99 ≤ 100 ms | p99 $(v verifier_cross_p99_ms) ms (p50 $(v verifier_cross_p50_ms), max $(v verifier_cross_max_ms)) | through B: p99 $(v verifier_same_p99_ms) ms (p50 $(v verifier_same_p50_ms)) | $verifier_ratio | $(ok "$(v verifier_cross_p99_ms) <= 100") |
| failover: kill -9 the verifier's replica A → a token created through B is ALLOWED, $(v failover_trials) trials | ≤ 3 s, never NOT_READY | median $(v failover_median_ms) ms (max $(v failover_max_ms)); NOT_READY $(v failover_not_ready) times in $(v failover_samples) /metrics samples and all Checks | — | — | $(ok "$(v failover_max_ms) <= 3000 && $(v failover_not_ready) == 0 && $(v failover_metrics_failures) == 0") |
EOF
)
show_table "$table"

check_numbers
end_smoke "replicas bench smoke: CreateToken, propagation and failover produced numbers"

# The most frequent states of the service's busy connections during CreateToken.
wait_table() {
  local total; total=$(grep -c . "$work/waits.txt" || true)
  [ "$total" -gt 0 ] || return 0
  echo
  echo "Where CreateToken's transactions wait: 30 looks at \`pg_stat_activity\` during one more 32-client"
  echo "run (not counted) found $total busy (non-idle) connections of the service (its pool, and the"
  echo "connection that reads the change log for WatchTokens):"
  echo
  echo "| wait event | state | statement | share |"
  echo "|---|---|---|---|"
  sort "$work/waits.txt" | uniq -c | sort -rn | head -6 | awk -v n="$total" '{
    c = $1; sub(/^ *[0-9]+ /, ""); split($0, f, "|")
    if (length(f[3]) >= 48) f[3] = f[3] "…"
    printf "| %s | %s | `%s` | %.0f %% |\n", f[1], f[2], f[3], 100 * c / n }'
}

[ -n "$section" ] || section="$work/section.md"
commit=$(short_commit "$(dirname "$0")")
{
  cat <<EOF
<!-- replicas_bench begin: written by bench/replicas_bench.sh (make bench) -->
## TokenService replicas on PostgreSQL (issue 12)

Measured by \`bench/replicas_bench.sh\` (\`$command_line\`), $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit,
on a throwaway PostgreSQL cluster on this machine's disk ($fs_type; $pg_settings), every
replica with its default pool of 8 connections. CreateToken: medians of $reps runs of ${create_duration} s
each (after ${warmup} s of warmup), service and raw libpq alternating. Propagation: $changes changes
through each replica, alternating. Failover: $trials trials, replica A and the verifier restarted for each.

$table

CreateToken per run, in order: service $create_runs /s; raw libpq $raw_runs /s.
$(wait_table)
<!-- replicas_bench end -->
EOF
} >"$section"

if [ -n "$splice" ]; then
  # Replace the section between its markers, else insert it before the method.
  splice_section replicas_bench "$section" "$splice"
fi
