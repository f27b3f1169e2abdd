#!/usr/bin/env bash
# make fuzz: builds the libFuzzer harnesses with clang (-fsanitize=fuzzer,address,undefined) in a
# separate Bazel output base, so the gcc build everyone else uses is untouched, then runs each for
# FUZZ_SECONDS (default 60) starting from a copy of its seed corpus in fuzz/corpus/<name>/.
# New interesting inputs stay in the scratch copy; a crash leaves its input under $FUZZ_OUT and
# fails the run. Prints one `fuzz summary:` line.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
out=${FUZZ_OUT:-$(mktemp -d /tmp/fuzz.XXXXXX)}
base=${FUZZ_OUTPUT_BASE:-$HOME/.cache/bazel-fuzz}
targets=(token_value authorizer token_cache http_request ext_authz token_scanner)

bazel --output_base="$base" build --config=fuzz "${targets[@]/#/\/\/fuzz:}" || exit 1
bin=$(bazel --output_base="$base" info --config=fuzz bazel-bin 2>/dev/null)

total=0
crashes=0
for t in "${targets[@]}"; do
  work="$out/$t"
  mkdir -p "$work/corpus" "$work/artifacts"
  cp fuzz/corpus/"$t"/* "$work/corpus/"
  "$bin/fuzz/$t" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/log" 2>&1
  status=$?
  runs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$work/log" | grep -oE '[0-9]+$')
  runs=${runs:-0}
  total=$((total + runs))
  if [ $status -ne 0 ]; then
    crashes=$((crashes + 1))
    echo "fuzz: $t FAILED (exit $status); log and input in $work" >&2
    grep -E 'ERROR|SUMMARY' "$work/log" | head -5 >&2
  fi
  echo "fuzz: $t inputs=$runs corpus=$(ls "$work/corpus" | wc -l) exit=$status"
done
echo "fuzz summary: targets=${#targets[@]} seconds_each=$seconds inputs tried=$total crashes=$crashes"
[ $crashes -eq 0 ]
