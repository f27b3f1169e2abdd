# Helpers shared by the benchmark scripts (run_bench.sh, mesh_bench.sh,
# replicas_bench.sh). Not run on its own: each script sources it from its own
# directory, which under Bazel is the runfiles tree (lib.sh is in the data of
# //bench:run_bench and //bench:bench_smoke_test):
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Sourcing it installs the EXIT trap (cleanup, which a script may redefine)
# and defines the variables the helpers share with the scripts: smoke, bin,
# command_line (parse_args), work and results (new_work), ncpu, server_prefix,
# on_client, pinning, server_cpus, client_cpus (pin_cpus), pids, and ADDR,
# HTTP_ADDR and PID (start).
# shellcheck shell=bash
# The variables set here are read by the scripts that source this file.
# shellcheck disable=SC2034

# parse_args "NAME..." ARGS...: the command line of a benchmark script.
# --smoke sets smoke=1, --bin DIR sets bin (else ""), and --NAME VALUE sets the
# variable NAME for each NAME given (the script gives it its default first);
# anything else is an error (exit 2). Sets command_line to the script and ARGS.
# portable_path ARG: ARG as docs/benchmarks.md records it, with no path of this
# machine's build in it: Bazel's output directory is `bazel-bin`, a path inside
# the repository is relative to it.
portable_path() {
  local repo
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  case "$1" in
    */bazel-out/*/bin) printf '%s' bazel-bin ;;
    "$repo"/*) printf '%s' "${1#"$repo"/}" ;;
    *) printf '%s' "$1" ;;
  esac
}

parse_args() {
  local names=" bin $1 " name arg
  shift
  command_line=$(portable_path "$0")
  for arg in "$@"; do command_line+=" $(portable_path "$arg")"; done
  smoke=0
  bin=""
  while [ $# -gt 0 ]; do
    name="${1#--}"
    if [ "$1" = --smoke ]; then
      smoke=1
    elif [ "$name" != "$1" ] && [[ "$name" =~ ^[a-z_]+$ ]] && [[ "$names" == *" $name "* ]]; then
      printf -v "$name" '%s' "$2"
      shift
    else
      echo "unknown argument $1" >&2; exit 2
    fi
    shift
  done
}

# need_binaries PATH...: sets bin, unless --bin gave it, to where the binaries
# are (the runfiles under `bazel test`, else the workspace's bazel-bin); exits
# 2 when one of the PATHs is not an executable there.
need_binaries() {
  if [ -z "$bin" ]; then
    if [ -n "${TEST_SRCDIR:-}" ]; then
      bin="$TEST_SRCDIR/${TEST_WORKSPACE:-deployment_api_tokens}"
    else
      bin="$(cd "$(dirname "$0")/.." && pwd)/bazel-bin"
    fi
  fi
  local b
  for b in "$@"; do
    [ -x "$bin/$b" ] || { echo "missing binary $bin/$b (build //bench:all first)" >&2; exit 2; }
  done
}

# new_work: an empty directory $work (which the script set) with an empty
# $results (record's file).
# shellcheck disable=SC2154
new_work() {
  rm -rf "$work"
  mkdir -p "$work"
  results="$work/results.txt"
  : >"$results"
}

# new_dir DIR...: makes each DIR, mode 700 (what token_service wants).
new_dir() { mkdir -p "$@"; chmod 700 "$@"; }

# pin_cpus: servers (prefix their command with "${server_prefix[@]}") and load
# generators (run them with on_client) on separate halves of the CPUs when
# there are at least two and taskset is there; pinning says which.
pin_cpus() {
  ncpu=$(nproc)
  if [ "$ncpu" -ge 2 ] && command -v taskset >/dev/null; then
    server_cpus="0-$((ncpu / 2 - 1))"
    client_cpus="$((ncpu / 2))-$((ncpu - 1))"
    server_prefix=(taskset -c "$server_cpus")
    on_client() { taskset -c "$client_cpus" "$@"; }
    pinning="servers on CPUs $server_cpus, load generator on CPUs $client_cpus (taskset)"
  else
    server_prefix=()
    on_client() { "$@"; }
    pinning="not pinned (fewer than 2 CPUs or no taskset)"
  fi
}

# The servers start started and stop has not stopped.
pids=()

# kill_servers SIGNAL: sends SIGNAL (-TERM, -KILL) to every server in pids and
# reaps them.
kill_servers() {
  local p
  for p in "${pids[@]:-}"; do
    [ -n "$p" ] && kill "$@" "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}

# cleanup: on exit; a script with more to clean up defines its own.
cleanup() { kill_servers -TERM; }
trap cleanup EXIT

log() { echo "== $*" >&2; }

# start NAME CMD...: starts a server, waits for its `listening on` line(s)
# (two for a NAME starting with verifier: gRPC and HTTP); sets ADDR (the first,
# gRPC), HTTP_ADDR (if printed) and PID. Its output is $work/NAME.out and .log.
start() {
  local name="$1"; shift
  local outf="$work/$name.out"
  : >"$outf"
  "$@" >"$outf" 2>"$work/$name.log" &
  PID=$!
  pids+=("$PID")
  local want=1
  case "$name" in verifier*) want=2 ;; esac
  for _ in $(seq 1 3000); do
    if [ "$(grep -c 'listening on' "$outf" || true)" -ge "$want" ]; then break; fi
    if ! kill -0 "$PID" 2>/dev/null; then
      echo "$name exited early:" >&2; tail -5 "$work/$name.log" >&2; exit 1
    fi
    sleep 0.01
  done
  ADDR=$(grep -m1 '^listening on ' "$outf" | awk '{print $3}')
  HTTP_ADDR=$(grep -m1 '^http listening on ' "$outf" | awk '{print $4}' || true)
  [ -n "$ADDR" ] || { echo "$name did not listen" >&2; exit 1; }
}

# stop PID: kill -9 and reap (benchmark processes hold nothing worth a graceful
# shutdown); cleanup forgets it (its number may be reused).
stop() {
  kill -KILL "$1" 2>/dev/null || true
  { wait "$1"; } 2>/dev/null || true
  local rest=() p
  for p in "${pids[@]}"; do [ "$p" = "$1" ] || rest+=("$p"); done
  pids=("${rest[@]}")
}

# wait_ready HTTP_ADDR: polls the verifier's /readyz until 200.
wait_ready() {
  for _ in $(seq 1 6000); do
    if curl -fs "http://$1/readyz" >/dev/null 2>&1; then return 0; fi
    sleep 0.01
  done
  echo "verifier never became ready" >&2; exit 1
}

# field KEY LINE: the value of KEY=... in a RESULT (or STORM) line.
field() { echo "$2" | grep -o " $1=[^ ]*" | head -1 | cut -d= -f2; }

# median of the arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# calc EXPR: EXPR (awk) to 3 significant digits.
calc() { awk "BEGIN { printf \"%.3g\", $* }"; }

# record NAME VALUE: into $results; v NAME: the value recorded for NAME.
record() { echo "$1 $2" >>"$results"; }
v() { awk -v k="$1" '$1 == k {print $2}' "$results"; }

# ok CONDITION (awk): the verdict column.
ok() { if awk "BEGIN { exit !($1) }"; then echo "met"; else echo "**missed**"; fi; }

# show_table TABLE: prints TABLE on stdout between empty lines.
show_table() { echo; echo "$1"; echo; }

# end_smoke MESSAGE: with --smoke, prints MESSAGE and exits 0 (else nothing).
end_smoke() {
  [ "$smoke" = 1 ] || return 0
  echo "$1"
  exit 0
}

# check_numbers: exits 1 unless every value recorded is a number.
check_numbers() {
  local k val
  while read -r k val; do
    [[ "$val" =~ ^[0-9.e+-]+$ ]] || { echo "no number for $k: '$val'" >&2; exit 1; }
  done <"$results"
}

# short_commit DIR: the commit checked out there, else "unknown".
short_commit() { git -C "$1" rev-parse --short HEAD 2>/dev/null || echo unknown; }

# splice_section MARKER SECTION DOC: replaces, in DOC, the lines from
# `<!-- MARKER begin` to `<!-- MARKER end` with the file SECTION, or without
# them inserts SECTION before "## How each figure is measured".
splice_section() {
  awk -v sec="$2" -v begin="^<!-- $1 begin" -v end="^<!-- $1 end" '
    function emit() { while ((getline l < sec) > 0) print l; close(sec); done = 1 }
    $0 ~ begin { emit(); skip = 1; next }
    skip && $0 ~ end { skip = 0; next }
    skip { next }
    /^## How each figure is measured/ && !done { emit(); print "" }
    { print }
  ' "$3" >"$3.tmp" && mv "$3.tmp" "$3"
  echo "spliced the section into $3"
}
