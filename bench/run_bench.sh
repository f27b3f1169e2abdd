#!/usr/bin/env bash
# Runs every benchmark of docs/benchmarks.md in one go and prints the table.
#
#   bench/run_bench.sh --bin DIR [--out docs/benchmarks.md]   full run (make bench)
#   bench/run_bench.sh --smoke                                seconds (bench_smoke_test)
#
# --bin is where the binaries are (bazel-bin); under `bazel test` they are found
# in the runfiles. Each figure is measured next to its reference in this same
# run, and reported as a ratio. The smoke mode runs everything tiny and fails
# when a benchmark produced no number or a wrong Check answer; it writes no
# document.
set -euo pipefail
# The helpers shared with mesh_bench.sh and replicas_bench.sh (next to this
# script, in the runfiles too).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

out=""
parse_args out "$@"
need_binaries bench/loadgen bench/echo_server bench/naive_verifier bench/bench_loader \
  bench/sqlite_raw bench/decision_bench bench/fanout_bench services/token_service \
  verifier/token_verifier

if [ "$smoke" = 1 ]; then
  work="${TEST_TMPDIR:-$(mktemp -d)}/bench"
  big_tokens=3000; small_tokens=1500; check_tokens=200; list_tokens=200
  reps=1; duration=0.3; warmup=0.1; inflights="16"; fractions="0.5"
  revocations=10; create_duration=0.5; settle=0.2; decision_args="--benchmark_min_time=0.01"
  fanout_streams="1 50 150"; fanout_changes=5; fanout_storm=150
  export DECISION_BENCH_TOKENS=2000
else
  # On disk (not tmpfs): the CreateToken figures are about fsync.
  work="${BENCH_WORK:-/var/tmp/tokens-bench}"
  big_tokens=1000000; small_tokens=10000; check_tokens=1000; list_tokens=1000
  reps=3; duration=2; warmup=0.5; inflights="16 32 64"
  fractions="0.1 0.25 0.5 0.75 0.9"
  revocations=200; create_duration=3; settle=1
  decision_args="--benchmark_repetitions=3 --benchmark_min_time=0.5"
  fanout_streams="1 1000 3000 10000"; fanout_changes=50; fanout_storm=3000
  export DECISION_BENCH_TOKENS=1000000
fi
new_work

# Pin servers and load generator to separate cores when there are at least two.
pin_cpus

# loadgen ARGS...: runs the load generator pinned to the client CPUs; prints
# its RESULT line; fails the benchmark on a wrong answer or failed calls.
loadgen() {
  local line
  if ! line=$(on_client "$bin/bench/loadgen" --warmup="$warmup" "$@" 2>>"$work/loadgen.log" | grep '^RESULT'); then
    echo "loadgen $* failed:" >&2; tail -5 "$work/loadgen.log" >&2; exit 1
  fi
  local qps; qps=$(field qps "$line")
  if [ -n "$qps" ] && awk "BEGIN { exit !($qps <= 0) }"; then
    echo "loadgen $* produced no calls" >&2; exit 1
  fi
  echo "$line"
}

