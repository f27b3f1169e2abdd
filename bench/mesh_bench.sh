#!/usr/bin/env bash
# The issue-13 benchmarks: Envoy ext_authz Check QPS and /v1/authorize
# (forward-auth) QPS of the verifier, each against its reference in the same
# run, under the same client, runs alternating:
#
#   ext_authz   loadgen --mode=ext_authz (Envoy-shaped CheckRequests, valid
#               tokens) against the verifier's gRPC port, and against
#               echo_server's Authorization service (a fixed allowed answer of
#               the same serialized size; checked).
#   authorize   http_loadgen (Beast, keep-alive connections) against the
#               verifier's HTTP port, and against http_reference_server (a
#               bare Beast server answering 200 with the same response size;
#               checked).
#
#   bench/mesh_bench.sh --bin DIR [--smoke] [--work DIR]
#       [--data DIR --values FILE]   a loaded data directory (run_bench.sh's);
#                                    without it, bench_loader makes one
#       [--section FILE]             writes the Markdown section there
#       [--splice DOC]               replaces the section in DOC (between its
#                                    markers, else before "## How each figure")
#
# run_bench.sh calls it (so `make bench` and bench_smoke_test run it); alone it
# runs in about a minute. Fails on any wrong answer, failed call or missing
# number. Prints the table on stdout.
set -euo pipefail
# The helpers shared with run_bench.sh and replicas_bench.sh.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

work="" data="" values="" section="" splice=""
parse_args "work data values section splice" "$@"
need_binaries bench/loadgen bench/http_loadgen bench/echo_server bench/http_reference_server \
  bench/bench_loader services/token_service verifier/token_verifier

if [ "$smoke" = 1 ]; then
  tokens=1500; check_tokens=200
  reps=1; duration=0.3; warmup=0.1; inflights="16"
else
  tokens=1000000; check_tokens=1000
  reps=5; duration=1.5; warmup=0.3; inflights="16 64"
fi
[ -n "$work" ] || work="${TEST_TMPDIR:-$(mktemp -d)}/mesh"
new_work

# As run_bench.sh: servers and load generators on separate CPUs.
pin_cpus

# drive KIND TARGET INFLIGHT: one run of the client of KIND (ext_authz |
# authorize); prints its RESULT line; fails on a wrong answer or failed calls.
drive() {
  local kind="$1" target="$2" n="$3" line
  if [ "$kind" = ext_authz ]; then
    line=$(on_client "$bin/bench/loadgen" --mode=ext_authz --target="$target" \
      --values="$values" --inflight="$n" --duration="$duration" --warmup="$warmup" \
      2>>"$work/client.log" | grep '^RESULT') || {
      echo "loadgen ext_authz $target failed:" >&2; tail -5 "$work/client.log" >&2; exit 1; }
  else
    line=$(on_client "$bin/bench/http_loadgen" --target="$target" --values="$values" \
      --connections="$n" --duration="$duration" --warmup="$warmup" \
      2>>"$work/client.log" | grep '^RESULT') || {
      echo "http_loadgen $target failed:" >&2; tail -5 "$work/client.log" >&2; exit 1; }
  fi
  [ "$(field mismatches "$line")" = 0 ] || { echo "wrong answers from $target" >&2; exit 1; }
  awk "BEGIN { exit !($(field qps "$line") > 0) }" || { echo "no calls to $target" >&2; exit 1; }
  echo "$line"
}

# series KIND REF_NAME REF_ADDR NAME ADDR: closed loop at each in-flight count,
# `reps` times, reference and verifier alternating; records
# KIND_NAME_qps_<n> (medians), KIND_NAME_max_qps, the answer sizes and
# KIND_pair_ratio_<n>: the median over the reps of verifier / reference of
# back-to-back runs (what a burst of other tenants' load distorts least).
series() {
  local kind="$1" names=("$2" "$4") addrs=("$3" "$5")
  local best=(0 0) bytes=("" "")
  for n in $inflights; do
    local q=("" "") pair=()
    for _ in $(seq 1 "$reps"); do
      local run=()
      for k in 0 1; do
        local line
        line=$(drive "$kind" "${addrs[$k]}" "$n")
        run[k]="$(field qps "$line")"
        q[k]="${q[$k]} ${run[$k]}"
        local b; b="$(field response_bytes "$line")"
        [ "$b" = "$(field max_response_bytes "$line")" ] || {
          echo "${names[$k]}: answers of different sizes: $line" >&2; exit 1; }
        bytes[k]="$b"
      done
      pair+=("$(awk "BEGIN { print ${run[1]} / ${run[0]} }")")
    done
    record "${kind}_pair_ratio_$n" "$(calc "$(median "${pair[@]}")")"
    log "$kind verifier / reference, back-to-back pairs, $n in flight: ${pair[*]}"
    for k in 0 1; do
      local m
      # shellcheck disable=SC2086
      m=$(median ${q[$k]})
      record "${kind}_${names[$k]}_qps_$n" "$m"
      log "$kind ${names[$k]}, $n in flight:${q[$k]} -> median $m QPS"
      best[k]=$(awk "BEGIN { print ($m > ${best[$k]}) ? $m : ${best[$k]} }")
    done
  done
  for k in 0 1; do
    record "${kind}_${names[$k]}_max_qps" "${best[$k]}"
    record "${kind}_${names[$k]}_response_bytes" "${bytes[$k]}"
  done
  [ "${bytes[0]}" = "${bytes[1]}" ] || {
    echo "$kind: the reference answers ${bytes[0]} B, the verifier ${bytes[1]} B" >&2; exit 1; }
}

