#!/usr/bin/env bash
# make reliability: the full reliability and security suites. Runs the crash-consistency driver
# with RELIABILITY_TRIALS kills (default 25), the fault and hostile-input suites, the fuzz
# corpus replays, then every fuzz target for FUZZ_SECONDS (default 60). Prints each suite's
# summary line and a closing `reliability total:` line; exits non-zero on any failure or loss.
set -uo pipefail
cd "$(dirname "$0")/../.."
trials=${RELIABILITY_TRIALS:-25}
status=0
log=$(mktemp)
bazel test --test_output=all --nocache_test_results --test_env=RELIABILITY_TRIALS="$trials" \
  //tests/reliability/... //fuzz/... >"$log" 2>&1 || status=1
grep -oE '(reliability|hostile input) summary:.*|fuzz corpus replay:.*|^//.*' "$log"
if [ $status -ne 0 ]; then grep -E 'Failure|FAILED' "$log" | head -20; fi
sum() { grep -oE "$1=[0-9]+" "$log" | grep -oE '[0-9]+$' | awk '{ s += $1 } END { print s + 0 }'; }
lost=$(sum lost)
resurrected=$(sum resurrected)
kills=$(sum kills)
hostile=$(sum 'cases tried')
rm -f "$log"
fuzz_line=$(fuzz/run.sh | tee /dev/stderr | grep '^fuzz summary:') || status=1
fuzz_inputs=$(grep -oE 'inputs tried=[0-9]+' <<<"$fuzz_line" | grep -oE '[0-9]+$')
echo "reliability total: kills=${kills:-0} faults injected=$(( ${kills:-0} + 4 )) hostile cases=${hostile:-0} fuzz inputs=${fuzz_inputs:-0} lost=${lost:-0} resurrected=${resurrected:-0} status=$([ $status -eq 0 ] && echo ok || echo FAILED)"
[ $status -eq 0 ] && [ "${lost:-0}" -eq 0 ] && [ "${resurrected:-0}" -eq 0 ]