# check_series NAME SERVICE ADDR [NAME2 SERVICE2 ADDR2]: closed loop at each
# in-flight count, `reps` times, alternating between the two servers when two
# are given (so noise from other tenants hits both alike); records
# NAME_qps_<inflight> (median) and NAME_max_qps.
check_series() {
  local names=("$1") services=("$2") addrs=("$3")
  if [ $# -ge 6 ]; then names+=("$4"); services+=("$5"); addrs+=("$6"); fi
  declare -A best
  for k in "${!names[@]}"; do best[$k]=0; done
  for n in $inflights; do
    declare -A q=()
    for _ in $(seq 1 "$reps"); do
      for k in "${!names[@]}"; do
        local line
        line=$(loadgen --mode=check --service="${services[$k]}" --target="${addrs[$k]}" \
          --values="$work/values.txt" --inflight="$n" --duration="$duration")
        q[$k]="${q[$k]:-} $(field qps "$line")"
        [ "${services[$k]}" = echo ] || [ "$(field mismatches "$line")" = 0 ] || {
          echo "wrong Check answers from ${names[$k]}" >&2; exit 1; }
      done
    done
    for k in "${!names[@]}"; do
      # shellcheck disable=SC2086
      local m; m=$(median ${q[$k]})
      record "${names[$k]}_qps_$n" "$m"
      log "${names[$k]} closed loop, $n in flight:${q[$k]} -> median $m QPS"
      best[$k]=$(awk "BEGIN { print ($m > ${best[$k]}) ? $m : ${best[$k]} }")
    done
  done
  for k in "${!names[@]}"; do record "${names[$k]}_max_qps" "${best[$k]}"; done
}

# paced NAME SERVICE ADDR RATE REPS: records NAME_p50/p99 at RATE (medians).
paced() {
  local name="$1" service="$2" addr="$3" rate="$4" r="$5" p50=() p99=() qps=()
  for _ in $(seq 1 "$r"); do
    local line
    line=$(loadgen --mode=check --service="$service" --target="$addr" \
      --values="$work/values.txt" --inflight=64 --rate="$rate" --duration="$duration")
    p50+=("$(field p50_us "$line")"); p99+=("$(field p99_us "$line")")
    qps+=("$(field qps "$line")")
  done
  echo "$(median "${qps[@]}") $(median "${p50[@]}") $(median "${p99[@]}")"
}

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

now_ms() { date +%s%3N; }

##### The machine.
cpu_model=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
mem_total=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
kernel=$(uname -r)
log "machine: $ncpu CPUs ($cpu_model), $mem_total, kernel $kernel; $pinning"

##### Data: one directory with big_tokens, one with small_tokens, one empty.
log "loading $big_tokens and $small_tokens tokens (bench_loader, direct to SQLite)"
new_dir "$work/big" "$work/small" "$work/empty" "$work/create"
t0=$(now_ms)
"$bin/bench/bench_loader" --data_dir="$work/big" --tokens="$big_tokens" \
  --check_tokens="$check_tokens" --list_tokens="$list_tokens" \
  --values_out="$work/values.txt" >/dev/null
record load_ms "$(($(now_ms) - t0))"
"$bin/bench/bench_loader" --data_dir="$work/small" --tokens="$small_tokens" \
  --check_tokens="$check_tokens" --list_tokens="$list_tokens" \
  --values_out="$work/values_small.txt" >/dev/null

##### In-process decision (Google Benchmark).
log "decision_bench ($DECISION_BENCH_TOKENS cached tokens)"
on_client "$bin/bench/decision_bench" $decision_args \
  --benchmark_format=console >"$work/decision.txt" 2>&1 || {
  cat "$work/decision.txt" >&2; exit 1; }
cat "$work/decision.txt" >&2
# ns per decision: the median aggregate with repetitions, else the one run.
decision_value() {
  local row
  row=$(grep -E "^$1(_median)? " "$work/decision.txt" | tail -1)
  [ -n "$row" ] || { echo "decision_bench: no $1" >&2; exit 1; }
  # $2/$3: wall time, $4/$5: CPU time of the benchmark thread.
  echo "$row" | awk -v c="${2:-2}" '{ v = $c; u = $(c + 1); if (u == "us") v *= 1000; if (u == "ms") v *= 1e6; print v }'
}
record decision_allowed_ns "$(decision_value BM_DecisionAllowed)"
record decision_unknown_ns "$(decision_value BM_DecisionUnknownToken)"
record decision_allowed_cpu_ns "$(decision_value BM_DecisionAllowed 4)"
record sha256_ns "$(decision_value BM_Sha256)"
record table_bytes_per_token "$(grep -m1 -o 'table_bytes_per_token=[0-9.]*' "$work/decision.txt" | cut -d= -f2)"
record revoked_bytes_per_value "$(grep -m1 -o 'revoked_bytes_per_value=[0-9.]*' "$work/decision.txt" | cut -d= -f2)"
record decision_revoked_ns "$(decision_value BM_DecisionRevokedToken)"
record sha256_cpu_ns "$(decision_value BM_Sha256 4)"

##### gRPC limit: the echo server.
start echo "${server_prefix[@]}" "$bin/bench/echo_server" --listen=127.0.0.1:0
echo_addr=$ADDR; echo_pid=$PID

##### TokenService with many tokens; verifier cold start and memory.
start service_empty "$bin/services/token_service" --listen=127.0.0.1:0 --data-dir="$work/empty"
empty_addr=$ADDR; empty_pid=$PID
start verifier_empty "$bin/verifier/token_verifier" --listen=127.0.0.1:0 --failed-check-burst=0 \
  --http-listen=127.0.0.1:0 --token-service="$empty_addr" --key-file="$work/empty/verifier.key"
wait_ready "$HTTP_ADDR"; sleep "$settle"
rss_empty=$(rss_kb "$PID")
stop "$PID"; stop "$empty_pid"

start service "$bin/services/token_service" --listen=127.0.0.1:0 --data-dir="$work/big"
service_addr=$ADDR; service_pid=$PID
cold=(); rss=()
for i in $(seq 1 "$reps"); do
  t0=$(now_ms)
  start "verifier$i" "$bin/verifier/token_verifier" --listen=127.0.0.1:0 --failed-check-burst=0 \
    --http-listen=127.0.0.1:0 --token-service="$service_addr" --key-file="$work/big/verifier.key"
  wait_ready "$HTTP_ADDR"
  cold+=($(($(now_ms) - t0)))
  sleep "$settle"
  rss+=("$(rss_kb "$PID")")
  if [ "$i" -lt "$reps" ]; then stop "$PID"; fi
done
verifier_addr=$ADDR; verifier_pid=$PID
record cold_start_ms "$(median "${cold[@]}")"
record rss_empty_kb "$rss_empty"
record rss_big_kb "$(median "${rss[@]}")"
log "verifier cold start ${cold[*]} ms; RSS ${rss[*]} kB (empty: $rss_empty kB)"
# From here on the verifier runs on the server CPUs, like the echo server.
[ "$pinning" = "${pinning#not}" ] && taskset -a -p -c "$server_cpus" "$verifier_pid" >/dev/null

##### Verifier Check throughput and latency against load.
check_series echo echo "$echo_addr" verifier verifier "$verifier_addr"
vmax=$(awk '$1 == "verifier_max_qps" {print $2}' "$results")
emax=$(awk '$1 == "echo_max_qps" {print $2}' "$results")
: >"$work/latency.dat"
for f in $fractions; do
  rate=$(awk "BEGIN { printf \"%d\", $vmax * $f }")
  r=1; [ "$f" = 0.5 ] && r=$reps
  # Echo and verifier runs alternate, so a burst of other tenants' load hits both alike.
  e50s=(); e99s=(); v50s=(); v99s=()
  for _ in $(seq 1 "$r"); do
    read -r eq e50 e99 <<<"$(paced echo echo "$echo_addr" "$rate" 1)"
    read -r vq v50 v99 <<<"$(paced verifier verifier "$verifier_addr" "$rate" 1)"
    e50s+=("$e50"); e99s+=("$e99"); v50s+=("$v50"); v99s+=("$v99")
  done
  e50=$(median "${e50s[@]}"); e99=$(median "${e99s[@]}")
  v50=$(median "${v50s[@]}"); v99=$(median "${v99s[@]}")
  echo "$rate $e50 $e99 $v50 $v99" >>"$work/latency.dat"
  log "offered $rate QPS: echo p50/p99 $e50/$e99 us, verifier $v50/$v99 us"
  if [ "$f" = 0.5 ]; then
    record half_rate "$rate"
    record echo_half_p50 "$e50"; record echo_half_p99 "$e99"
    record verifier_half_p50 "$v50"; record verifier_half_p99 "$v99"
  fi
done
stop "$echo_pid"

##### Revocation propagation.
line=$(loadgen --mode=revoke --target="$service_addr" --verifier="$verifier_addr" \
  --key_file="$work/big/admin.key" --deployment=bench-revoke --count="$revocations")
record revoke_n "$(field revocations "$line")"
record revoke_p50_ms "$(field p50_ms "$line")"
record revoke_p99_ms "$(field p99_ms "$line")"
record revoke_max_ms "$(field max_ms "$line")"
log "revocation: $line"
stop "$verifier_pid"

##### WatchTokens fan-out: N streams on one TokenService (a fresh one per N, so
##### its RSS per idle stream is that of N streams alone).
# The client opens the streams over 100 connections (1 for one stream) and,
# fanout_changes times, measures DeleteToken returning -> every stream has it.
# With fanout_storm streams it then kill -9s TokenService and starts it again
# on the same addresses: the reconnect storm.
fanout_stream_counts=""
for n in $fanout_streams; do
  new_dir "$work/fanout$n"
  start "service_fanout$n" "$bin/services/token_service" --listen=127.0.0.1:0 \
    --data-dir="$work/fanout$n" --http-listen=127.0.0.1:0
  fanout_addr=$ADDR; fanout_pid=$PID; fanout_http=$HTTP_ADDR
  channels=100; [ "$n" -lt 100 ] && channels=$n
  storm_args=()
  rm -f "$work/storm.pid"
  if [ "$n" = "$fanout_storm" ]; then
    storm_args=(--restart_command="kill -9 $fanout_pid; $bin/services/token_service \
--listen=$fanout_addr --data-dir=$work/fanout$n --http-listen=$fanout_http \
>$work/storm.out 2>$work/storm.log & echo \$! >$work/storm.pid")
  fi
  if fanout_out=$(on_client "$bin/bench/fanout_bench" --target="$fanout_addr" --metrics="$fanout_http" \
      --admin_key_file="$work/fanout$n/admin.key" --verifier_key_file="$work/fanout$n/verifier.key" \
      --streams="$n" --channels="$channels" --changes="$fanout_changes" --service_pid="$fanout_pid" \
      "${storm_args[@]}" 2>>"$work/fanout.log") && line=$(echo "$fanout_out" | grep '^RESULT'); then
    log "fan-out: $line"
    storm_line=$(echo "$fanout_out" | grep '^STORM' || true)
    if [ -n "$storm_line" ]; then
      log "reconnect storm: $storm_line"
      record storm_n "$n"
      record storm_s "$(field recovered_s "$storm_line")"
      record storm_snapshots "$(field snapshots "$storm_line")"
      record storm_catch_up "$(field catch_up_reads "$storm_line")"
    fi
    record "fanout_${n}_p50_ms" "$(field p50_ms "$line")"
    record "fanout_${n}_p99_ms" "$(field p99_ms "$line")"
    record "fanout_${n}_max_ms" "$(field max_ms "$line")"
    record "fanout_${n}_rss_kb" "$(field rss_per_stream_kb "$line")"
    record "fanout_${n}_reads" "$(field store_reads_per_change "$line")"
    fanout_stream_counts="$fanout_stream_counts $n"
  else
    # Reported, not fatal: the largest count may not fit the machine.
    log "fan-out with $n streams failed:"; tail -3 "$work/fanout.log" >&2
    [ "$smoke" = 1 ] && exit 1
  fi
  stop "$fanout_pid"
  if [ -s "$work/storm.pid" ]; then stop "$(cat "$work/storm.pid")"; fi
done

##### The naive design: a database lookup per Check.
start naive "${server_prefix[@]}" "$bin/bench/naive_verifier" --listen=127.0.0.1:0 --db="$work/big/tokens.db"
naive_addr=$ADDR; naive_pid=$PID
check_series naive verifier "$naive_addr"
nmax=$(awk '$1 == "naive_max_qps" {print $2}' "$results")
: >"$work/naive.dat"
for f in $fractions; do
  rate=$(awk "BEGIN { printf \"%d\", $nmax * $f }")
  read -r nq n50 n99 <<<"$(paced naive verifier "$naive_addr" "$rate" 1)"
  echo "$rate $n50 $n99" >>"$work/naive.dat"
done
stop "$naive_pid"

##### ListTokens: a page of 100 among big_tokens vs small_tokens.
list_p99() {
  local addr="$1" key="$2" p99=() p50=()
  for _ in $(seq 1 "$reps"); do
    local line
    line=$(loadgen --mode=list --target="$addr" --key_file="$key" \
      --deployment=bench-list --page_size=100 --inflight=4 --duration="$duration")
    p99+=("$(field p99_us "$line")"); p50+=("$(field p50_us "$line")")
  done
  echo "$(median "${p50[@]}") $(median "${p99[@]}")"
}
read -r lb50 lb99 <<<"$(list_p99 "$service_addr" "$work/big/admin.key")"
stop "$service_pid"
start service_small "$bin/services/token_service" --listen=127.0.0.1:0 --data-dir="$work/small"
read -r ls50 ls99 <<<"$(list_p99 "$ADDR" "$work/small/admin.key")"
stop "$PID"
record list_big_p50 "$lb50"; record list_big_p99 "$lb99"
record list_small_p50 "$ls50"; record list_small_p99 "$ls99"

##### CreateToken, durable, 32 clients vs raw SQLite on the same disk.
start service_create "$bin/services/token_service" --listen=127.0.0.1:0 --data-dir="$work/create"
create_addr=$ADDR; create_pid=$PID
cq=(); c99=(); rq=(); r99=()
for _ in $(seq 1 "$reps"); do
  line=$(loadgen --mode=create --target="$create_addr" --key_file="$work/create/admin.key" \
    --inflight=32 --duration="$create_duration")
  cq+=("$(field qps "$line")"); c99+=("$(field p99_us "$line")")
  line=$(on_client "$bin/bench/sqlite_raw" --dir="$work/create" --duration="$create_duration" | grep '^RESULT')
  rq+=("$(field qps "$line")"); r99+=("$(field p99_us "$line")")
done
stop "$create_pid"
log "CreateToken ${cq[*]} /s; raw SQLite ${rq[*]} /s"
record create_qps "$(median "${cq[@]}")"; record create_p99 "$(median "${c99[@]}")"
record raw_qps "$(median "${rq[@]}")"; record raw_p99 "$(median "${r99[@]}")"

##### Envoy ext_authz and forward-auth /v1/authorize (issue 13): bench/mesh_bench.sh,
##### a verifier of its own on the same tokens, each against its reference; writes
##### its section of the document to $work/mesh.md.
mesh_script="$(dirname "$0")/mesh_bench.sh"
[ -x "$mesh_script" ] || mesh_script="$bin/bench/mesh_bench.sh"
mesh_args=(--bin "$bin" --work "$work/mesh" --data "$work/big" --values "$work/values.txt"
  --section "$work/mesh.md")
[ "$smoke" = 1 ] && mesh_args+=(--smoke)
"$mesh_script" "${mesh_args[@]}"

##### TokenService replicas on PostgreSQL (issue 12): bench/replicas_bench.sh,
##### on a PostgreSQL cluster of its own (CreateToken against raw libpq,
##### cross-replica propagation, verifier failover); writes its section of the
##### document to $work/replicas.md.
replicas_script="$(dirname "$0")/replicas_bench.sh"
[ -x "$replicas_script" ] || replicas_script="$bin/bench/replicas_bench.sh"
replicas_args=(--bin "$bin" --work "$work/replicas" --section "$work/replicas.md")
[ "$smoke" = 1 ] && replicas_args+=(--smoke)
"$replicas_script" "${replicas_args[@]}"

##### tokenctl scan against grep (issue 24): bench/scan_bench.sh, on files
##### of its own; writes its section of the document to $work/scan.md.
scan_script="$(dirname "$0")/scan_bench.sh"
[ -x "$scan_script" ] || scan_script="$bin/bench/scan_bench.sh"
scan_args=(--bin "$bin" --work "$work/scan" --section "$work/scan.md")
[ "$smoke" = 1 ] && scan_args+=(--smoke)
"$scan_script" "${scan_args[@]}"

##### The table.
thr_ratio=$(calc "$(v verifier_max_qps) / $(v echo_max_qps)")
p50_ratio=$(calc "$(v verifier_half_p50) / $(v echo_half_p50)")
p99_ratio=$(calc "$(v verifier_half_p99) / $(v echo_half_p99)")
decision_us=$(calc "$(v decision_allowed_ns) / 1000")
decision_cpu_us=$(calc "$(v decision_allowed_cpu_ns) / 1000")
bytes_per_token=$(calc "($(v rss_big_kb) - $(v rss_empty_kb)) * 1024 / $big_tokens")
cold_s=$(calc "$(v cold_start_ms) / 1000")
create_ratio=$(calc "$(v create_qps) / $(v raw_qps)")
list_ratio=$(calc "$(v list_big_p99) / $(v list_small_p99)")
cache_gain=$(calc "$(v verifier_max_qps) / $(v naive_max_qps)")

# The fan-out rows: each stream count next to the same run's 1-stream figure.
fanout_rows() {
  local one; one=$(v fanout_1_p99_ms)
  for n in $fanout_stream_counts; do
    [ "$n" = 1 ] && continue
    echo "| WatchTokens fan-out: DeleteToken returns → all $n streams have it ($([ "$n" -lt 100 ] && echo "$n" || echo 100) connections), $fanout_changes changes | p99 ≤ 100 ms | p99 $(v "fanout_${n}_p99_ms") ms (p50 $(v "fanout_${n}_p50_ms"), max $(v "fanout_${n}_max_ms")) | 1 stream: p99 $one ms | — | $(ok "$(v "fanout_${n}_p99_ms") <= 100") |"
  done
  local biggest=""; for n in $fanout_stream_counts; do biggest=$n; done
  if [ -n "$biggest" ] && [ "$biggest" != 1 ]; then
    echo "| TokenService RSS per idle WatchTokens stream, $biggest streams | ≤ 64 KiB | $(v "fanout_${biggest}_rss_kb") KiB | — | — | $(ok "$(v "fanout_${biggest}_rss_kb") <= 64") |"
    local mid=$biggest; for n in $fanout_stream_counts; do [ "$n" = 1000 ] && mid=1000; done
    echo "| feed store reads per change, $mid streams (token_service /metrics) | 1 | $(v "fanout_${mid}_reads") | — | — | $(ok "$(v "fanout_${mid}_reads") <= 1") |"
  fi
  if [ -n "$(v storm_s)" ]; then
    echo "| reconnect storm: kill -9 and restart TokenService with $(v storm_n) streams attached (verifier backoff, 100 connections) | none needs a snapshot | all current again $(v storm_s) s after the restart; $(v storm_snapshots) snapshots, $(v storm_catch_up) catch-up reads | — | — | $(ok "$(v storm_snapshots) == 0") |"
  fi
  for want in $fanout_streams; do
    case " $fanout_stream_counts " in *" $want "*) ;; *)
      echo "| WatchTokens fan-out, $want streams | p99 ≤ 100 ms | did not complete on this machine (see the run's log) | — | — | **missed** |" ;;
    esac
  done
}