##### Data: run_bench.sh's, else a fresh one.
if [ -z "$data" ]; then
  data="$work/data"; values="$work/values.txt"
  new_dir "$data"
  log "loading $tokens tokens (bench_loader)"
  "$bin/bench/bench_loader" --data_dir="$data" --tokens="$tokens" \
    --check_tokens="$check_tokens" --list_tokens=100 --values_out="$values" >/dev/null
fi
cached=$(sqlite3 "$data/tokens.db" 'SELECT COUNT(*) FROM tokens' 2>/dev/null || echo "?")

##### Servers: TokenService (not pinned), the verifier and both references.
start service "$bin/services/token_service" --listen=127.0.0.1:0 --data-dir="$data"
service_addr=$ADDR
start verifier "${server_prefix[@]}" "$bin/verifier/token_verifier" --listen=127.0.0.1:0 \
  --failed-check-burst=0 --http-listen=127.0.0.1:0 --token-service="$service_addr" \
  --key-file="$data/verifier.key"
verifier_addr=$ADDR; verifier_http=$HTTP_ADDR
wait_ready "$verifier_http"
start echo "${server_prefix[@]}" "$bin/bench/echo_server" --listen=127.0.0.1:0
echo_addr=$ADDR
start beast "${server_prefix[@]}" "$bin/bench/http_reference_server" --listen=127.0.0.1:0
beast_addr=$ADDR

##### The two series.
series ext_authz echo "$echo_addr" verifier "$verifier_addr"
series authorize beast "$beast_addr" verifier "$verifier_http"

ext_ratio=$(calc "$(v ext_authz_verifier_max_qps) / $(v ext_authz_echo_max_qps)")
http_ratio=$(calc "$(v authorize_verifier_max_qps) / $(v authorize_beast_max_qps)")
table=$(cat <<EOF
| figure | target | measured | reference (same run) | ratio | verdict |
|---|---|---|---|---|---|
| Envoy ext_authz Check throughput, closed loop (best of $inflights in flight) | ≥ 0.9 × echo | verifier $(v ext_authz_verifier_max_qps) QPS | echo ext_authz $(v ext_authz_echo_max_qps) QPS (both answer $(v ext_authz_echo_response_bytes) B) | $ext_ratio | $(ok "$ext_ratio >= 0.9") |
| \`/v1/authorize\` forward-auth throughput, keep-alive (best of $inflights connections) | ≥ 0.9 × bare Beast | verifier $(v authorize_verifier_max_qps) QPS | bare Beast $(v authorize_beast_max_qps) QPS (both answer $(v authorize_beast_response_bytes) B) | $http_ratio | $(ok "$http_ratio >= 0.9") |
EOF
)
show_table "$table"

check_numbers
end_smoke "mesh bench smoke: ext_authz and /v1/authorize produced numbers and correct answers"

[ -n "$section" ] || section="$work/section.md"
commit=$(short_commit "$(dirname "$0")")
{
  cat <<EOF
<!-- mesh_bench begin: written by bench/mesh_bench.sh (make bench) -->
## Envoy ext_authz and forward-auth (issue 13)

Measured by \`bench/mesh_bench.sh\` (\`$command_line\`), $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit;
the verifier caches $cached tokens. Medians of $reps runs of ${duration} s each (after ${warmup} s
of warmup), reference and verifier alternating, same pinning as above; the ratio is of the best
medians. Every answer of every run was checked: all allowed, the same size as the reference's.

$table

Closed loop, median QPS by requests in flight (ext_authz: gRPC calls over 2 channels;
forward-auth: keep-alive connections, one request in flight each):

| in flight | echo ext_authz | verifier ext_authz | paired ratio | bare Beast \`/v1/authorize\` | verifier \`/v1/authorize\` | paired ratio |
|---|---|---|---|---|---|---|
$(for n in $inflights; do echo "| $n | $(v ext_authz_echo_qps_$n) | $(v ext_authz_verifier_qps_$n) | $(v ext_authz_pair_ratio_$n) | $(v authorize_beast_qps_$n) | $(v authorize_verifier_qps_$n) | $(v authorize_pair_ratio_$n) |"; done)

"paired ratio": the median, over the runs, of verifier / reference QPS of two back-to-back runs.
<!-- mesh_bench end -->
EOF
} >"$section"

if [ -n "$splice" ]; then
  # Replace the section between its markers, else insert it before the method.
  splice_section mesh_bench "$section" "$splice"
fi