table=$(cat <<EOF
| figure | target | measured | reference (same run) | ratio | verdict |
|---|---|---|---|---|---|
| verifier Check throughput, closed loop (best of $inflights in flight) | ≥ 0.9 × echo | $(v verifier_max_qps) QPS | echo $(v echo_max_qps) QPS | $thr_ratio | $(ok "$thr_ratio >= 0.9") |
| verifier Check p50 at $(v half_rate) QPS (50 % of its max) | ≤ 1.2 × echo | $(v verifier_half_p50) µs | echo $(v echo_half_p50) µs | $p50_ratio | $(ok "$p50_ratio <= 1.2") |
| verifier Check p99 at $(v half_rate) QPS | ≤ 1.2 × echo | $(v verifier_half_p99) µs | echo $(v echo_half_p99) µs | $p99_ratio | $(ok "$p99_ratio <= 1.2") |
| in-process decision, $DECISION_BENCH_TOKENS cached tokens (median; verdict on CPU time) | ≤ 1 µs | $decision_cpu_us µs CPU ($decision_us µs wall) | SHA-256 alone $(v sha256_cpu_ns) ns CPU ($(v sha256_ns) wall) | — | $(ok "$decision_cpu_us <= 1") |
| verifier memory per cached token, $big_tokens tokens | ≤ 200 B | $bytes_per_token B | RSS $(v rss_big_kb) kB vs $(v rss_empty_kb) kB with 0 tokens; the TokenTable alone (decision_bench): $(v table_bytes_per_token) B | — | $(ok "$bytes_per_token <= 200") |
| verifier memory per remembered revoked value, $DECISION_BENCH_TOKENS values (RevokedSet, decision_bench) | ≤ 1.1 × the TokenTable's per token | $(v revoked_bytes_per_value) B | TokenTable $(v table_bytes_per_token) B per token; a check of a revoked value $(v decision_revoked_ns) ns, of an unknown one (misses both) $(v decision_unknown_ns) ns | — | $(ok "$(v revoked_bytes_per_value) <= 1.1 * $(v table_bytes_per_token)") |
| verifier cold start to ready, $big_tokens tokens | ≤ 5 s | $cold_s s | — | — | $(ok "$cold_s <= 5") |
| revocation: DeleteToken returns → verifier denies, $(v revoke_n) revocations | p99 ≤ 100 ms | p99 $(v revoke_p99_ms) ms (p50 $(v revoke_p50_ms), max $(v revoke_max_ms)) | — | — | $(ok "$(v revoke_p99_ms) <= 100") |
| CreateToken, synchronous=FULL, 32 concurrent clients | ≥ 2 × raw SQLite | $(v create_qps) /s (p99 $(v create_p99) µs) | raw SQLite $(v raw_qps) /s (p99 $(v raw_p99) µs) | $create_ratio | $(ok "$create_ratio >= 2") |
| ListTokens page of 100, $big_tokens vs $small_tokens tokens in all | p99 independent of total | p99 $(v list_big_p99) µs (p50 $(v list_big_p50)) | p99 $(v list_small_p99) µs (p50 $(v list_small_p50)) | $list_ratio | $(ok "$list_ratio <= 1.5") |
| what the cache buys: naive design (SQLite per Check) | — | verifier $(v verifier_max_qps) QPS | naive $(v naive_max_qps) QPS | $cache_gain × | — |
$(fanout_rows)
EOF
)
show_table "$table"

if [ "$smoke" = 1 ]; then
  # Every figure must be a number.
  check_numbers
  echo "bench smoke: every benchmark produced numbers and correct answers"
  exit 0
fi

##### Plots and the document.
[ -n "$out" ] || exit 0
plots="$(dirname "$out")/benchmarks"
mkdir -p "$plots"
if command -v gnuplot >/dev/null; then
  gnuplot <<EOF
set terminal png size 900,540
set grid
set key top left
set xlabel "offered load (Check calls/s, paced, at most 64 in flight)"
set ylabel "latency (µs, log scale)"
set logscale y
set output "$plots/check_latency_vs_load.png"
set title "Check latency against load: verifier vs bare gRPC echo (same run)"
plot "$work/latency.dat" using 1:2 with linespoints title "echo p50", \
     "$work/latency.dat" using 1:3 with linespoints title "echo p99", \
     "$work/latency.dat" using 1:4 with linespoints title "verifier p50", \
     "$work/latency.dat" using 1:5 with linespoints title "verifier p99"
set output "$plots/naive_latency_vs_load.png"
set title "Naive design (SQLite lookup per Check): latency against load"
plot "$work/naive.dat" using 1:2 with linespoints title "naive p50", \
     "$work/naive.dat" using 1:3 with linespoints title "naive p99"
EOF
else
  echo "gnuplot not found: no plots" >&2
fi

{
  cat <<EOF
# Benchmarks

Written by \`make bench\` from the run below; do not edit by hand (rerun instead).
Every figure is measured next to its reference in the same run, so the ratios matter more
than the absolute numbers: the machine is shared and noisy.

* **Command**: \`make bench\` (\`$command_line\`), $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(short_commit "$(dirname "$out")/..").
* **Machine**: $ncpu CPUs ($cpu_model), $mem_total RAM, Linux $kernel.
* **Pinning**: $pinning. TokenService is not pinned.
* **Build**: \`bazel build //bench:all\` with the workspace's default \`--compilation_mode=opt\`.
* **Repetitions**: medians of $reps runs of ${duration} s each (after ${warmup} s of warmup) unless said otherwise.

## Results

$table

Check answers: every Check answer of the verifier and the naive server in every run was compared with the
decision it must have (5 of 8 requests ALLOWED, then OPERATION_NOT_PERMITTED, WRONG_DEPLOYMENT and
UNKNOWN_TOKEN for a well-formed value nobody issued); a single wrong answer fails \`make bench\`.

## Plots

![Check latency against load](benchmarks/check_latency_vs_load.png)

![Naive design latency against load](benchmarks/naive_latency_vs_load.png)

| offered QPS | echo p50 µs | echo p99 µs | verifier p50 µs | verifier p99 µs |
|---|---|---|---|---|
$(awk '{printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5}' "$work/latency.dat")

Closed loop, median QPS by requests in flight:

| in flight | echo | verifier | naive |
|---|---|---|---|
$(for n in $inflights; do echo "| $n | $(v echo_qps_$n) | $(v verifier_qps_$n) | $(v naive_qps_$n) |"; done)

EOF
  # Issue 13: Envoy ext_authz and forward-auth, from bench/mesh_bench.sh.
  if [ -f "$work/mesh.md" ]; then
    cat "$work/mesh.md"
    echo
  fi
  # Issue 12: TokenService replicas on PostgreSQL, from bench/replicas_bench.sh.
  if [ -f "$work/replicas.md" ]; then
    cat "$work/replicas.md"
    echo
  fi
  # Issue 24: tokenctl scan against grep, from bench/scan_bench.sh.
  if [ -f "$work/scan.md" ]; then
    cat "$work/scan.md"
    echo
  fi
  # The method and the analysis of the misses are written by hand, next to
  # this script, and refer to the figures above.
  for part in method.md analysis.md; do
    if [ -f "$(dirname "$0")/$part" ]; then
      echo
      cat "$(dirname "$0")/$part"
    fi
  done
} >"$out"
echo "wrote $out and $plots/*.png"
